"""Errors raised by the Python side of the ring. Their names match the Node side's error classes."""


class RingError(Exception):
    """Base class; `code` is the same string code the Node side uses (e.g. ``PEER_DIED``)."""

    code = "RING"


class PeerDiedError(RingError):
    code = "PEER_DIED"

    def __init__(self, message, pid=None):
        super().__init__(message)
        self.pid = pid


class ChannelClosedError(RingError):
    code = "CHANNEL_CLOSED"

    def __init__(self, message, by):
        super().__init__(message)
        self.by = by  # "local" or "peer"


class RingTimeoutError(RingError, TimeoutError):
    code = "TIMEOUT"


class RingFormatError(RingError):
    """The file is not a ring this module can speak (RING.md section 1), or a frame is corrupt (section 3)."""

    code = "PROTOCOL"


class RecordTooLargeError(RingError, ValueError):
    code = "PROTOCOL"

    def __init__(self, record_bytes, max_record_bytes, path):
        super().__init__(
            f"A record of {record_bytes} bytes does not fit ring {path}, whose largest record is "
            f"{max_record_bytes} bytes (capacity - 8). Create the ring with a larger capacity."
        )
        self.record_bytes = record_bytes
        self.max_record_bytes = max_record_bytes


class CodecError(RingError, ValueError):
    code = "CODEC"

    def __init__(self, codec, message):
        super().__init__(f"{codec} codec: {message}")
        self.codec = codec


class NativeLibraryMissingError(RingError, ImportError):
    code = "DEPENDENCY_MISSING"
