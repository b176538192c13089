"""Reader and writer ends of a Millrace ring (see bridges/shm/RING.md; section numbers below).

The file is mapped here with `mmap`; framing, memory ordering and waiting are done by the C ring
core shared with the Node addon (loaded by `_native`). Waits release the GIL, are spin-then-futex
(an idle reader costs ~0 CPU) and check the peer's liveness every 50 ms, so a dead peer raises
`PeerDiedError` instead of hanging.
"""

import array
import ctypes
import mmap
import os
import time

from . import _native
from ._native import lib, pylib
from .errors import (
    ChannelClosedError,
    PeerDiedError,
    RecordTooLargeError,
    RingError,
    RingFormatError,
    RingTimeoutError,
)

HEADER_SIZE = 4096  # RING.md section 2
_CODEC_OFFSET, _CODEC_SIZE = 48, 16
_CAPACITY_OFFSET = 16
_BATCH_BYTES = 8 * 1024 * 1024


def _millis(seconds):
    return -1 if seconds is None else int(seconds * 1000)


def create_ring(path, capacity_bytes, codec="raw"):
    """Creates a ring file at `path` (mode 0600; RING.md section 1). Node's createRing() is the usual
    creator (it also owns the job directory); this exists for Python-only use and tests."""
    status = lib.mrp_create(os.fsencode(path), capacity_bytes, codec.encode("ascii"), os.getpid())
    if status <= -1000:
        raise OSError(-status - 1000, f"cannot create ring file {path}: {os.strerror(-status - 1000)}")
    if status != _native.MR_OK:
        raise ValueError(f"capacity_bytes must be a power of two of at least 4096 (got {capacity_bytes})")
    return path


class _RingEnd:
    _is_writer = 0

    def __init__(self, path, codec=None, attach_timeout=60.0, timeout=None):
        self.path = os.fspath(path)
        self._attach_timeout_ms = _millis(attach_timeout)
        self._timeout = timeout
        self._closed = False
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CLOEXEC)
        except FileNotFoundError:
            raise FileNotFoundError(f"ring file {self.path} does not exist (create it with createRing())") from None
        try:
            size = os.fstat(fd).st_size
            if size < HEADER_SIZE:
                raise RingFormatError(f"{self.path} is {size} bytes, too small to be a Millrace ring")
            # MAP_POPULATE faults the pages in now rather than one by one on the hot path.
            flags = mmap.MAP_SHARED | getattr(mmap, "MAP_POPULATE", 0)
            self._map = mmap.mmap(fd, size, flags, mmap.PROT_READ | mmap.PROT_WRITE)
        finally:
            os.close(fd)
        self._anchor = ctypes.c_char.from_buffer(self._map)
        self._base = ctypes.addressof(self._anchor)
        why = ctypes.create_string_buffer(256)
        if lib.mrp_validate(self._base, size, why, len(why)) != _native.MR_OK:
            self._unmap()
            raise RingFormatError(f"not a valid Millrace ring ({self.path}): {why.value.decode()}")
        self.capacity_bytes = int.from_bytes(self._map[_CAPACITY_OFFSET:_CAPACITY_OFFSET + 8], "little")
        self.max_record_bytes = self.capacity_bytes - 8
        self.codec = self._map[_CODEC_OFFSET:_CODEC_OFFSET + _CODEC_SIZE].rstrip(b"\0").decode("ascii")
        expected = getattr(codec, "name", codec)
        if expected is not None and expected != self.codec:
            self._unmap()
            raise ValueError(f'this end speaks codec "{expected}" but ring {self.path} was created for "{self.codec}"')
        if lib.mrp_attach(self._base, self._is_writer, os.getpid()) != _native.MR_OK:
            self._unmap()
            side = "writer" if self._is_writer else "reader"
            raise RingError(f"the {side} end of {self.path} is already taken (a ring has one writer and one reader)")

    def _unmap(self):
        self._anchor = None
        try:
            self._map.close()
        except BufferError:
            # A zero-copy view is still alive; the mapping goes when the last view does.
            pass

    def _raise_for(self, status, waiting_for):
        peer = "reader" if self._is_writer else "writer"
        if status == _native.MR_PEER_DIED:
            pid = lib.mrp_peer_pid(self._base, self._is_writer)
            try:
                os.unlink(self.path)  # RING.md section 6: the dead peer will never detach
            except FileNotFoundError:
                pass
            raise PeerDiedError(f"the {peer} process (pid {pid}) of ring {self.path} died; the ring file was removed", pid)
        if status == _native.MR_PEER_CLOSED:
            if self._is_writer:
                raise ChannelClosedError(f"the reader closed ring {self.path}; no more records can be written", "peer")
            raise ChannelClosedError(f"the writer closed ring {self.path} without ending the stream", "peer")
        if status == _native.MR_TIMEOUT:
            attached = lib.mrp_peer_pid(self._base, self._is_writer) != 0
            detail = "" if attached else f": no {peer} attached"
            raise RingTimeoutError(f"timed out waiting for {waiting_for} in ring {self.path}{detail}")
        if status == _native.MR_CORRUPT:
            raise RingFormatError(f"ring {self.path} holds a corrupt frame (see RING.md section 3)")
        raise RingError(f"ring {self.path}: unexpected status {status}")

    def _check_open(self):
        if self._closed:
            raise ChannelClosedError(f"ring {self.path} is closed", "local")

    def _close_native(self, reader_struct):
        if self._closed:
            return
        self._closed = True
        if lib.mrp_close(self._base, self._is_writer, reader_struct):
            try:
                os.unlink(self.path)
            except FileNotFoundError:
                pass
        self._unmap()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class RingWriter(_RingEnd):
    """The producing end. `write`/`write_batch` block (GIL released) while the ring is full."""

    _is_writer = 1

    def __init__(self, path, codec=None, attach_timeout=60.0, timeout=None):
        super().__init__(path, codec, attach_timeout, timeout)
        self._writer = _native.Writer()
        lib.mrp_writer_init(ctypes.byref(self._writer), self._base)
        self._ended = False

    @classmethod
    def open(cls, path, **options):
        return cls(path, **options)

    def write(self, record):
        self.write_batch((record,))

    def write_batch(self, records):
        """Writes records (bytes-like) in order, many per native call."""
        self._check_open()
        if self._ended:
            raise ChannelClosedError(f"ring {self.path} has already ended", "local")
        records = [record if isinstance(record, bytes) else bytes(record) for record in records]
        if not records:
            return
        for record in records:
            if len(record) > self.max_record_bytes:
                raise RecordTooLargeError(len(record), self.max_record_bytes, self.path)
        packed = records[0] if len(records) == 1 else b"".join(records)
        lengths = array.array("I", map(len, records))
        data_address = ctypes.cast(ctypes.c_char_p(packed), ctypes.c_void_p).value
        lengths_address, _ = lengths.buffer_info()
        written = ctypes.c_uint32(0)
        start, offset, count = 0, 0, len(records)
        while start < count:
            status = lib.mrp_write_packed(
                ctypes.byref(self._writer),
                data_address + offset,
                lengths_address + 4 * start,
                count - start,
                ctypes.byref(written),
            )
            for index in range(start, start + written.value):
                offset += lengths[index]
            start += written.value
            if status == _native.MR_FULL:
                self._wait_writable()
            elif status != _native.MR_OK:
                self._raise_for(status, "space")

    def end(self):
        """Writes the explicit end-of-stream marker (RING.md section 3)."""
        self._check_open()
        if self._ended:
            return
        while True:
            status = lib.mrp_write_end(ctypes.byref(self._writer))
            if status == _native.MR_OK:
                self._ended = True
                return
            if status != _native.MR_FULL:
                self._raise_for(status, "space")
            self._wait_writable()

    def _wait_writable(self):
        status = lib.mrp_wait_writable(ctypes.byref(self._writer), _millis(self._timeout), self._attach_timeout_ms)
        if status != _native.MR_OK:
            self._raise_for(status, "space")

    def close(self):
        """Detaches; without `end()` first, the reader gets ChannelClosedError rather than end-of-stream."""
        self._close_native(None)


class RingReader(_RingEnd):
    """The consuming end. Iterating yields records (bytes) until end-of-stream."""

    _is_writer = 0

    def __init__(self, path, codec=None, attach_timeout=60.0, timeout=None):
        super().__init__(path, codec, attach_timeout, timeout)
        self._reader = _native.Reader()
        lib.mrp_reader_init(ctypes.byref(self._reader), self._base)
        self._ended = False
        self._view = memoryview(self._map)

    @classmethod
    def open(cls, path, **options):
        return cls(path, **options)

    def read_batch(self, max_records=1024, max_bytes=_BATCH_BYTES):
        """Up to `max_records` records as a list of bytes (waiting for at least one); None at end-of-stream."""
        self._check_open()
        status = ctypes.c_int(0)
        while True:
            if self._ended:
                return None
            records = pylib.mrp_read_batch(ctypes.byref(self._reader), max_records, max_bytes, ctypes.byref(status))
            if status.value == _native.MR_OK:
                return records
            if status.value == _native.MR_END:
                self._ended = True
                return None
            if status.value != _native.MR_EMPTY:
                self._raise_for(status.value, "data")
            self._wait_readable()

    def read(self):
        """The next record as bytes, or None at end-of-stream."""
        batch = self.read_batch(1)
        return None if batch is None else batch[0]

    def read_view(self):
        """The next record as a memoryview into the ring, without copying (RING.md section 7).

        The view is valid until the next read call or close(); copy it (bytes(view)) to keep it.
        Returns None at end-of-stream."""
        self._check_open()
        offset, length = ctypes.c_uint64(0), ctypes.c_uint64(0)
        while True:
            if self._ended:
                return None
            status = lib.mrp_read_view(ctypes.byref(self._reader), ctypes.byref(offset), ctypes.byref(length))
            if status == _native.MR_OK:
                return self._view[offset.value : offset.value + length.value]
            if status == _native.MR_END:
                self._ended = True
                return None
            if status != _native.MR_EMPTY:
                self._raise_for(status, "data")
            self._wait_readable()

    def read_tensor_frame(self):
        """The next tensor frame as {name: numpy array} viewing the ring memory (valid until the next
        read), or None at end-of-stream."""
        from .codecs import decode_tensor_frame

        view = self.read_view()
        return None if view is None else decode_tensor_frame(view)

    def __iter__(self):
        while True:
            batch = self.read_batch()
            if batch is None:
                return
            yield from batch

    def _wait_readable(self):
        status = lib.mrp_wait_readable(ctypes.byref(self._reader), _millis(self._timeout), self._attach_timeout_ms)
        if status != _native.MR_OK:
            self._raise_for(status, "data")

    def close(self):
        """Detaches; a writer waiting for space (or writing later) gets ChannelClosedError."""
        if not self._closed:
            try:
                self._view.release()
            except BufferError:
                pass  # a zero-copy view is still alive; the mapping goes when it does
        self._close_native(ctypes.byref(self._reader))


def wait_for_file(path, timeout=10.0):
    """Waits until `path` exists (a ring created by another process), up to `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        if time.monotonic() > deadline:
            raise RingTimeoutError(f"ring file {path} did not appear within {timeout} s")
        time.sleep(0.01)
    return path
