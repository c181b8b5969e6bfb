"""Helper threads for passes over large inputs, started once and shared.

numpy's loops and the fused kernels release the GIL, so a pass split into
pieces runs on two threads (`run_pieces`): `lossbounds.engine` computes its
blocks this way, `lossbounds.checks.first_where` its checks of the inputs,
CTC's compiled pass its samples and Circle's its rows of pairs.
"""

from __future__ import annotations

import itertools
import os
import queue
import threading
from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["THREADS", "run_on_threads", "run_pieces"]

#: Threads a pass uses: two where the machine has them (more gained nothing measured).
THREADS = max(1, min(2, os.cpu_count() or 1))

#: A task for a helper: the worker, and the queue its outcome goes to (None, or the error).
_Task = tuple[Callable[[], None], "queue.SimpleQueue[BaseException | None]"]

_tasks: list[queue.SimpleQueue[_Task]] = []  # one queue the helpers share, once started
_start_lock = threading.Lock()
_state = threading.local()  # ``helping``: this thread is a helper, running a worker


def _serve(tasks: queue.SimpleQueue[_Task]) -> None:
    _state.helping = True
    while True:
        worker, done = tasks.get()
        try:
            worker()
        except BaseException as error:  # (handed to the caller, which raises it)
            done.put(error)
        else:
            done.put(None)


def _helpers() -> queue.SimpleQueue[_Task]:
    """The queue of the threads that share a pass with the caller, started once.

    Starting a thread a call took ~75 us, 4 % of a 1e7-element MSE; a
    ``ThreadPoolExecutor`` submit, ~50 us on the cold caches a large pass
    leaves (its future, locks and semaphore are Python): a `queue.SimpleQueue`
    (C) each way costs a few. The tasks never wait for one another, so
    calls from several threads only queue. The threads are daemons, idle
    between calls (a caller waits for its task, so none is cut short at
    exit); a forked child starts its own (`_forget_helpers`).
    """
    with _start_lock:
        if not _tasks:
            tasks: queue.SimpleQueue[_Task] = queue.SimpleQueue()
            for _ in range(THREADS - 1):
                threading.Thread(target=_serve, args=(tasks,), name="lossbounds",
                                 daemon=True).start()
            _tasks.append(tasks)
        return _tasks[0]


def _forget_helpers() -> None:
    global _start_lock
    _start_lock = threading.Lock()  # (another thread of the parent may have held it)
    _tasks.clear()  # the parent's threads do not exist in a forked child


os.register_at_fork(after_in_child=_forget_helpers)


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
    tasks = _helpers()
    done: queue.SimpleQueue[BaseException | None] = queue.SimpleQueue()
    for _ in range(1, threads):
        tasks.put((worker, done))
    try:
        worker()
    finally:
        errors = [done.get() for _ in range(1, threads)]  # (waits for each)
    for error in errors:
        if error is not None:
            raise error  # in the calling thread


def run_pieces(pieces: int, work: Callable[[int, Any], bool | None], *, threads: int = THREADS,
               state: Callable[[], Any] = lambda: None) -> None:
    """``work(i, own)`` for every piece ``i < pieces``, each thread taking the next piece not yet taken.

    So a thread that starts late, or is slowed, does fewer. Each thread
    first makes its ``own = state()`` (its scratch arrays), and runs under
    ``np.errstate(all="ignore")`` (errstate is per thread); a thread stops
    where `work` returns True (a search that has found its answer). One
    piece runs here alone, on up to `threads` threads otherwise.
    """
    taken = itertools.count()  # (its next() is atomic: the GIL)

    def worker() -> None:
        own = state()
        with np.errstate(all="ignore"):
            for i in taken:
                if i >= pieces or work(i, own):
                    return

    run_on_threads(worker, threads if pieces > 1 else 1)
