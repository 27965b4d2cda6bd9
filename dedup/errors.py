"""Domain errors: one line each, naming the problem and the fix.

The library raises these; the CLI turns them into ``Error: <message>`` with exit code 1
(``click.ClickException``). Nothing else should reach a user as a traceback.

A full disk is one rule for every write path (``writing``): whatever writes a file, the
database or a temporary file does it inside ``with writing(path, what, elsewhere)``, which
turns the operating system's and SQLite's ways of saying "no room" into a ``WriteError``
naming the path and the fix. Cleaning up (the temporary files, the previous result kept) stays
with the writer, which knows what it made.
"""

from __future__ import annotations

import contextlib
import errno
import os
import sqlite3


class DedupError(Exception):
    """Base of every error dedup reports to a user; ``str(error)`` is the whole message."""


class CorpusError(DedupError):
    """The corpus cannot be read: a missing folder, no text files, an undecodable file."""


class ConfigError(DedupError):
    """A configuration value is out of range or inconsistent with another one."""


class DatabaseError(DedupError):
    """The database cannot be used: missing, not ours, or holding another corpus."""


class EngineError(DedupError):
    """An engine cannot run here: Spark or Java missing, a cluster that cannot be reached."""


class WriteError(DedupError):
    """A file could not be written for want of room: its filesystem is full, a disk quota or the
    file size limit (``ulimit -f``) was reached. The fields let another front end (the service)
    word it its own way: ``path`` could not be written, ``what`` it was, ``reason`` why, and
    ``fix`` what to do."""

    def __init__(self, path: str | os.PathLike, what: str, reason: str, fix: str):
        self.path, self.what, self.reason, self.fix = str(path), what, reason, fix
        super().__init__(f"{self.path}: cannot write {what}: {reason}; {fix}")


_SQLITE_WRITE_FAILURES = {"SQLITE_IOERR_WRITE", "SQLITE_IOERR_TRUNCATE", "SQLITE_IOERR_SHMSIZE"}


def file_size_limit() -> int | None:
    """The soft file size limit of this process in bytes (``ulimit -f``), None when unlimited.

    >>> file_size_limit() is None or file_size_limit() >= 0
    True
    """
    try:
        import resource
    except ImportError:  # not a Unix: no such limit
        return None
    soft, _ = resource.getrlimit(resource.RLIMIT_FSIZE)
    return None if soft == resource.RLIM_INFINITY else soft


def sqlite_temp_dir() -> str:
    """Where SQLite puts its own temporary files (sorts, temporary tables, a private database):
    the first usable folder of SQLITE_TMPDIR, TMPDIR, /var/tmp, /usr/tmp, /tmp and the current
    one, as SQLite's unix VFS chooses."""
    for folder in (os.environ.get("SQLITE_TMPDIR"), os.environ.get("TMPDIR"), "/var/tmp", "/usr/tmp", "/tmp"):
        if folder and os.path.isdir(folder) and os.access(folder, os.W_OK | os.X_OK):
            return folder
    return "."


def _limit_reason(limit: int) -> str:
    return f"over the file size limit of {limit:,} bytes (ulimit -f)"


def space_problem(error: BaseException) -> tuple[str, str, bool] | None:
    """(why, what to do, whether writing elsewhere helps) when ``error`` says there is no room to
    write: ENOSPC, EDQUOT, EFBIG, or SQLite's SQLITE_FULL (and its write failures under a file
    size limit, which it reports as disk I/O errors: EFBIG reaches it as a failed write). None
    for any other error.

    >>> space_problem(OSError(errno.ENOSPC, "No space left on device"))[0]
    'no space left on the device'
    >>> space_problem(sqlite3.OperationalError("database or disk is full"))[0]
    'no space left on the device (SQLite: database or disk is full)'
    >>> space_problem(OSError(errno.ENOENT, "No such file or directory")) is None
    True
    """
    free_space = "free space on that filesystem"
    if isinstance(error, sqlite3.Error):
        name = getattr(error, "sqlite_errorname", None)
        if name == "SQLITE_FULL" or (name is None and "database or disk is full" in str(error)):
            return "no space left on the device (SQLite: database or disk is full)", free_space, True
        if name in _SQLITE_WRITE_FAILURES or (name is None and str(error) == "disk I/O error"):
            limit = file_size_limit()
            if limit is not None:
                return _limit_reason(limit), "raise the limit", False
            return "a write failed (SQLite: disk I/O error)", "check the disk and the space left on it", True
        return None
    if not isinstance(error, OSError):
        return None
    if error.errno == errno.ENOSPC:
        return "no space left on the device", free_space, True
    if error.errno == errno.EDQUOT:
        return "disk quota exceeded", "free space within your quota", True
    if error.errno == errno.EFBIG:
        limit = file_size_limit()
        if limit is not None:
            return _limit_reason(limit), "raise the limit", False
        return "file too large for its filesystem", "use a filesystem that takes larger files", True
    return None


def _free_bytes(path: str) -> int | None:
    """Bytes free for us on the filesystem of ``path`` (of its nearest existing folder)."""
    path = os.path.abspath(path)
    while True:
        try:
            st = os.statvfs(path)
            return st.f_bavail * st.f_frsize
        except OSError:
            parent = os.path.dirname(path)
            if parent == path:
                return None
            path = parent


def _temp_files_likelier(path: str, temp: str) -> bool:
    """Might SQLite's temporary files, not ``path``, be what filled up? Only when they live on
    another filesystem with less room left (what a failed write took is freed by now on both)."""
    try:
        if os.stat(temp).st_dev == os.stat(_existing(path)).st_dev:
            return False
    except OSError:
        return False
    mine, theirs = _free_bytes(path), _free_bytes(temp)
    return mine is not None and theirs is not None and theirs <= mine


def _existing(path: str) -> str:
    path = os.path.abspath(path)
    while not os.path.exists(path) and os.path.dirname(path) != path:
        path = os.path.dirname(path)
    return path


@contextlib.contextmanager
def writing(path: str | os.PathLike, what: str, elsewhere: str):
    """Turn running out of room inside the block into a ``WriteError`` naming ``path``, ``what``
    it is, and the fix: free space, or ``elsewhere`` (such as "point --db elsewhere"). Any other
    error passes unchanged. ``path`` is the file the user knows (a target, not the temporary file
    written first and removed since); the error's own file name may even be that of the file
    being read (``shutil.copyfile`` names the source).

    SQLite says neither which file filled up nor whether it was one of its own temporary files
    (sorts, temporary tables), which live in ``sqlite_temp_dir()``: when that folder is on
    another filesystem with less room left, the message names it too.
    """
    try:
        yield
    except (OSError, sqlite3.Error) as error:
        problem = space_problem(error)
        if problem is None:
            raise
        reason, remedy, moving_helps = problem
        named = str(path)
        if isinstance(error, sqlite3.Error) and moving_helps and _temp_files_likelier(named, sqlite_temp_dir()):
            reason += f" (there, or in SQLite's temporary files in {sqlite_temp_dir()})"
            elsewhere += ", or --tmp-dir"
        fix = f"{remedy}, or {elsewhere}" if moving_helps else remedy
        raise WriteError(named, what, reason, fix) from error
