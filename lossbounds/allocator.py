"""The C allocator under the numpy kernels' temporaries.

numpy takes each array's memory from the C library's ``malloc``. glibc's
serves a request of at least its mmap threshold (128 KiB at first) with a
fresh mapping, whose pages fault in when first written and are unmapped at
``free``; and it returns freed heap memory beyond its trim threshold (also
128 KiB at first) to the system. The numpy kernels make temporaries of 1 to
4 MiB a block (`lossbounds.engine`), so in a process that has not freed
anything large yet, every temporary of every block pays its page faults
again: numpy-only losses on 1e7 values in a fresh process took 1.5-4x as
long as the same calls later (MAPE 43 ms against 12, Huber 44 against 13,
log-cosh 386 against 103, Poisson 72 against 50).

glibc raises both thresholds by itself when a mapped block larger than the
mmap threshold is freed: the mmap threshold to that block's size (up to
32 MiB), the trim threshold to twice that. Most programs that use numpy
soon free such a block; `settle` frees one on purpose, of `SETTLED_BYTES`,
once a process, before the engine's first pass over several blocks. It
allocates no memory that stays (the block is never written, so it never
faults in), and it changes nothing where a user fixed the thresholds
(``mallopt``, ``MALLOC_MMAP_THRESHOLD_``: glibc then stops adjusting them)
or where the C library is not glibc.
"""

from __future__ import annotations

import os
import threading

__all__ = ["SETTLED_BYTES", "settle"]

#: The block `settle` frees: above the kernels' largest temporaries (4 MiB, a block of
#: float64), so that none of them is mapped afresh. (8 MiB measured as good.)
SETTLED_BYTES = 16 << 20

_settled = False
_lock = threading.Lock()


def _glibc() -> bool:
    try:
        return os.confstr("CS_GNU_LIBC_VERSION") is not None
    except (AttributeError, ValueError, OSError):  # no confstr, or no such name: not glibc
        return False


def settle() -> bool:
    """Raise glibc's mmap and trim thresholds as its own heuristic does, once a process.

    Returns whether this call did it (False after the first call, and where
    the C library is not glibc). Never raises: a failure leaves the
    allocator as it was.
    """
    global _settled
    if _settled:
        return False
    with _lock:
        if _settled:
            return False
        _settled = True
        if not _glibc():
            return False
        try:
            import ctypes

            libc = ctypes.CDLL(None)
            libc.malloc.restype = ctypes.c_void_p
            libc.malloc.argtypes = [ctypes.c_size_t]
            libc.free.argtypes = [ctypes.c_void_p]
            block = libc.malloc(SETTLED_BYTES)
            if not block:
                return False
            libc.free(block)
        except (OSError, AttributeError):  # no C library to load: leave the allocator alone
            return False
        return True
