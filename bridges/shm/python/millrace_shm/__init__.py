"""The Python side of the Millrace shared-memory ring (layout: bridges/shm/RING.md).

    from millrace_shm import RingReader
    with RingReader.open(path) as reader:
        for record in reader:        # bytes, until the writer calls end()
            ...
"""

from .codecs import (
    JsonCodec,
    MsgpackCodec,
    RawCodec,
    TensorFrameCodec,
    codec_by_name,
    decode_tensor_frame,
    encode_tensor_frame,
)
from .errors import (
    ChannelClosedError,
    CodecError,
    NativeLibraryMissingError,
    PeerDiedError,
    RecordTooLargeError,
    RingError,
    RingFormatError,
    RingTimeoutError,
)
from .ring import RingReader, RingWriter, create_ring, wait_for_file

FORMAT_VERSION = 1

__all__ = [
    "FORMAT_VERSION",
    "ChannelClosedError",
    "CodecError",
    "JsonCodec",
    "MsgpackCodec",
    "NativeLibraryMissingError",
    "PeerDiedError",
    "RawCodec",
    "RecordTooLargeError",
    "RingError",
    "RingFormatError",
    "RingReader",
    "RingTimeoutError",
    "RingWriter",
    "TensorFrameCodec",
    "codec_by_name",
    "create_ring",
    "decode_tensor_frame",
    "encode_tensor_frame",
    "wait_for_file",
]
