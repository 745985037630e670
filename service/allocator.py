"""glibc's malloc, tuned for a model that frees and reallocates the same large activations on every pass.

By default glibc hands large freed blocks back to the kernel (``mmap`` above a moving threshold, and
trimming the top of a heap), so each forward pass page-faults its activations in again: on the paper CNN
about 3,000-4,500 minor faults per CPU forward, 10-25% of its time. Raising the ``mmap`` threshold to its
32 MiB maximum and the trim threshold to 256 MiB keeps those pages in the process; a block over 32 MiB
(a huge decoded upload) still goes straight back. Off glibc this does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from typing import Final

_M_TRIM_THRESHOLD: Final = -1
_M_MMAP_THRESHOLD: Final = -3
MMAP_THRESHOLD_BYTES: Final = 32 * 1024 * 1024
TRIM_THRESHOLD_BYTES: Final = 256 * 1024 * 1024


def keep_freed_memory() -> bool:
    """Set both thresholds for this process; True when the C library took them (glibc)."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)) and bool(
        mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES)
    )
