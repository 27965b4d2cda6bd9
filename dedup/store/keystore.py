"""Distinct normalized keys on disk, so memory does not grow with the text of the corpus.

A scan needs every distinct key twice more after reading: to sign it, and to verify the
candidate pairs it is part of. Holding them as Python strings costs about as much memory as
the corpus itself (2 bytes a Han character plus 50 per string); here they are appended as UTF-8
to a temporary file and read back through ``mmap``, and memory holds one 8-byte offset per key.

The file is scratch (see atomic.py): it goes where ``--tmp-dir`` says, and a write that finds no
room raises ``WriteError`` naming it. It is written with ``os.write`` from a buffer of our own,
never through Python's buffered file, so closing it never has data left to write.
"""

from __future__ import annotations

import mmap
import os
import tempfile
from array import array
from pathlib import Path
from typing import Iterable

from ..errors import writing

ELSEWHERE = "point --tmp-dir elsewhere"


def _write_all(fd: int, data: bytes) -> None:
    """Write every byte of ``data`` at the file's end (a write may take only part of it)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


class KeyStore:
    """Append-only store of keys, addressed by their index; deleted when closed.

    >>> with KeyStore() as store:
    ...     store.append("疫情防控"); store.append("abc"); store.append("工作")
    ...     store.get([2, 0])
    0
    1
    2
    ['工作', '疫情防控']
    """

    def __init__(self, folder: str | os.PathLike | None = None, prefix: str = ".dedup-keys-", what: str = "temporary keys"):
        self.what = what
        with writing(folder or tempfile.gettempdir(), what, ELSEWHERE):
            fd, name = tempfile.mkstemp(prefix=prefix, suffix=".tmp", dir=folder)
        self.path = Path(name)
        self._file = os.fdopen(fd, "w+b", buffering=0)
        try:  # in use: a concurrent run's cleanup of stale temporary files leaves it alone
            import fcntl

            fcntl.flock(fd, fcntl.LOCK_EX)
        except ImportError:
            pass
        self._offsets = array("q", [0])
        self._pending: list[bytes] = []  # appended, not yet written: one write a megabyte
        self._pending_size = 0
        self._map: mmap.mmap | None = None

    def __len__(self) -> int:
        return len(self._offsets) - 1

    def append(self, key: str) -> int:
        """Store ``key``; return its index."""
        return self.append_utf8(key.encode("utf-8"))

    def append_utf8(self, data: bytes) -> int:
        """Store a key given as its UTF-8 bytes (as workers encode it); return its index."""
        self.extend_utf8([data])
        return len(self._offsets) - 2

    def extend_utf8(self, parts: list[bytes]) -> None:
        """Store several keys given as UTF-8 bytes, in order (``append_utf8`` of each)."""
        if not parts:
            return
        data = b"".join(parts)
        self._pending.append(data)
        self._pending_size += len(data)
        end = self._offsets[-1]
        for part in parts:
            end += len(part)
            self._offsets.append(end)
        if self._pending_size >= 1 << 20:
            self._flush()
        if self._map is not None:  # a read map does not see what is appended after it
            self._map.close()
            self._map = None

    def _flush(self) -> None:
        if self._pending:
            with writing(self.path, self.what, ELSEWHERE):
                _write_all(self._file.fileno(), b"".join(self._pending))
            self._pending.clear()
            self._pending_size = 0

    def _mapped(self) -> mmap.mmap | None:
        if self._map is None:
            self._flush()
            size = self._offsets[-1]
            self._map = mmap.mmap(self._file.fileno(), size, access=mmap.ACCESS_READ) if size else None
        return self._map

    def buffers(self) -> tuple[object, array]:
        """(the UTF-8 bytes of every key, their int64 offsets): key i is
        ``data[offsets[i]:offsets[i+1]]``. What the compiled core reads, without a string a key."""
        data = self._mapped()
        return (data if data is not None else b""), self._offsets

    def read_view(self, indexes) -> tuple[bytes, "np.ndarray", "np.ndarray"]:
        """(key bytes, offsets, positions): the keys at ``indexes`` read into a buffer of their
        own (the compiled core's pread), so a reader never maps the file; positions index the
        buffer's keys in the order of ``indexes``."""
        import numpy as np

        from .. import compiled

        self._flush()
        wanted = np.ascontiguousarray(indexes, dtype=np.int64)
        distinct, positions = np.unique(wanted, return_inverse=True)
        data, offsets = compiled.read_keys(self._file.fileno(), self._offsets, distinct)
        return data, offsets, positions.astype(np.int64)

    def get(self, indexes: Iterable[int]) -> list[str]:
        """The keys at ``indexes``, in that order."""
        data, offsets = self._mapped(), self._offsets
        if data is None:
            return ["" for _ in indexes]
        return [data[offsets[i] : offsets[i + 1]].decode("utf-8") for i in indexes]

    def close(self) -> None:
        try:
            if self._map is not None:
                self._map.close()
                self._map = None
            self._file.close()
        finally:
            self.path.unlink(missing_ok=True)

    def __enter__(self) -> "KeyStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
