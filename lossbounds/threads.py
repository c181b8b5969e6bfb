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
import time
from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["THREADS", "run_on_threads", "run_pieces"]

#: Threads a pass uses: two where the machine has them (more gained nothing measured).
THREADS = max(1, min(2, os.cpu_count() or 1))

#: A task for a helper: the worker, the queue its outcome goes to (None, or the error), and
#: the call's counts (`_Spin`): helpers that have finished, how many must less one, and
#: helpers that have started.
_Task = tuple[Callable[[], None], "queue.SimpleQueue[BaseException | None]", np.ndarray]

_tasks: list[queue.SimpleQueue[_Task]] = []  # one queue the helpers share, once started
_start_lock = threading.Lock()
_state = threading.local()  # ``helping``: this thread is a helper, running a worker


class _Spin:
    """Waits that spin, without the GIL, before they sleep: where the accelerator is on.

    A thread asleep took 45-70 us to wake here (a virtual machine, 2026):
    a caller waiting for its helper's end paid that on each threaded pass
    (~45 us of the ~330 of a 2**20 element MSE). So a helper, its task done,
    signals it with the GIL released and then watches for the next task for
    `HELPER_SECONDS` before it sleeps; the caller, where a helper has started
    its task (not one still queued behind other callers'), watches for the
    signal for up to `CALLER_SECONDS` (it would sleep meanwhile anyway) and
    then takes the GIL, which the helper does not hold. The watching is
    `lossbounds.fused.waiters`' compiled loop; without numba, or with the
    accelerator off from the start, every wait sleeps at once, as before.
    A helper's watch keeps a core busy up to `HELPER_SECONDS` after each task
    (OpenMP's threads spin likewise).
    """

    HELPER_SECONDS = 3e-4
    CALLER_SECONDS = 5e-3

    def __init__(self) -> None:
        self.lock = threading.Lock()  # (`posted` changes under it: += is several bytecodes)
        self.posted = np.zeros(2, np.int64)  # tasks posted, tasks taken
        self.wait: Callable[..., bool] | None = None
        self.signal_and_wait: Callable[..., bool] | None = None
        self.helper_checks = self.caller_checks = 0
        self.broken = False  # the compiled waits failed to load: never spin

    def ready(self) -> Callable[..., bool] | None:
        """The compiled wait if waits spin (made where the accelerator is on, numba), else None."""
        if self.wait is None:
            from . import fused  # (numba only where the accelerator is on)

            if self.broken or not fused.accelerator_enabled():
                return None
            idle = np.zeros(2, np.int64)
            try:  # (loaded here: a helper's first signal must not be its first compile)
                wait, signal_and_wait = fused.waiters()
                wait(idle, 0, 1, 1)
                signal_and_wait(np.zeros(1, np.int64), idle, 0, 1, 1)
            except Exception:  # (no spinning then: the waits sleep, as without numba)
                self.broken = True
                return None
            start = time.perf_counter()
            wait(idle, 0, 1, 10_000)
            seconds = max(time.perf_counter() - start, 1e-6) / 10_000  # a look (~12 ns here)
            self.helper_checks = int(self.HELPER_SECONDS / seconds)
            self.caller_checks = int(self.CALLER_SECONDS / seconds)
            self.signal_and_wait = signal_and_wait
            self.wait = wait
        return self.wait

    def add(self, count: int = 1) -> None:
        """`count` more tasks posted."""
        with self.lock:
            self.posted[0] += count


_spin = _Spin()


def _serve(tasks: queue.SimpleQueue[_Task]) -> None:
    _state.helping = True
    while True:
        worker, done, finished = tasks.get()
        with _spin.lock:
            _spin.posted[1] += 1
            finished[2] += 1
        outcome = None
        try:
            worker()
        except BaseException as error:  # (handed to the caller, which raises it)
            outcome = error
        done.put(outcome)
        # The end, then the next task, watched for. (Without spinning, no caller reads
        # `finished`: `_Spin.ready` sets signal_and_wait before the caller's wait.)
        if _spin.signal_and_wait is not None:
            _spin.signal_and_wait(finished, _spin.posted, 0, 1, _spin.helper_checks)


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
    _spin.lock = threading.Lock()
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
    wait = _spin.ready()
    done: queue.SimpleQueue[BaseException | None] = queue.SimpleQueue()
    # helpers finished (all have when finished[0] > finished[1]), and helpers started
    finished = np.array([0, threads - 2, 0], np.int64)
    for _ in range(1, threads):
        tasks.put((worker, done, finished))
    _spin.add(threads - 1)
    try:
        worker()
    finally:
        if wait is not None and finished[2]:
            # the helpers' end, watched for before sleeping: where one is running this
            # worker (a helper busy with other callers' tasks would keep this one spinning)
            wait(finished, 0, 1, _spin.caller_checks)
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
