"""Write output files so that a reader (or a crash, or a full disk) never sees half of one, and
say where scratch files go.

Every file dedup writes for a user (exports, reports, cleaned documents, manifests) goes to a
temporary name in the target's own folder, is flushed to disk, and is moved over the target with
one ``os.replace``: the target is the old file or the complete new one, never a mix. Files
written as one result (a cleaned corpus and its manifest) are moved into place together, once
every one is complete (``AtomicFiles``). The database has its own version of this in store/writer.py.

Two kinds of temporary file, then:

* a final output's temporary sibling (``.NAME-XXXXXXXX.tmp`` beside an output file,
  ``.dedup-NAME-XXXXXXXX.tmp`` beside the database of a full scan, SQLite's journal or WAL
  beside a database it changes in place): it must be on the target's filesystem, or the rename
  that publishes it would be a copy. It always stays beside the target;
* scratch files, deleted when the run ends and never renamed: a scan's and an update's key
  store (by default beside the database, which is known to have room for what the scan
  writes; a RAM-backed /tmp is not), the filter's index, the database that ``clean`` without
  ``--db`` scans into, SQLite's own temporary files, OpenCC's dumped dictionaries. They go to
  ``--tmp-dir`` (``use_tmp_dir``) when given, else where they go by default (TMPDIR, else
  /tmp; SQLite also honours SQLITE_TMPDIR and falls back to /var/tmp).
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import sys
import tempfile
import threading
from pathlib import Path
from typing import Callable, TypeVar

from .errors import DedupError, writing

T = TypeVar("T")
_TEMPORARY = re.compile(r"\..+-[A-Za-z0-9_]{8}\.tmp")  # the names mkstemp gives in AtomicFiles.write
_TMP_DIR: Path | None = None  # --tmp-dir


def use_tmp_dir(folder: str | os.PathLike) -> Path:
    """Put the scratch files of this process and of its workers in ``folder`` (``--tmp-dir``):
    ``tmp_dir()`` gives it to dedup's own, Python's ``tempfile`` and the TMPDIR of children
    take it, and so does SQLITE_TMPDIR. SQLite reads that variable once, when the sqlite3
    module loads: ``python -m dedup`` and the ``dedup`` command set it before (see
    ``__main__.run``); a program importing dedup sets it itself before importing sqlite3."""
    folder = Path(folder).absolute()
    if not folder.is_dir():
        raise DedupError(f"{folder}: no such folder for temporary files; create it or pass another --tmp-dir")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise DedupError(f"{folder}: cannot create files there; pass --tmp-dir a folder you can write to")
    global _TMP_DIR
    _TMP_DIR = folder
    tempfile.tempdir = str(folder)
    os.environ["TMPDIR"] = os.environ["SQLITE_TMPDIR"] = str(folder)
    return folder


def tmp_dir(default: Path | None = None) -> Path | None:
    """Where scratch files go: the ``--tmp-dir`` folder if one was given, else ``default``
    (None: tempfile's default, TMPDIR or /tmp)."""
    return _TMP_DIR if _TMP_DIR is not None else default


def stdout_name() -> str:
    """stdout as a message names it: with the file it is redirected to, when it is one."""
    try:
        target = os.readlink("/proc/self/fd/1")
    except OSError:
        return "stdout"
    return f"stdout ({target})" if target.startswith("/") and os.path.isfile(target) else "stdout"


class StdoutData:
    """stdout for data (an export, the filter's records): every byte is written, or the write
    raises. Under PYTHONUNBUFFERED, ``sys.stdout.buffer`` is the raw file, whose ``write`` may
    take only part of what it is given when the disk fills up; ``sys.stdout`` itself then drops
    the rest without an error. Text is encoded as ``sys.stdout`` encodes it."""

    def __init__(self):
        sys.stdout.flush()  # whatever was printed before comes first
        self.buffer = sys.stdout.buffer
        self.encoding, self.errors = sys.stdout.encoding or "utf-8", sys.stdout.errors or "strict"

    def write(self, data: str | bytes) -> int:
        raw = data.encode(self.encoding, self.errors) if isinstance(data, str) else data
        view = memoryview(raw)
        while view:
            view = view[self.buffer.write(view) :]
        return len(data)

    def flush(self) -> None:
        self.buffer.flush()


def is_temporary(name: str) -> bool:
    """Is ``name`` that of a temporary file of ``AtomicFiles``? Only a run killed outright
    (SIGKILL, power loss) leaves one behind, beside a target it never replaced.

    >>> is_temporary(".a.txt-k3j_x9a1.tmp"), is_temporary("a.txt"), is_temporary(".notes.tmp")
    (True, False, False)
    """
    return _TEMPORARY.fullmatch(name) is not None


def remove_temporaries(folder: Path) -> int:
    """Delete the temporary files that killed runs left below ``folder``; return how many."""
    removed = 0
    for path in Path(folder).rglob(".*.tmp"):
        if path.is_file() and is_temporary(path.name):
            path.unlink(missing_ok=True)
            removed += 1
    return removed


def _new_file_mode() -> int:
    """The mode ``open()`` gives a new file: 0o666 less the process umask (read by setting it)."""
    umask = os.umask(0o022)
    os.umask(umask)
    return 0o666 & ~umask


class AtomicFiles:
    """Files written as one result: each to a temporary name in its target's folder, all moved
    over their targets by ``commit`` once every one is complete. Until then (an error, a full
    disk, Ctrl-C) every target is as it was: ``discard`` removes the temporary files and the
    folders made for them. As a context manager: commit at the end of the block, discard if it
    raises.

    Running out of room is reported as a ``WriteError`` naming the target, ``what`` it is and
    ``elsewhere`` to write it (see errors.writing). Every new file stays on disk until the
    commit, beside the file it replaces: replacing a result needs room for both.
    """

    def __init__(self, what: str = "the file", elsewhere: str = "write it elsewhere"):
        self.what, self.elsewhere = what, elsewhere
        self._staged: list[tuple[Path, Path]] = []  # (temporary file, target)
        self._folders: list[Path] = []  # made for the targets, outermost first

    def folder(self, path: str | os.PathLike) -> Path:
        """Make the folder ``path`` (and its missing parents), to be removed again by ``discard``."""
        path = Path(path)
        missing = []
        probe = path
        while not probe.exists() and probe != probe.parent:
            missing.append(probe)
            probe = probe.parent
        for folder in reversed(missing):
            with writing(folder, "a folder", self.elsewhere):
                folder.mkdir()
            self._folders.append(folder)
        return path

    def write(self, target: str | os.PathLike, write: Callable[[Path], T], what: str | None = None, elsewhere: str | None = None) -> T:
        """Run ``write(temporary path)``, to be moved over ``target`` at the commit; return what it
        returns. Raises ``DedupError`` when ``target`` is a folder or its folder does not exist."""
        target = Path(target)
        if target.is_dir():
            raise DedupError(f"{target}: is a folder; pass a file path")
        folder = target.parent
        if not folder.is_dir():
            raise DedupError(f"{folder}: no such folder; create it first")
        with writing(target, what or self.what, elsewhere or self.elsewhere):
            fd, name = tempfile.mkstemp(dir=folder, prefix=f".{target.name}-", suffix=".tmp")
            os.close(fd)
            tmp = Path(name)
            self._staged.append((tmp, target))  # from here on, discard removes it
            result = write(tmp)
            with open(tmp, "rb+") as f:
                os.fsync(f.fileno())
            os.chmod(tmp, _new_file_mode())  # mkstemp makes it 0600; a new file is normally 0666 - umask
        return result

    def commit(self) -> None:
        """Move every file written over its target. Ctrl-C waits for the last one: an interrupt
        half-way would leave some targets new and the others old."""
        with interrupts_held() as held:
            moved = 0
            try:
                for tmp, target in self._staged:
                    os.replace(tmp, target)
                    moved += 1
            finally:
                del self._staged[:moved]  # a failed move leaves the rest to discard
            self._folders.clear()
        held.deliver()

    def discard(self) -> None:
        """Remove every file written and every folder made; the targets are as they were."""
        for tmp, _ in self._staged:
            tmp.unlink(missing_ok=True)
        self._staged.clear()
        for folder in reversed(self._folders):
            try:
                folder.rmdir()
            except OSError:  # not empty: something else was put there meanwhile
                pass
        self._folders.clear()

    def __enter__(self) -> "AtomicFiles":
        return self

    def __exit__(self, kind, error, tb) -> None:
        if kind is not None:
            self.discard()
            return
        try:
            self.commit()
        except BaseException:
            self.discard()
            raise


def write_atomically(target: Path, write: Callable[[Path], T], what: str = "the file", elsewhere: str = "write it elsewhere") -> T:
    """Run ``write(temporary path)``, then move the file it wrote over ``target`` (one file of
    ``AtomicFiles``). On any failure the temporary file is removed and ``target`` is left as it
    was; running out of room is a ``WriteError`` naming ``target`` and ``what`` it is."""
    with AtomicFiles(what, elsewhere) as files:
        return files.write(target, write)


class HeldInterrupt:
    """What ``interrupts_held`` saw: whether a Ctrl-C came, and the handler it would have met."""

    def __init__(self, previous=None):
        self.arrived = False
        self.previous = previous

    def deliver(self) -> None:
        """Act on a held Ctrl-C as the previous handler would have (Python's raises
        KeyboardInterrupt; an ignored one stays ignored)."""
        if not self.arrived:
            return
        if callable(self.previous):
            self.previous(signal.SIGINT, None)
        elif self.previous == signal.SIG_DFL:
            raise KeyboardInterrupt


@contextlib.contextmanager
def interrupts_held():
    """Hold Ctrl-C through the block, for the caller to deliver after (``HeldInterrupt``): for
    steps that must not stop half-way, a commit or the forking of worker processes. Python
    runs signal handlers in the main thread only, whichever thread the kernel hands the
    signal to (so a signal mask, which holds for one thread, would not do: tqdm's monitor
    would take it), so the main thread's handler records it meanwhile; in other threads (the
    service's) no Ctrl-C is raised, and there is nothing to hold."""
    if threading.current_thread() is not threading.main_thread():
        yield HeldInterrupt(signal.SIG_IGN)
        return
    held = HeldInterrupt()
    held.previous = signal.signal(signal.SIGINT, lambda signum, frame: setattr(held, "arrived", True))
    try:
        yield held
    finally:
        signal.signal(signal.SIGINT, held.previous)

