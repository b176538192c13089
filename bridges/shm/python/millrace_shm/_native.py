"""Loads the ring's C library (src/native/ring-python.c, the same ring core as the Node addon).

Search order: $MILLRACE_SHM_LIBRARY; the package's build/Release (made by `npm run build`); a copy
compiled on the spot with the system C compiler into ~/.cache/millrace (the source ships with the
package). If none works, the error says how to build.
"""

import ctypes
import hashlib
import os
import shutil
import subprocess

from .errors import NativeLibraryMissingError

MR_OK = 0
MR_EMPTY = 1
MR_FULL = 2
MR_END = 3
MR_TOO_BIG = -1
MR_CORRUPT = -2
MR_PEER_DIED = -3
MR_PEER_CLOSED = -4
MR_TIMEOUT = -5
MR_CLOSED = -6
MR_BAD_HEADER = -7

_PACKAGE_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
_SOURCE = os.path.join(_PACKAGE_ROOT, "src", "native", "ring-python.c")
_BUILT = os.path.join(_PACKAGE_ROOT, "build", "Release", "millrace_ring_python.node")


class Writer(ctypes.Structure):
    """mr_writer in ring-core.h."""

    _fields_ = [
        ("base", ctypes.c_void_p),
        ("capacity", ctypes.c_uint64),
        ("head", ctypes.c_uint64),
        ("tail_cache", ctypes.c_uint64),
        ("need", ctypes.c_uint64),
    ]


class Reader(ctypes.Structure):
    """mr_reader in ring-core.h."""

    _fields_ = [
        ("base", ctypes.c_void_p),
        ("capacity", ctypes.c_uint64),
        ("tail", ctypes.c_uint64),
        ("head_cache", ctypes.c_uint64),
    ]


def _compile_on_the_spot():
    compiler = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if not compiler or not os.path.exists(_SOURCE):
        return None
    with open(_SOURCE, "rb") as source, open(os.path.join(os.path.dirname(_SOURCE), "ring-core.h"), "rb") as core:
        digest = hashlib.sha256(source.read() + core.read()).hexdigest()[:16]
    cache = os.path.join(os.path.expanduser("~"), ".cache", "millrace")
    target = os.path.join(cache, f"millrace_ring_python-{digest}.so")
    if os.path.exists(target):
        return target
    os.makedirs(cache, exist_ok=True)
    partial = f"{target}.{os.getpid()}.tmp"
    result = subprocess.run(
        [compiler, "-O3", "-std=gnu11", "-shared", "-fPIC", "-fvisibility=hidden", "-o", partial, _SOURCE],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        return None
    os.replace(partial, target)
    return target


def _candidates():
    explicit = os.environ.get("MILLRACE_SHM_LIBRARY")
    if explicit:
        yield explicit
        return
    if os.path.exists(_BUILT):
        yield _BUILT
    compiled = _compile_on_the_spot()
    if compiled:
        yield compiled


def _declare(cdll, pydll):
    void_p, u32, u64, i64, c_int = ctypes.c_void_p, ctypes.c_uint32, ctypes.c_uint64, ctypes.c_int64, ctypes.c_int
    signatures = {
        "mrp_format_version": (c_int, []),
        "mrp_validate": (c_int, [void_p, u64, ctypes.c_char_p, ctypes.c_size_t]),
        "mrp_attach": (c_int, [void_p, c_int, u32]),
        "mrp_writer_init": (None, [ctypes.POINTER(Writer), void_p]),
        "mrp_reader_init": (None, [ctypes.POINTER(Reader), void_p]),
        "mrp_write_packed": (c_int, [ctypes.POINTER(Writer), void_p, void_p, u32, ctypes.POINTER(u32)]),
        "mrp_write_end": (c_int, [ctypes.POINTER(Writer)]),
        "mrp_wait_writable": (c_int, [ctypes.POINTER(Writer), i64, i64]),
        "mrp_wait_readable": (c_int, [ctypes.POINTER(Reader), i64, i64]),
        "mrp_read_view": (c_int, [ctypes.POINTER(Reader), ctypes.POINTER(u64), ctypes.POINTER(u64)]),
        "mrp_close": (c_int, [void_p, c_int, ctypes.POINTER(Reader)]),
        "mrp_peer_pid": (u32, [void_p, c_int]),
        "mrp_create": (c_int, [ctypes.c_char_p, u64, ctypes.c_char_p, u32]),
    }
    for name, (restype, argtypes) in signatures.items():
        function = getattr(cdll, name)
        function.restype = restype
        function.argtypes = argtypes
    read_batch = pydll.mrp_read_batch
    read_batch.restype = ctypes.py_object
    read_batch.argtypes = [ctypes.POINTER(Reader), u32, u64, ctypes.POINTER(c_int)]


def load():
    tried = []
    for path in _candidates():
        try:
            cdll = ctypes.CDLL(path)
            pydll = ctypes.PyDLL(path)
            _declare(cdll, pydll)
        except (OSError, AttributeError) as error:
            tried.append(f"{path}: {error}")
            continue
        if cdll.mrp_format_version() != 1:
            tried.append(f"{path}: speaks ring format {cdll.mrp_format_version()}, this module speaks 1")
            continue
        return cdll, pydll
    detail = "\n  ".join(tried) if tried else f"no library at {_BUILT}, and no C compiler (cc) and source ({_SOURCE}) to build one"
    raise NativeLibraryMissingError(
        "millrace_shm needs its C library (the ring core shared with the Node addon).\n"
        f"  {detail}\n"
        "  Build it with: npm rebuild @millrace/bridge-shm  (or set MILLRACE_SHM_LIBRARY to a built copy)"
    )


lib, pylib = load()
