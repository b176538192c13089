"""The runner's transports over :mod:`millrace_shm` rings (created by the Node host).

Ring waits are bounded to short slices so the main thread gets back to the interpreter often:
that is when Python runs signal handlers (a stop request arrives as SIGTERM).
"""

from __future__ import annotations

from typing import Any, List, Optional, Sequence

_SLICE_SECONDS = 0.05


def _shm() -> Any:
    try:
        import millrace_shm  # type: ignore[import-not-found]
    except ImportError as error:
        raise ImportError(
            "millrace_shm (the ring's Python side, shipped by @millrace/bridge-shm) is not importable; "
            "the runner host normally puts it on PYTHONPATH: " + str(error)
        ) from error
    return millrace_shm


class RingSource:
    """A :class:`~millrace.RecordSource` reading a ring."""

    def __init__(self, path: str, codec: Optional[str] = None) -> None:
        shm = _shm()
        self._timeout_error = shm.RingTimeoutError
        # With a codec, the ring header's codec must be the same (a mismatch raises, naming both).
        self._reader = shm.RingReader.open(path, timeout=_SLICE_SECONDS, codec=codec)

    def read_batch(self, max_records: int, timeout: float) -> Optional[List[Any]]:
        try:
            return self._reader.read_batch(max_records)
        except self._timeout_error:
            return []

    def close(self) -> None:
        self._reader.close()


class RingSink:
    """A :class:`~millrace.RecordSink` writing a ring.

    No wait slices here: a timed-out batch write may have written a prefix, which could not be
    retried safely. The wait still ends if the reader (the agent) dies.
    """

    def __init__(self, path: str, codec: Optional[str] = None) -> None:
        self._writer = _shm().RingWriter.open(path, codec=codec)

    def write_batch(self, records: Sequence[bytes]) -> None:
        self._writer.write_batch(records)

    def end(self) -> None:
        self._writer.end()

    def close(self) -> None:
        self._writer.close()


def open_input_ring(path: str, codec: Optional[str] = None) -> RingSource:
    return RingSource(path, codec)


def open_output_ring(path: str, codec: Optional[str] = None) -> RingSink:
    return RingSink(path, codec)
