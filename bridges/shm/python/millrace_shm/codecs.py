"""Codecs matching the Node side (src/codecs/*): raw, json, msgpack (plain) and tensor frames
(RING.md section 8). A record the codec cannot read raises CodecError naming the codec."""

import json
import struct

from .errors import CodecError

try:
    import msgpack as _msgpack
except ImportError:
    _msgpack = None


class RawCodec:
    name = "raw"

    def encode(self, value):
        if not isinstance(value, (bytes, bytearray, memoryview)):
            raise CodecError("raw", f"expected bytes, got {type(value).__name__}")
        return bytes(value)

    def decode(self, data):
        return data


class JsonCodec:
    name = "json"

    def encode(self, value):
        return json.dumps(value, separators=(",", ":")).encode("utf-8")

    def decode(self, data):
        try:
            return json.loads(bytes(data).decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as error:
            raise CodecError("json", f"record of {len(data)} bytes is not JSON: {error}") from error


class MsgpackCodec:
    """Plain MessagePack (Node side: msgpackr without records/structures/extension types)."""

    name = "msgpack"

    def __init__(self):
        if _msgpack is None:
            raise CodecError("msgpack", "the msgpack module is missing; install Debian's python3-msgpack")

    def encode(self, value):
        return _msgpack.packb(value, use_bin_type=True)

    def decode(self, data):
        try:
            return _msgpack.unpackb(data, raw=False, strict_map_key=False)
        except Exception as error:  # msgpack raises several unrelated types for bad input
            raise CodecError("msgpack", f"record of {len(data)} bytes is not one MessagePack value: {error}") from error


_MAGIC = b"MTF1"
_DTYPES = {1: "float32", 2: "float64", 3: "int32", 4: "int64", 5: "uint8", 6: "int8", 7: "int16", 8: "uint16", 9: "uint32"}
_CODES = {name: code for code, name in _DTYPES.items()}
_MAX_RANK = 8


def _align8(n):
    return (n + 7) & ~7


_numpy = None


def _require_numpy():
    # Imported on the first tensor frame, not with the module: numpy takes about 180 ms to import
    # here, which every runner start paid even when its codec was json or msgpack.
    global _numpy
    if _numpy is None:
        try:
            import numpy
        except ImportError:  # the pyenv python3 has no numpy
            raise CodecError(
                "tensor", "tensor frames need numpy; run with /usr/bin/python3 or install python3-numpy"
            ) from None
        _numpy = numpy
    return _numpy


def encode_tensor_frame(tensors):
    """{name: numpy array} -> bytes (RING.md section 8). Data are written little-endian, C order."""
    numpy = _require_numpy()
    parts = [_MAGIC, struct.pack("<I", len(tensors))]
    size = 8
    for name, array in tensors.items():
        array = numpy.ascontiguousarray(array)
        dtype = array.dtype.newbyteorder("<") if array.dtype.byteorder == ">" else array.dtype
        code = _CODES.get(dtype.name)
        if code is None:
            raise CodecError("tensor", f'tensor "{name}": dtype {array.dtype} is not one of {", ".join(_CODES)}')
        if array.ndim > _MAX_RANK:
            raise CodecError("tensor", f'tensor "{name}": rank {array.ndim} exceeds {_MAX_RANK}')
        name_bytes = name.encode("utf-8")
        header = struct.pack("<BBHI", code, array.ndim, len(name_bytes), 0) + struct.pack(f"<{array.ndim}Q", *array.shape)
        header += name_bytes
        padded = _align8(size + len(header)) - size
        data = array.astype(dtype.newbyteorder("<"), copy=False).tobytes()
        parts += [header, b"\0" * (padded - len(header)), struct.pack("<Q", len(data)), data, b"\0" * (_align8(len(data)) - len(data))]
        size += padded + 8 + _align8(len(data))
    return b"".join(parts)


def decode_tensor_frame(data):
    """bytes-like -> {name: numpy array}. Arrays view `data` without copying (numpy.frombuffer)."""
    numpy = _require_numpy()
    view = memoryview(data).cast("B")
    total = len(view)

    def need(offset, length, what):
        if offset + length > total:
            raise CodecError("tensor", f"frame of {total} bytes is truncated in {what}")

    need(0, 8, "the frame header")
    if bytes(view[0:4]) != _MAGIC:
        raise CodecError("tensor", f"record of {total} bytes does not start with the tensor-frame magic MTF1 (wrong codec, or corrupt)")
    (count,) = struct.unpack_from("<I", view, 4)
    frame = {}
    offset = 8
    for index in range(count):
        need(offset, 8, f"the header of tensor #{index}")
        code, rank, name_length, _ = struct.unpack_from("<BBHI", view, offset)
        dtype = _DTYPES.get(code)
        if dtype is None:
            raise CodecError("tensor", f"tensor #{index}: unknown dtype code {code}")
        if rank > _MAX_RANK:
            raise CodecError("tensor", f"tensor #{index}: rank {rank} exceeds {_MAX_RANK}")
        offset += 8
        need(offset, 8 * rank + name_length, f"the shape and name of tensor #{index}")
        shape = struct.unpack_from(f"<{rank}Q", view, offset)
        offset += 8 * rank
        try:
            name = bytes(view[offset : offset + name_length]).decode("utf-8")
        except UnicodeDecodeError:
            raise CodecError("tensor", f"tensor #{index}: name is not valid UTF-8") from None
        offset = _align8(offset + name_length)
        need(offset, 8, f'the data length of tensor "{name}"')
        (byte_length,) = struct.unpack_from("<Q", view, offset)
        offset += 8
        item = numpy.dtype(dtype).newbyteorder("<")
        elements = 1
        for dimension in shape:
            elements *= dimension
        if byte_length != elements * item.itemsize:
            raise CodecError(
                "tensor",
                f'tensor "{name}": {dtype} shape {list(shape)} needs {elements * item.itemsize} bytes, the frame says {byte_length}',
            )
        need(offset, byte_length, f'the data of tensor "{name}"')
        frame[name] = numpy.frombuffer(view, dtype=item, count=elements, offset=offset).reshape(shape)
        offset += _align8(byte_length)
    if offset != total:
        raise CodecError("tensor", f"frame declares {offset} bytes but the record has {total}")
    return frame


class TensorFrameCodec:
    name = "tensor"

    def encode(self, tensors):
        return encode_tensor_frame(tensors)

    def decode(self, data):
        return decode_tensor_frame(data)


def codec_by_name(name):
    """The built-in codec with this name: raw, json, msgpack or tensor."""
    codecs = {"raw": RawCodec, "json": JsonCodec, "msgpack": MsgpackCodec, "tensor": TensorFrameCodec}
    if name not in codecs:
        raise ValueError(f'unknown codec "{name}" (use one of {", ".join(codecs)})')
    return codecs[name]()
