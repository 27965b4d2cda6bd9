"""Write output files so that a reader (or a crash) never sees half of one.

Every file dedup writes for a user (exports, cleaned documents, manifests) goes to a temporary
name in the target's own folder, is flushed to disk, and is moved over the target with one
``os.replace``: the target is the old file or the complete new one, never a mix. The database
has its own version of this in store.py.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import tempfile
import threading
from pathlib import Path
from typing import Callable, TypeVar

from .errors import DedupError

T = TypeVar("T")
_TEMPORARY = re.compile(r"\..+-[A-Za-z0-9_]{8}\.tmp")  # the names mkstemp gives in write_atomically


def is_temporary(name: str) -> bool:
    """Is ``name`` that of a temporary file of ``write_atomically``? Only a run killed outright
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


def write_atomically(target: Path, write: Callable[[Path], T]) -> T:
    """Run ``write(temporary path)``, then move the file it wrote over ``target``.

    On any failure (an exception, Ctrl-C) the temporary file is removed and ``target`` is left
    as it was. Raises ``DedupError`` when ``target`` is a folder or its folder does not exist.
    """
    target = Path(target)
    if target.is_dir():
        raise DedupError(f"{target}: is a folder; pass a file path")
    folder = target.parent
    if not folder.is_dir():
        raise DedupError(f"{folder}: no such folder; create it first")
    fd, name = tempfile.mkstemp(dir=folder, prefix=f".{target.name}-", suffix=".tmp")
    os.close(fd)
    tmp = Path(name)
    try:
        result = write(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.chmod(tmp, _new_file_mode())  # mkstemp makes it 0600; a new file is normally 0666 - umask
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return result


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

