"""Keep freed memory in the process between updates instead of returning it to the system after each one.

glibc's malloc gives the top of its heap back to the system once more than M_TRIM_THRESHOLD bytes there are free
(by default twice its adaptive mmap threshold) and serves large blocks by fresh mmaps; every page it takes back
costs a page fault (and the kernel's zeroing) when the next update allocates it again. A network whose
activations are megabytes pays that on every update: CrossQ's 1024-wide critics on 512 rows (4 MiB per
activation) took 6,600-9,700 page faults per training step, 8-12% of its step on a Zen 4 (13.0-13.4 steps/s
against 14.2-15.3 with the thresholds below; `benchmarks/tqc_crossq_vs_peers.py`). TD3 and SAC with 256-unit
layers were not affected (under one fault per step). Only where blocks live changes: not one number of training.
"""

from __future__ import annotations

import ctypes
import functools
import platform

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
"""mallopt's parameter numbers (glibc's malloc.h)."""

MMAP_THRESHOLD_BYTES = 32 * 1024 * 1024
"""Blocks below this come from the heap (glibc's largest allowed value; an activation batch of a few MiB
included); larger ones (a replay buffer) are still mapped on their own."""

TRIM_THRESHOLD_BYTES = 512 * 1024 * 1024
"""Free heap the process keeps before giving any back: a few updates' worth of intermediates."""


@functools.cache
def retain_freed_memory() -> bool:
    """Set glibc's mmap and trim thresholds once per process (Linux with glibc only; elsewhere nothing).
    Returns whether they were set."""
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    # setting either threshold turns glibc's adaptive one off, so both are set
    mapped = mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)
    return bool(mapped) and bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES))
