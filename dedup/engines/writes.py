"""The writes of a long-lived process (the service): documents posted and removed, one
transaction each, with the stored scan kept equal to a full scan of the same documents.

A posted document is stored under the source ``API_SOURCE + sequence/id``, which sorts after
every file name and after the documents posted before: it is the newest. New documents are
appended through ``delta.append`` (the cost of the documents, not of the index); a document
posted again under an id already stored replaces it, and ``remove`` drops one, both through
``update.py`` (the cost of an update), after which the live corpus is loaded again.
"""

from __future__ import annotations

import gc
import hashlib
import json
import os
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import CorpusError
from ..sources.corpus import Document, normalize_newlines
from ..store.writer import connect_read_only

API_SOURCE = "\U0010ffffapi/"  # sorts after every file name: a posted document is the newest


@dataclass(frozen=True)
class Posted:
    """A document as posted: its text, and optionally its id, date and metadata."""

    text: str
    id: str | None = None
    date: str | None = None
    meta: dict | str | None = None  # a str is the metadata as JSON already (what crosses to ``WriterProcess``)


@dataclass(frozen=True)
class Written:
    """What a write did: the sources it stored, and the keys it re-clustered and added (ids;
    None when it went through a full update, which any reader must take as "everything")."""

    sources: list[str]
    reclustered: np.ndarray | None
    run: int | None = None  # the run it made (an append's)


class Writes:
    """Serialized writes to one database, with its live corpus kept between them."""

    def __init__(self, db_path: str | Path, preload: bool = True):
        self.db_path = Path(db_path)
        self.lock = threading.Lock()
        self.live = None
        self.last: Written | None = None  # what the last write did
        self.deferred_checkpoints = False  # True: the owner runs checkpoint() between writes
        if preload:
            with self.lock:
                self._load()

    def _load(self):
        from .delta import load_live
        from .update import stored_run

        _, config = stored_run(self.db_path, workers=1)
        conn = connect_read_only(self.db_path)
        try:
            conn.execute("BEGIN")  # one snapshot
            self.live = load_live(conn, config)
        finally:
            conn.close()
        # the corpus's millions of objects out of the collector's way: a full collection
        # walking them all paused a write now and then (0.6 s)
        gc.collect()
        gc.freeze()
        return self.live

    def post(self, posted: list[Posted]) -> Written:
        """Store ``posted`` in order, in one transaction."""
        ids = [p.id or hashlib.sha1(p.text.encode("utf-8")).hexdigest()[:16] for p in posted]
        if len(set(ids)) != len(ids):
            raise CorpusError("two documents of the batch have the same id; post them in two requests")
        with self.lock:
            self.last = None
            conn = connect_read_only(self.db_path)
            try:
                earlier = _stored_under(conn, ids)
                last = conn.execute("SELECT max(source) FROM documents WHERE source >= ?", (API_SOURCE,)).fetchone()[0]
            finally:
                conn.close()
            sequence = int(last[len(API_SOURCE):].split("/", 1)[0]) + 1 if last else 1
            docs = [_document(p, doc_id, f"{API_SOURCE}{sequence + i:012d}/{doc_id}") for i, (p, doc_id) in enumerate(zip(posted, ids))]
            if earlier:
                self._update(docs, earlier)
                self.last = Written([d.source for d in docs], None)
            else:
                reclustered = self._append(docs)
                self.last = Written([d.source for d in docs], reclustered, self.live.run_id)
            return self.last

    def remove(self, doc_id: int) -> str:
        """Drop the document ``documents.id = doc_id`` as ``dedup remove`` drops a file's (a
        record of a file goes with the whole file); return its source."""
        with self.lock:
            self.last = None
            conn = connect_read_only(self.db_path)
            try:
                row = conn.execute("SELECT source FROM documents WHERE id = ?", (doc_id,)).fetchone()
            finally:
                conn.close()
            if row is None:
                raise LookupError(doc_id)
            self._update([], [row[0]])
            return row[0]

    def _append(self, docs: list[Document]) -> np.ndarray:
        from ..run import Run
        from .delta import NotAnAppend, append

        for attempt in range(2):
            live = self.live if self.live is not None else self._load()
            self.live = None  # until the append is done: one that fails leaves a corpus to load again
            try:
                self.live, _ = append(self.db_path, live, docs, Run())
            except NotAnAppend:  # the database moved on (an update from outside): load it again
                if attempt:
                    raise
                continue
            self.live.merge_if_due()
            if not self.deferred_checkpoints:
                checkpoint(self.db_path)
            return self.live.last_written
        raise AssertionError("unreachable")

    def _update(self, docs: list[Document], replaces: list[str]) -> None:
        from .update import Plan, apply_to_stored

        def plan_of(conn, config, root) -> Plan:
            sources = {s for (s,) in conn.execute("SELECT DISTINCT source FROM documents")} - set(replaces)
            return Plan(sorted(sources | {d.source for d in docs}), {}, deleted=list(replaces), documents={d.source: [d] for d in docs})

        self.live = None
        apply_to_stored(self.db_path, plan_of, workers=1)


def checkpoint(db_path: str | Path) -> None:
    """Copy the WAL back into the database as far as no reader holds it (a passive checkpoint):
    appends leave it to this, after their answer, instead of doing it inside a commit."""
    conn = sqlite3.connect(db_path)
    try:
        conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
    except sqlite3.Error:  # busy, or the disk full: the next one catches up
        pass
    finally:
        conn.close()


def _stored_under(conn: sqlite3.Connection, ids: list[str]) -> list[str]:
    """Sources of the posted documents stored under any of ``ids``."""
    out = []
    for doc_id in ids:
        out += [s for (s,) in conn.execute("SELECT DISTINCT source FROM documents WHERE source >= ? AND path = ?", (API_SOURCE, doc_id))]
    return out


def _document(posted: Posted, doc_id: str, source: str) -> Document:
    data = posted.text.encode("utf-8")
    meta = posted.meta if isinstance(posted.meta, str) else json.dumps(posted.meta, ensure_ascii=False, sort_keys=True) if posted.meta else None
    return Document(doc_id, normalize_newlines(posted.text), "utf-8", len(data), hashlib.sha1(data).hexdigest(), source=source, date=posted.date, meta=meta)


class WriterProcess:
    """``Writes`` run in a child process (``dedup serve --writer process``): the append's
    Python work runs on another core and never holds the serving process's interpreter lock,
    so queries keep their pace during writes. Same methods and ``last`` as ``Writes``; calls
    are serialized, and errors come back as the same exceptions. The child ends when the pipe
    closes (the server stopped or was killed): a write it is in finishes or rolls back, as
    SQLite makes every transaction."""

    def __init__(self, db_path: str | Path):
        import multiprocessing

        context = multiprocessing.get_context("spawn")  # a fresh interpreter: no threads forked
        self.pipe, child = context.Pipe()
        self.process = context.Process(target=_serve_writes, args=(str(db_path), child, os.getpid()), daemon=True, name="dedup-writer")
        self.process.start()
        child.close()
        self.lock = threading.Lock()
        self.last: Written | None = None
        self._call("ready")  # the live corpus is loaded (or its error raised) before serving

    def _call(self, op: str, *args):
        with self.lock:
            self.pipe.send((op, args))
            status, value = self.pipe.recv()
        if status == "error":
            raise _rebuilt(value)
        return value

    def post(self, posted: list[Posted]) -> Written:
        self.last = None
        # metadata as JSON text: pickle recurses into nested values, and deep ones overflow
        posted = [Posted(p.text, p.id, p.date, json.dumps(p.meta, ensure_ascii=False, sort_keys=True) if p.meta else None) for p in posted]
        self.last = self._call("post", posted)
        return self.last

    def remove(self, doc_id: int) -> str:
        self.last = None
        return self._call("remove", doc_id)


CHECKPOINT_IDLE = 0.05  # seconds without a write before the writer process checkpoints
CHECKPOINT_EVERY = 16  # writes in a row after which it checkpoints anyway (the WAL stays small)


def _serve_writes(db_path: str, pipe, parent: int) -> None:
    """The child of ``WriterProcess``: answer calls until the pipe closes; killed with its
    parent (a write in progress rolls back, as it would in the parent). The WAL is checkpointed
    when no write comes for ``CHECKPOINT_IDLE`` (a crawler posting page after page does not
    wait for one after each: ~10 ms, and its fsync, on the 100 MB dump's index), and at least
    every ``CHECKPOINT_EVERY`` writes."""
    _die_with_parent(parent)
    try:
        writes = Writes(db_path)
        writes.deferred_checkpoints = True
    except BaseException as e:
        writes = None
        failure = _portable(e)
    since = 0  # writes since the last checkpoint
    while True:
        try:
            if since and (since >= CHECKPOINT_EVERY or not pipe.poll(CHECKPOINT_IDLE)):
                checkpoint(db_path)  # idle (or enough writes): the WAL goes back into the database now
                since = 0
            op, args = pipe.recv()
        except (EOFError, OSError):
            return
        if writes is None:
            pipe.send(("error", failure))
            continue
        try:
            pipe.send(("ok", None if op == "ready" else getattr(writes, op)(*args)))
        except Exception as e:
            pipe.send(("error", _portable(e)))
        since += 1


def _die_with_parent(parent: int) -> None:
    """Have the kernel kill this process when its parent dies (Linux ``PR_SET_PDEATHSIG``);
    elsewhere the child ends when the pipe closes."""
    import ctypes
    import signal

    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGKILL))  # 1: PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # it died before the call took effect
        os._exit(1)


def _portable(error: BaseException) -> tuple:
    """An exception as plain data that pickles whatever its constructor takes."""
    from ..errors import WriteError

    fields = (error.path, error.what, error.reason, error.fix) if isinstance(error, WriteError) else (str(error),)
    return type(error).__module__, type(error).__qualname__, fields


def _rebuilt(portable: tuple) -> BaseException:
    """The exception ``_portable`` described (a ``RuntimeError`` naming it when it is not ours)."""
    import importlib

    module, name, fields = portable
    try:
        cls = getattr(importlib.import_module(module), name)
        if isinstance(cls, type) and issubclass(cls, Exception):
            return cls(*fields)
    except (ImportError, AttributeError, TypeError):
        pass
    return RuntimeError(f"{module}.{name}: {fields[0]}")
