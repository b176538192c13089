"""Record codecs, by the names the TypeScript side uses (``raw``, ``json``, ``msgpack``).

``raw`` passes bytes through, ``json`` is UTF-8 JSON, ``msgpack`` needs the ``msgpack`` module
(Debian: ``apt-get install python3-msgpack``) and is only imported when a runner asks for it.
Tensor frames (``{name: numpy array}``, arrays viewing the record without a copy) are decoded by
:mod:`millrace_shm`, which needs numpy.
"""

from __future__ import annotations

import json
from typing import Any, Callable, Dict, Tuple

Decoder = Callable[[Any], Any]
Encoder = Callable[[Any], bytes]


def _raw_decode(data: Any) -> bytes:
    return bytes(data)


def _raw_encode(value: Any) -> bytes:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    raise TypeError(f"the raw codec writes bytes, got {type(value).__name__}; choose the json or msgpack codec")


def _json_decode(data: Any) -> Any:
    return json.loads(bytes(data))


def _json_encode(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode("utf-8")


def _msgpack() -> Any:
    try:
        import msgpack  # type: ignore[import-not-found]
    except ImportError as error:  # pragma: no cover - depends on the machine
        raise ImportError(
            "the msgpack codec needs the Python 'msgpack' module: apt-get install python3-msgpack "
            "(Debian/Ubuntu) or python3 -m pip install msgpack"
        ) from error
    return msgpack


def _msgpack_codec() -> Tuple[Decoder, Encoder]:
    msgpack = _msgpack()

    def decode(data: Any) -> Any:
        return msgpack.unpackb(data, raw=False, strict_map_key=False)

    def encode(value: Any) -> bytes:
        return msgpack.packb(value, use_bin_type=True)

    return decode, encode


def _tensor_codec() -> Tuple[Decoder, Encoder]:
    try:
        from millrace_shm import decode_tensor_frame, encode_tensor_frame  # type: ignore[import-not-found]
    except ImportError as error:
        raise ImportError(
            "the tensor codec comes from millrace_shm (shipped by @millrace/bridge-shm); "
            "it was not importable: " + str(error)
        ) from error
    return decode_tensor_frame, encode_tensor_frame


_FACTORIES: Dict[str, Callable[[], Tuple[Decoder, Encoder]]] = {
    "raw": lambda: (_raw_decode, _raw_encode),
    "json": lambda: (_json_decode, _json_encode),
    "msgpack": _msgpack_codec,
    "tensor": _tensor_codec,
}

CODEC_NAMES = tuple(_FACTORIES)


def codec(name: str) -> Tuple[Decoder, Encoder]:
    """``(decode, encode)`` for a codec name; an unknown name raises ``ValueError`` listing the known ones."""
    factory = _FACTORIES.get(name)
    if factory is None:
        raise ValueError(f"unknown codec {name!r}; known codecs: {', '.join(CODEC_NAMES)}")
    return factory()
