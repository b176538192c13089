"""The runner's transports over pipes (``pythonRunner({ transport: 'pipes' })``): records arrive on
one inherited file descriptor and leave on another, each as a frame, a little-endian uint32 byte
count and then the record's bytes (the format of ``@millrace/runner-kit``'s ``frames.ts``). The
writer closing its end is end-of-stream; whether that end was clean the Node host tells from this
process's exit status.
"""

from __future__ import annotations

import os
import select
import struct
from typing import List, Optional, Sequence

_HEADER = struct.Struct("<I")
_READ_BYTES = 1 << 20


class PipeSource:
    """A :class:`~millrace.RecordSource` reading frames from a file descriptor."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        os.set_inheritable(fd, False)  # not into programs this runner starts (a fork still gets it)
        self._buffer = bytearray()
        self._position = 0  # start of the first unread frame in _buffer
        self._ended = False
        self._closed = False

    def read_batch(self, max_records: int, timeout: Optional[float]) -> Optional[List[bytes]]:
        while True:
            records = self._complete_frames(max_records)
            if records:
                return records
            if self._ended:
                if len(self._buffer) > self._position:
                    raise EOFError(
                        f"the record pipe (fd {self._fd}) ended inside a frame: "
                        f"{len(self._buffer) - self._position} bytes of an unfinished record"
                    )
                return None
            if timeout is not None and not select.select([self._fd], [], [], timeout)[0]:
                return []
            self._fill()

    def _complete_frames(self, max_records: int) -> List[bytes]:
        buffer, position, end = self._buffer, self._position, len(self._buffer)
        records: List[bytes] = []
        with memoryview(buffer) as view:  # released before the buffer is resized below
            while len(records) < max_records and end - position >= 4:
                (length,) = _HEADER.unpack_from(view, position)
                if end - position - 4 < length:
                    break
                records.append(bytes(view[position + 4 : position + 4 + length]))
                position += 4 + length
        if position == end:
            buffer.clear()
            position = 0
        elif position > _READ_BYTES:
            del buffer[:position]  # keep the unread tail only
            position = 0
        self._position = position
        return records

    def _fill(self) -> None:
        chunk = os.read(self._fd, _READ_BYTES)  # a signal handler may raise here (StopRequested)
        if not chunk:
            self._ended = True
        else:
            self._buffer += chunk

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            os.close(self._fd)


class PipeSink:
    """A :class:`~millrace.RecordSink` writing frames to a file descriptor (blocking: backpressure)."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        os.set_inheritable(fd, False)
        self._closed = False

    def write_batch(self, records: Sequence[bytes]) -> None:
        if self._closed:
            raise ValueError(f"the record pipe (fd {self._fd}) is closed")
        frames = bytearray()
        for record in records:
            frames += _HEADER.pack(len(record))
            frames += record
        view = memoryview(frames)
        while view:
            view = view[os.write(self._fd, view) :]

    def end(self) -> None:
        self.close()

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            os.close(self._fd)
