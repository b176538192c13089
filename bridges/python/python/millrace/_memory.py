"""The runner's memory policy when it reads records: keep freed record memory instead of handing
it back to the OS.

Every record a runner reads is copied out of the ring into a new ``bytes`` object, and dropped a
batch later. With glibc's defaults a 1 MiB record is its own ``mmap``, unmapped on free, or heap
memory trimmed back as soon as it is freed, so the next record lands on fresh pages and pays a
page fault per 4 KiB. On the machines this was measured on (a paravirtualised VM) that fault
costs about 8 µs: reading 1 MiB tensor frames ran at 0.5 GB/s, faults included, against 1.7 GB/s
with the memory kept (bench/ring.mjs, ``path-large``).

When a runner opens its input, this raises glibc's mmap threshold to its ceiling (32 MiB) and the
trim threshold to 64 MiB, so a stream of records up to 32 MiB reuses the same heap pages and the
process keeps at most 64 MiB it freed. A user who set ``MALLOC_MMAP_THRESHOLD_`` or ``MALLOC_TRIM_THRESHOLD_`` keeps their own
setting; on a C library without ``mallopt`` (musl) nothing changes.
"""

from __future__ import annotations

import os

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD_BYTES = 32 * 1024 * 1024
TRIM_THRESHOLD_BYTES = 64 * 1024 * 1024


def keep_freed_record_memory() -> bool:
    """Applies the policy above; True when glibc took it."""
    if "MALLOC_MMAP_THRESHOLD_" in os.environ or "MALLOC_TRIM_THRESHOLD_" in os.environ:
        return False
    import ctypes  # here, not at the top: a runner without input never pays for it

    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    # mallopt returns 1 on success; glibc refuses an mmap threshold above its ceiling.
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)) and bool(
        mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES)
    )
