"""Helper threads for passes over large inputs, started once and shared.

numpy's loops and the fused kernels release the GIL, so a pass split into
pieces runs on two threads: `lossbounds.engine` computes its blocks this
way, and `lossbounds.checks.first_where` its checks of the inputs.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

__all__ = ["THREADS", "run_on_threads"]

#: Threads a pass uses: two where the machine has them (more gained nothing measured).
THREADS = max(1, min(2, os.cpu_count() or 1))

_pool: list[ThreadPoolExecutor] = []
_pool_lock = threading.Lock()
_state = threading.local()  # ``helping``: this thread is a helper, running a worker


def _helpers() -> ThreadPoolExecutor:
    """The threads that share a pass with the caller, started once.

    Starting a thread a call took ~75 us, 4 % of a 1e7-element MSE. Their
    tasks never wait for one another, so calls from several threads only
    queue. A forked child starts its own (`_forget_helpers`).
    """
    with _pool_lock:
        if not _pool:
            _pool.append(ThreadPoolExecutor(max(1, THREADS - 1), thread_name_prefix="lossbounds"))
        return _pool[0]


def _forget_helpers() -> None:
    global _pool_lock
    _pool_lock = threading.Lock()  # (another thread of the parent may have held it)
    _pool.clear()  # the parent's threads do not exist in a forked child


os.register_at_fork(after_in_child=_forget_helpers)


def _helping(worker: Callable[[], None]) -> None:
    _state.helping = True
    try:
        worker()
    finally:
        _state.helping = False


def run_on_threads(worker: Callable[[], None], threads: int) -> None:
    """``worker()`` here and on ``threads - 1`` helper threads, returning when all have.

    The workers share their work between them (each takes the next piece
    not yet taken); an error in any is raised here, after all have stopped.
    A helper that asks runs its worker alone: the helpers it would wait for
    include itself.
    """
    if threads <= 1 or getattr(_state, "helping", False):
        worker()
        return
    pool = _helpers()
    helpers = [pool.submit(_helping, worker) for _ in range(1, threads)]
    try:
        worker()
    finally:
        errors = [helper.exception() for helper in helpers]  # (waits for each)
    for error in errors:
        if error is not None:
            raise error  # in the calling thread
