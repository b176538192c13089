"""The runner's view of the pipeline: an input stream of decoded records, an output stream back.

Both wrap a transport (the shared-memory rings of :mod:`millrace_shm` in production; anything
with the same two or three methods in tests) and a codec. Reads come in batches: crossing the
transport once per record would cost more than the record itself.
"""

from __future__ import annotations

import time
from typing import Any, Callable, Iterator, List, Optional, Protocol, Sequence

#: How long one transport wait may block before we look at the clock and flags again.
_POLL_SECONDS = 0.05


class RecordSource(Protocol):
    """Where encoded records come from."""

    def read_batch(self, max_records: int, timeout: float) -> Optional[List[Any]]:
        """Up to ``max_records`` records (bytes-like), ``[]`` after ``timeout`` seconds, ``None`` at end."""
        ...


class RecordSink(Protocol):
    """Where encoded records go."""

    def write_batch(self, records: Sequence[bytes]) -> None:
        """Writes every record, waiting for room (backpressure)."""
        ...

    def end(self) -> None:
        """Signals end-of-stream to the reader."""
        ...


class InputStream:
    """Records from the pipeline, decoded with the role's codec. Iterating yields one record at a time.

    The stream ends when the pipeline signals end-of-stream. Use :meth:`read_batch` or
    :meth:`batches` where per-record overhead matters.
    """

    def __init__(self, source: RecordSource, decode: Callable[[Any], Any], codec_name: str) -> None:
        self._source = source
        self._decode = decode
        self.codec = codec_name
        self._ended = False
        #: The input position: the number of this node's records consumed, counting from the
        #: start of the stream (the context sets the resume position before the first read).
        self.position = 0
        #: Called before each read from the transport, which may wait (the context flushes its
        #: output stream there, so results never sit in a buffer while the runner waits for input).
        self.before_wait: Optional[Callable[[], None]] = None

    @property
    def ended(self) -> bool:
        """True once end-of-stream has been read."""
        return self._ended

    def read_raw_batch(self, max_records: int = 1024, timeout: Optional[float] = None) -> Optional[List[Any]]:
        """Like :meth:`read_batch` but without decoding: bytes-like records as the transport gave them."""
        records = self._read_raw(max_records, timeout)
        if records:
            self.position += len(records)
        return records

    def _read_raw(self, max_records: int, timeout: Optional[float]) -> Optional[List[Any]]:
        if max_records < 1:
            raise ValueError(f"max_records must be a positive integer, got {max_records!r}")
        if self._ended:
            return None
        if self.before_wait is not None:
            self.before_wait()
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            wait = _POLL_SECONDS if deadline is None else max(0.0, min(_POLL_SECONDS, deadline - time.monotonic()))
            records = self._source.read_batch(max_records, wait)
            if records is None:
                self._ended = True
                return None
            if records:
                return records
            if deadline is not None and time.monotonic() >= deadline:
                return []

    def read_batch(self, max_records: int = 1024, timeout: Optional[float] = None) -> Optional[List[Any]]:
        """Up to ``max_records`` decoded records, waiting for at least one.

        Returns ``None`` at end-of-stream, and ``[]`` if ``timeout`` seconds pass with nothing to read.
        """
        records = self.read_raw_batch(max_records, timeout)
        if records is None:
            return None
        decode = self._decode
        return [decode(record) for record in records]

    def batches(self, batch_size: int) -> Iterator[List[Any]]:
        """Decoded records in lists of exactly ``batch_size`` (the last one may be shorter)."""
        if batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        pending: List[Any] = []
        while True:
            batch = self.read_batch(batch_size - len(pending))
            if batch is None:
                break
            pending.extend(batch)
            if len(pending) == batch_size:
                yield pending
                pending = []
        if pending:
            yield pending

    def __iter__(self) -> Iterator[Any]:
        # Counted as each record is handed out, so `position` never runs ahead of the consumer.
        decode = self._decode
        while True:
            batch = self._read_raw(1024, None)
            if batch is None:
                return
            for record in batch:
                self.position += 1
                yield decode(record)

    def _release(self) -> None:
        close = getattr(self._source, "close", None)
        if close is not None:
            close()

    def numpy_batches(self, batch_size: int, dtype: Any = None) -> Iterator[Any]:
        """Batches as numpy arrays (``numpy.asarray`` over each batch). Needs numpy."""
        from .adapters import numpy_batches

        return numpy_batches(self, batch_size, dtype=dtype)

    def torch_dataset(self, batch_size: Optional[int] = None, dtype: Any = None) -> Any:
        """A ``torch.utils.data.IterableDataset`` over this stream. Needs torch."""
        from .adapters import torch_dataset

        return torch_dataset(self, batch_size=batch_size, dtype=dtype)


class OutputStream:
    """Records back to the pipeline, encoded with the role's output codec.

    Writes are buffered and reach the transport in batches: when ``flush_every`` records are
    pending, when the oldest pending record is ``flush_after`` seconds old, before the runner's
    input stream waits for data, and on :meth:`flush` and :meth:`close`. The runner host closes
    the stream when the entry function returns.
    """

    def __init__(
        self,
        sink: RecordSink,
        encode: Callable[[Any], bytes],
        codec_name: str,
        flush_every: int = 256,
        flush_after: float = 0.01,
    ) -> None:
        self._sink = sink
        self._encode = encode
        self.codec = codec_name
        self._flush_every = flush_every
        self._flush_after = flush_after
        self._pending: List[bytes] = []
        self._oldest = 0.0
        self._closed = False

    @property
    def closed(self) -> bool:
        return self._closed

    def write(self, record: Any) -> None:
        """Encodes and queues one record; may wait for room in the transport."""
        self._check_open()
        if not self._pending:
            self._oldest = time.monotonic()
        self._pending.append(self._encode(record))
        if len(self._pending) >= self._flush_every or time.monotonic() - self._oldest >= self._flush_after:
            self.flush()

    def write_batch(self, records: Sequence[Any]) -> None:
        """Encodes and writes many records at once."""
        self._check_open()
        encode = self._encode
        self._pending.extend(encode(record) for record in records)
        self.flush()

    def write_raw_batch(self, records: Sequence[bytes]) -> None:
        """Writes already-encoded records (bytes) as they are."""
        self._check_open()
        self._pending.extend(records)
        self.flush()

    def flush(self) -> None:
        """Writes every queued record to the transport."""
        if self._pending:
            pending, self._pending = self._pending, []
            self._sink.write_batch(pending)

    def close(self) -> None:
        """Flushes and signals end-of-stream. Idempotent."""
        if self._closed:
            return
        self.flush()
        self._closed = True
        self._sink.end()

    def _release(self) -> None:
        close = getattr(self._sink, "close", None)
        if close is not None:
            close()

    def _check_open(self) -> None:
        if self._closed:
            raise ValueError("the output stream is closed; no record can follow end-of-stream")
