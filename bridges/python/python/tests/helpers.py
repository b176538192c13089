"""Small in-memory transports for testing the streams without shared memory."""

from typing import Any, List, Optional, Sequence


class ListSource:
    """A RecordSource over a list of encoded records, handing out at most ``chunk`` per read."""

    def __init__(self, records: Sequence[bytes], chunk: int = 3) -> None:
        self._records = list(records)
        self._chunk = chunk
        self.reads = 0

    def read_batch(self, max_records: int, timeout: float) -> Optional[List[Any]]:
        self.reads += 1
        if not self._records:
            return None
        count = min(max_records, self._chunk)
        batch, self._records = self._records[:count], self._records[count:]
        return batch


class ListSink:
    """A RecordSink that remembers what was written and whether it ended."""

    def __init__(self) -> None:
        self.records: List[bytes] = []
        self.writes = 0
        self.ended = False

    def write_batch(self, records: Sequence[bytes]) -> None:
        self.writes += 1
        self.records.extend(records)

    def end(self) -> None:
        self.ended = True
