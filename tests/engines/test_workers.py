"""dedup.workers: pool workers ignore Ctrl-C from their first instruction on, and the main
process gets its signal mask back (a worker that died of a Ctrl-C before ignoring it printed
a traceback, and replacing it could deadlock the pool's shutdown)."""

from __future__ import annotations

import os
import signal
import threading

import pytest

from dedup.workers import pool


def _signal_state(_: int) -> tuple[bool, bool, bool]:
    """(SIGINT ignored, SIGINT blocked, a broken pipe ends the process) in the calling worker."""
    return (signal.getsignal(signal.SIGINT) == signal.SIG_IGN, signal.SIGINT in signal.pthread_sigmask(signal.SIG_BLOCK, []),
            signal.getsignal(signal.SIGPIPE) == signal.SIG_DFL)


def test_workers_ignore_ctrl_c_and_the_main_process_keeps_its_mask():
    before, handler = signal.pthread_sigmask(signal.SIG_BLOCK, []), signal.getsignal(signal.SIGINT)
    with pool(2, 4) as workers:
        assert signal.pthread_sigmask(signal.SIG_BLOCK, []) == before
        states = workers.map(_signal_state, range(4))
    assert states == [(True, False, True)] * 4
    assert signal.getsignal(signal.SIGPIPE) == signal.SIG_IGN  # Python's default, kept in the main process
    assert signal.pthread_sigmask(signal.SIG_BLOCK, []) == before
    assert signal.getsignal(signal.SIGINT) == handler


def test_a_ctrl_c_in_the_pools_block_terminates_it_and_goes_on_up():
    """The main process still gets Ctrl-C as KeyboardInterrupt once the pool is up (its mask
    is restored), the pool is terminated, the interrupt goes on up. (Python's own handler for the test: an earlier
    Spark test leaves its own, which asks a stopped SparkContext to cancel its jobs.)"""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    raised = False
    try:
        with pool(2, 4) as workers:
            os.kill(os.getpid(), signal.SIGINT)
            workers.map(_signal_state, range(2))
    except KeyboardInterrupt:
        raised = True
    finally:
        signal.signal(signal.SIGINT, previous)
    assert raised


def test_one_process_needs_no_pool():
    with pool(1, 10) as workers:
        assert workers is None


def test_a_ctrl_c_while_the_pool_starts_is_raised_once_it_is_up_and_the_pool_is_terminated(monkeypatch):
    """Whichever thread the kernel hands the signal to, the main thread only records it while
    workers fork; it is raised after, inside the block that terminates the pool (it came out
    of Pool() before, leaving the forked workers and the pool's threads behind)."""
    import multiprocessing

    real_get_context = multiprocessing.get_context
    made = []

    class InterruptedWhileForking:
        def __init__(self, method):
            self.context = real_get_context(method)

        def Pool(self, *args, **kwargs):
            os.kill(os.getpid(), signal.SIGINT)
            made.append(self.context.Pool(*args, **kwargs))
            return made[-1]

    monkeypatch.setattr(multiprocessing, "get_context", InterruptedWhileForking)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    # a thread that does not block SIGINT, as tqdm's monitor: the kernel hands it the signal
    # while the main thread blocks it, and Python runs the handler in the main thread anyway
    done = threading.Event()
    threading.Thread(target=done.wait, daemon=True).start()
    body_ran = False
    try:
        with pytest.raises(KeyboardInterrupt):
            with pool(2, 4):
                body_ran = True
    finally:
        signal.signal(signal.SIGINT, previous)
        done.set()
    assert not body_ran and len(made) == 1
    made[0].join()  # terminated: join returns once every worker has ended
    assert all(not worker.is_alive() for worker in made[0]._pool)


def test_bulk_collection_puts_the_collector_back_as_it_was():
    import gc

    from dedup.workers import BULK_GC_THRESHOLD, bulk_collection

    before = gc.get_threshold()
    with pytest.raises(RuntimeError):
        with bulk_collection():
            assert gc.get_threshold()[0] == BULK_GC_THRESHOLD
            assert gc.get_freeze_count() > 0
            raise RuntimeError("a failed scan")
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


def _batches(corpus, threads: bool | None, monkeypatch) -> list[tuple]:
    """What the read stage's jobs give for ``corpus`` on threads, on processes, or in this
    process (None), each batch as comparable bytes."""
    import dedup.engines.local as local
    from dedup import workers
    from dedup.config import ScanConfig
    from dedup.sources.corpus import list_files

    if threads is not None:
        monkeypatch.setattr(local, "job_pool", lambda n, jobs, _threads: workers.job_pool(n, jobs, threads))
    config = ScanConfig(workers=1 if threads is None else 2)
    out = []
    for item in local.prepared_items(list_files(corpus), corpus, config, batches=True):
        signed = item.signed
        out.append((item.text, bytes(item.spans), item.keys, bytes(item.key_ends), item.fingerprints,
                    None if signed is None else tuple(bytes(memoryview(x)) for x in (signed.set_sizes, signed.bands, signed.anchor_keys, signed.anchor_values))))
    monkeypatch.undo()
    return out


def test_the_read_stage_gives_the_same_batches_on_threads_on_processes_and_in_one_process(tmp_path, monkeypatch):
    """Threads normalize and sign without the interpreter lock, each with its own work buffers:
    a buffer shared between them would mix two documents' keys. Many small files (the seeds, the
    Debian copyright files, each cut in pieces) keep both threads busy at once."""
    from pathlib import Path

    from dedup import compiled
    from tests.helpers import DEBIAN_DOC, DEBIAN_PACKAGES, write_corpus

    if not compiled.available():
        pytest.skip("the compiled core is not built: the read stage runs on processes only")
    files = {}
    sources = [p for p in sorted(Path("data/seeds").iterdir())] + [DEBIAN_DOC / p / "copyright" for p in DEBIAN_PACKAGES]
    for n, path in enumerate(p for p in sources if p.is_file()):
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
        for part in range(0, len(lines), 40):
            files[f"{n:03d}/{part:05d}.txt"] = "\n".join(lines[part : part + 40])
    corpus = write_corpus(tmp_path / "corpus", files)
    alone = _batches(corpus, None, monkeypatch)
    assert sum(len(b[2]) for b in alone) > 100_000  # keys enough for the threads to overlap
    assert _batches(corpus, True, monkeypatch) == alone
    assert _batches(corpus, False, monkeypatch) == alone


def _made_in_child(n: int, fail_at: int | None = None):
    """(index, the pid that made it, SIGINT ignored there) for up to ``n`` items, a ValueError at
    ``fail_at``."""
    for i in range(n):
        if i == fail_at:
            raise ValueError(f"bad item {i}")
        yield i, os.getpid(), signal.getsignal(signal.SIGINT) == signal.SIG_IGN


def test_made_ahead_gives_the_items_in_order_from_a_child_that_ends_with_them():
    from dedup.workers import made_ahead

    items = list(made_ahead(lambda: _made_in_child(500)))
    assert [i for i, _, _ in items] == list(range(500))
    (child,) = {pid for _, pid, _ in items}
    assert child != os.getpid() and all(ignored for _, _, ignored in items)
    with pytest.raises(ChildProcessError):
        os.waitpid(child, os.WNOHANG)  # reaped: no zombie left
    assert [i for i, pid, _ in made_ahead(lambda: _made_in_child(3), enabled=False) if pid == os.getpid()] == [0, 1, 2]


def test_made_ahead_raises_the_childs_error_after_the_items_before_it_and_stops_it_when_left():
    from dedup.workers import made_ahead

    got = []
    with pytest.raises(ValueError, match="bad item 7"):
        for i, _, _ in made_ahead(lambda: _made_in_child(100, fail_at=7)):
            got.append(i)
    assert got == list(range(7))
    left = made_ahead(lambda: _made_in_child(10**9))  # a consumer that stops early
    _, child, _ = next(left)
    left.close()
    with pytest.raises(ChildProcessError):
        os.waitpid(child, os.WNOHANG)
