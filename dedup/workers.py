"""Workers (threads or processes) and batches: the one place the stages share for running in parallel.

* ``pool`` gives a process pool, or a null context when one process will do.
* ``scoring_pool`` gives what verification scores its batches on: threads when the compiled
  core counts without the interpreter lock, else forked processes.
* ``job_pool`` gives what the read stage prepares its jobs on, chosen the same way.
* ``publish``/``published``: state that forked workers inherit instead of receiving it pickled
  with every job (a key store's open file and memory map cannot be pickled, and its index of
  millions of offsets should not be). Publish before the pool is created; workers read it.
* ``bulk_collection`` tunes the garbage collector for the millions of short-lived rows of a scan.
* ``spans_by_cost`` cuts a run of items into batches of about equal cost, so memory per batch
  is bounded and workers get even shares.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import threading
import time
from typing import Any

import numpy as np

from .atomic import interrupts_held

_PUBLISHED: Any = None


@contextlib.contextmanager
def pool(workers: int, n_jobs: int, fork_only: bool = False):
    """A process pool of up to ``workers`` processes for ``n_jobs`` jobs, or None when one
    process will do (or when the jobs need ``published`` state and this platform cannot fork).

    Ctrl-C is blocked while the pool starts, so every worker begins with it blocked and can
    ignore it before it is let through (``_worker_start``): a worker that died of a Ctrl-C
    before ignoring it printed a traceback, and the pool's thread that replaces dead workers
    could deadlock the main process's shutdown of the pool (a scan that never ended). The
    mask holds only for the calling thread, and the kernel may hand the signal to another
    (tqdm's monitor), so the main thread's handler also just records it meanwhile; a Ctrl-C
    that arrived is raised once the pool is up, inside the block that terminates it.
    """
    workers = min(workers, n_jobs)
    can_fork = "fork" in multiprocessing.get_all_start_methods()
    if workers <= 1 or (fork_only and not can_fork):
        yield None
        return
    context = multiprocessing.get_context("fork" if can_fork else "spawn")
    started = None
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})  # inherited by the workers
    try:
        try:
            with interrupts_held() as held:  # the mask holds for this thread only
                started = context.Pool(workers, initializer=_worker_start, initargs=(os.getpid(),))
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        held.deliver()
        yield started
    finally:
        if started is not None:
            _terminate(started)


@contextlib.contextmanager
def scoring_pool(workers: int, n_jobs: int, threads: bool):
    """Up to ``workers`` workers for ``n_jobs`` batches of pairs, with an ``imap`` like a
    process pool's, or None when one will do. ``threads``: the batches run in C without the
    interpreter lock (the compiled core's pair_intersections), so threads of this process score
    them at once; forked workers would keep every page the main process frees afterwards
    resident in their copies (the largest peak of a 1 GB scan was the clustering stage beside
    the verify workers). Otherwise a pool of processes forked now (``published`` state)."""
    if not threads:
        with pool(workers, n_jobs, fork_only=True) as started:
            yield started
        return
    with _threads(workers, n_jobs, "dedup-verify") as started:
        yield started


@contextlib.contextmanager
def _threads(workers: int, n_jobs: int, name: str):
    """A pool of up to ``workers`` threads for ``n_jobs`` jobs, seen as a process pool
    (``_ThreadPool``), or None when one will do; its threads are waited for (the queued jobs
    cancelled) on the way out."""
    workers = min(workers, n_jobs)
    if workers <= 1:
        yield None
        return
    from concurrent.futures import ThreadPoolExecutor

    executor = ThreadPoolExecutor(workers, thread_name_prefix=name)
    try:
        yield _ThreadPool(executor)
    finally:
        executor.shutdown(wait=True, cancel_futures=True)


@contextlib.contextmanager
def job_pool(workers: int, n_jobs: int, threads: bool):
    """Up to ``workers`` workers for ``n_jobs`` jobs, with a process pool's ``apply_async``
    (its result's ``get``), or None when one will do. ``threads``: the jobs spend their time in
    the compiled core without the interpreter lock (splitting, normalizing, signing), so
    threads of this process run them at once, and their results (a document's text, its keys)
    are not pickled back, which cost the main process as much CPU as the job itself; nor do
    forked copies of the process count again in its memory. Else a pool of processes."""
    if not threads:
        with pool(workers, n_jobs) as started:
            yield started
        return
    with _threads(workers, n_jobs, "dedup-read") as started:
        yield started


class _ThreadPool:
    """A thread pool seen as the process pool's two calls the stages use: ``imap`` (results in
    the order of the jobs) and ``apply_async`` (a result whose ``get`` waits for it)."""

    def __init__(self, executor) -> None:
        self.executor = executor

    def imap(self, function, jobs):
        return self.executor.map(function, jobs)

    def apply_async(self, function, args) -> "_Pending":
        return _Pending(self.executor.submit(function, *args))


class _Pending:
    """A thread's job seen as an ``AsyncResult``: ``get`` waits for it."""

    def __init__(self, future) -> None:
        self.future = future

    def get(self):
        return self.future.result()


def _terminate(started) -> None:
    """``Pool.terminate``, without its hang on an interrupt: terminate kills the workers, then
    waits for the pool's task thread, which may be blocked writing a task into the pipe that
    only the dead workers read (the test of 12 kills hung so in CI: two dead workers, the main
    process in ``task_handler.join()``). A watchdog closes the main process's end of that pipe
    once every worker is gone and the thread has had a second to end on its own: the
    blocked write then fails (EPIPE), which the thread handles, and terminate returns.
    The pool's private attributes are read with defaults: without them, plain terminate."""
    handler = getattr(started, "_task_handler", None)
    reader = getattr(getattr(started, "_inqueue", None), "_reader", None)
    workers = list(getattr(started, "_pool", None) or [])
    if handler is not None and reader is not None and workers:

        def unblock() -> None:
            while handler.is_alive():
                if all(not worker.is_alive() for worker in workers):
                    handler.join(1.0)
                    if handler.is_alive():
                        reader.close()
                    return
                time.sleep(0.05)

        threading.Thread(target=unblock, name="dedup-pool-unblock", daemon=True).start()
    started.terminate()


def _worker_start(parent: int) -> None:
    """Workers leave interrupts to the main process (Ctrl-C reaches the whole process group;
    the main process stops the pool and reports once), and on Linux end when it ends: a scan
    killed outright leaves no orphan holding its files or printing broken-pipe tracebacks."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})  # blocked by pool() until now
    if hasattr(signal, "SIGPIPE"):
        # A worker's pipes lead to its parent only: one that breaks means the parent is gone,
        # and the worker ends quietly (Python's default, an exception, printed a broken-pipe
        # traceback in the instant between a SIGKILL of the parent and PR_SET_PDEATHSIG).
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    try:
        import ctypes

        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent:  # it died before the line above
        os._exit(1)


BULK_GC_THRESHOLD = 50_000  # allocations between two young collections during a scan (Python's default: 700)


@contextlib.contextmanager
def bulk_collection():
    """The cyclic garbage collector tuned for a scan, and put back as it was afterwards: the
    objects alive before (modules, the core's tables) are frozen out of its passes, and young
    collections run every ``BULK_GC_THRESHOLD`` allocations. A scan allocates millions of
    short-lived tuples that hold no cycles; with the defaults the collector ran ~1,200 times in
    the main process of a 100 MB scan, 0.5 s in all (0.07 s tuned). Workers forked inside
    inherit the setting, and the frozen objects' pages are no longer written by their passes
    (copy-on-write shares them)."""
    import gc

    before = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(BULK_GC_THRESHOLD, *before[1:])
    try:
        yield
    finally:
        gc.set_threshold(*before)
        gc.unfreeze()


def return_freed_memory() -> None:
    """Have glibc give large freed blocks back to the system at once. By default it raises its
    mmap threshold each time a large block is freed, up to 32 MB, so the arrays of one stage were
    later carved from the heap and stayed resident after they were freed: a fixed 1 MiB threshold
    keeps every array of 1 MiB or more in a mapping of its own, unmapped when freed (the peak of
    the candidates stage of a 400 MB scan went from 666 to 431 MB). Elsewhere than glibc,
    nothing happens."""
    try:
        import ctypes

        libc = ctypes.CDLL(None)
        libc.mallopt(-3, 1 << 20)  # M_MMAP_THRESHOLD (fixed, so no longer adjusted)
        libc.mallopt(-1, 1 << 20)  # M_TRIM_THRESHOLD: return heap tops of 1 MiB and more
    except (OSError, AttributeError):
        pass


def publish(value: Any) -> None:
    """Make ``value`` what workers forked from now on see as ``published()``; None clears it."""
    global _PUBLISHED
    _PUBLISHED = value


def published() -> Any:
    return _PUBLISHED


def spans_by_cost(costs: np.ndarray, budget: float) -> list[tuple[int, int]]:
    """(start, stop) spans of consecutive items whose costs add up to about ``budget`` each;
    an item costlier than the budget is a span of its own.

    >>> spans_by_cost(np.array([3, 3, 3, 10, 1]), 6)
    [(0, 2), (2, 3), (3, 4), (4, 5)]
    """
    cumulative = np.cumsum(costs)
    spans, start = [], 0
    while start < len(costs):
        base = cumulative[start - 1] if start else 0
        stop = max(start + 1, int(np.searchsorted(cumulative, base + budget, "right")))
        spans.append((start, stop))
        start = stop
    return spans


def made_ahead(make, enabled: bool = True):
    """The items of the iterator ``make()``, made in a forked child process while the caller
    works on the ones before (``dedup filter`` reads, parses and normalizes its next batch of
    records while it looks the current one up): each item pickled through a pipe, whose buffer
    keeps the child about one item ahead, so memory holds two or three items, not the stream.
    An exception the child meets (a bad record) is raised here after the items before it. The
    child leaves Ctrl-C to this process and ends with it (``_worker_start``); without ``fork``
    (or ``enabled`` false) the items are made here."""
    if not enabled or not hasattr(os, "fork"):
        yield from make()
        return
    import pickle

    parent = os.getpid()
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns, and never runs the parent's exit handlers
        code = 1
        try:
            os.close(read_end)
            _worker_start(parent)
            with os.fdopen(write_end, "wb") as out:
                try:
                    for item in make():
                        pickle.dump(("item", item), out, protocol=pickle.HIGHEST_PROTOCOL)
                    pickle.dump(("end", None), out)
                except Exception as error:  # noqa: BLE001  handed to the parent, which raises it
                    pickle.dump(("error", error), out)
            code = 0
        finally:
            os._exit(code)
    os.close(write_end)
    try:
        with os.fdopen(read_end, "rb") as source:
            while True:
                try:
                    kind, item = pickle.load(source)
                except EOFError:
                    raise RuntimeError("the process reading the input ended without a word (killed?)") from None
                if kind == "end":
                    return
                if kind == "error":
                    raise item
                yield item
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
