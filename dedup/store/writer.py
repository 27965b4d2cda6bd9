"""SQLite storage: the only module that writes the database (storage contract in DESIGN.md).

A scan is written into a new temporary file beside the target and moved over it with one atomic
``os.replace`` at the very end. An interrupted scan therefore leaves the previous complete
result in place (plus, after a SIGKILL, a stray ``.dedup-*.tmp`` file that the next scan of
the same target removes); readers never see half a result.

Rows are loaded in large transactions with the indexes created after the load.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import sqlite3
import tempfile
import urllib.parse
from pathlib import Path
from typing import Iterable, Sequence

import sqlite_utils

from ..atomic import interrupts_held
from ..errors import DatabaseError

SCHEMA_VERSION = 7  # 2: documents.source, record, date, meta (JSONL and WARC inputs);
# 3: what a later scan reuses (keys with their signatures, checked pairs, file hashes, changes);
# 4: checked.live (the pairs that are candidates now), key texts apart from the signatures;
# 5: keys.anchors join two shingles lsh.ANCHOR_GAP apart (no longer one shingle each);
# 6: passages (runs of paragraphs copied together), views copies and passages_text;
# 7: no key_texts (a key's text is made again from its paragraphs: lookup.stored_key_texts)
ROWS_PER_STATEMENT = 256  # rows of one INSERT statement (Writer.insert)
MAX_BOUND_VALUES = 32766  # SQLite's limit of values bound to one statement (since 3.32)


class InterruptedAfterSaving(KeyboardInterrupt):
    """A Ctrl-C that arrived while the result was being committed: the commit was finished
    first, so the database holds the new result (the CLI says so instead of 'as before')."""


_TABLES = {
    "documents": (
        {
            "id": int,
            "path": str,
            "encoding": str,
            "size": int,
            "sha1": str,
            "n_paragraphs": int,
            "n_chars": int,
            "source": str,  # the input file (relative path; "-" for stdin)
            "record": int,  # 1-based line of a JSONL record or CSV row, Parquet row, position of a WARC record; NULL for files
            "date": str,  # the record's date as given (--date-field, WARC-Date); NULL when undated
            "meta": str,  # the record's other fields as a JSON object; NULL for files
        },
        {},
    ),
    "paragraphs": (
        {
            "id": int,
            "doc_id": int,
            "idx": int,
            "line_start": int,
            "line_end": int,
            "char_start": int,
            "char_end": int,
            "text": str,
            "key_len": int,
            "fingerprint": bytes,
            "cluster_id": int,
            "key_id": int,  # keys.id; NULL for an empty key
        },
        {"foreign_keys": [("doc_id", "documents", "id")]},
    ),
    "clusters": (
        {"id": int, "canonical_id": int, "size": int, "n_documents": int, "reason": str, "boilerplate": int},
        {"foreign_keys": [("canonical_id", "paragraphs", "id")]},
    ),
    "members": (
        {"paragraph_id": int, "cluster_id": int, "similarity": float, "relation": str, "containment": float},
        {"foreign_keys": [("paragraph_id", "paragraphs", "id"), ("cluster_id", "clusters", "id")]},
    ),
    # runs of consecutive paragraphs copied together (passages.py); the source side holds the
    # canonicals, the copy side may be the same document
    "passages": (
        {
            "id": int,
            "source_doc_id": int,
            "source_line_start": int,
            "source_line_end": int,
            "copy_doc_id": int,
            "copy_line_start": int,
            "copy_line_end": int,
            "paragraphs": int,  # copied paragraphs in the run
            "characters": int,  # their characters, copy side
            "similarity": float,  # character-weighted mean similarity of the copied paragraphs
        },
        {"foreign_keys": [("source_doc_id", "documents", "id"), ("copy_doc_id", "documents", "id")]},
    ),
    "runs": (
        {
            "id": int,
            "root": str,
            "config": str,
            "version": str,
            "started": str,
            "finished": str,
            "counts": str,
            "timings": str,
            "skipped": str,
        },
        {},
    ),
    "meta": ({"key": str, "value": str}, {}),
    # What the next scan of the same corpus reuses instead of computing again (see update.py):
    # every distinct key with its MinHash band hashes and anchors (uint32 arrays as bytes; NULL
    # for keys too short to sign), every pair ever verified (``live``: a candidate of the latest
    # run; the others are kept scores), and the input files. A key's text is not stored: it is
    # its paragraphs' text normalized (lookup.stored_key_texts).
    "keys": (
        {"id": int, "fp": bytes, "key_len": int, "set_size": int, "bands": bytes, "anchors": bytes},
        {},
    ),
    "checked": ({"a": int, "b": int, "jaccard": float, "containment": float, "live": int}, {}),
    "files": ({"source": str, "sha1": str, "size": int, "mtime_ns": int}, {}),
    "changes": (
        {"id": int, "run_id": int, "kind": str, "cluster_id": int, "other_cluster_id": int, "detail": str},
        {},
    ),
}


NEW_PARAGRAPH_COLUMNS = tuple(c for c in _TABLES["paragraphs"][0] if c != "cluster_id")
"""The columns of a paragraph row as read: its cluster id comes with the clusters."""

PARAGRAPH_VALUES = {"fingerprint": "nullif(?, x'')", "key_id": "nullif(?, 0)"}
"""How a scan binds a new paragraph row's fingerprint and key id (``Writer.insert``'s ``values``):
the fingerprint as a bytearray, empty for none, and key id 0 for none. The sqlite3 module binds
int, str and bytearray directly, but bytes and None through its adapter lookup: 2.6 us a row of
the read stage's main thread, under the interpreter lock (50k rows: 0.27 -> 0.15 s)."""


def stored_value(value):
    """What ``PARAGRAPH_VALUES``'s nullif stores of a bound value: None for an empty bytearray or
    0, a bytearray as bytes (what a sink without SQL, ``memory.MemorySink``, keeps)."""
    if not value:
        return None
    return bytes(value) if isinstance(value, bytearray) else value


def table_columns(table: str) -> dict[str, type]:
    """The columns of ``table`` in order, with their Python types (for other writers of the
    same tables, such as the Spark engine's Parquet output)."""
    return dict(_TABLES[table][0])


_PRIMARY_KEYS = {"members": "paragraph_id", "meta": "key", "checked": ("a", "b"), "files": "source"}
# What the readers look rows up by. Not paragraphs.fingerprint: an exact copy is found through
# keys.fp and paragraphs.key_id (its index took a quarter of the commit's index builds).
_INDEXES = [
    ("paragraphs", ["doc_id", "idx"]),
    ("paragraphs", ["cluster_id"]),
    ("paragraphs", ["key_id"]),
    ("members", ["cluster_id"]),
    ("documents", ["path"]),
    ("documents", ["source"]),
    ("keys", ["fp"]),
    ("passages", ["source_doc_id"]),
    ("passages", ["copy_doc_id"]),
]

# Views for readers that browse the tables (Datasette): each row reads without a join.
_VIEWS = {
    # every copy beside its canonical
    "copies": """
        SELECT m.cluster_id, m.relation, m.similarity, m.containment,
               d.path AS copy_path, p.line_start AS copy_line_start, p.line_end AS copy_line_end, p.text AS copy_text,
               cd.path AS canonical_path, cp.line_start AS canonical_line_start, cp.line_end AS canonical_line_end,
               cp.text AS canonical_text, c.size AS cluster_size, c.n_documents AS cluster_documents, c.boilerplate
        FROM members m
        JOIN paragraphs p ON p.id = m.paragraph_id JOIN documents d ON d.id = p.doc_id
        JOIN clusters c ON c.id = m.cluster_id
        JOIN paragraphs cp ON cp.id = c.canonical_id JOIN documents cd ON cd.id = cp.doc_id
        WHERE m.relation != 'canonical'""",
    # every passage with its documents' paths and both sides' text (paragraphs joined by newlines)
    "passages_text": """
        SELECT ps.id, sd.path AS source_path, ps.source_line_start, ps.source_line_end,
               cd.path AS copy_path, ps.copy_line_start, ps.copy_line_end, ps.paragraphs, ps.characters, ps.similarity,
               (SELECT group_concat(text, char(10)) FROM (SELECT text FROM paragraphs
                  WHERE doc_id = ps.source_doc_id AND line_start >= ps.source_line_start AND line_end <= ps.source_line_end
                  ORDER BY idx)) AS source_text,
               (SELECT group_concat(text, char(10)) FROM (SELECT text FROM paragraphs
                  WHERE doc_id = ps.copy_doc_id AND line_start >= ps.copy_line_start AND line_end <= ps.copy_line_end
                  ORDER BY idx)) AS copy_text
        FROM passages ps JOIN documents sd ON sd.id = ps.source_doc_id JOIN documents cd ON cd.id = ps.copy_doc_id""",
}


def hold(path: Path) -> int | None:
    """Take an exclusive advisory lock (flock) on a temporary file of a running scan and keep
    it until ``release``: the file is in use. SQLite locks with fcntl, which flock does not
    disturb. None where flock does not exist."""
    try:
        import fcntl
    except ImportError:
        return None
    fd = os.open(path, os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_EX)
    return fd


def release(fd: int | None) -> None:
    if fd is not None:
        os.close(fd)  # closing the descriptor drops its flock


def remove_stale(folder: Path, pattern: str) -> None:
    """Delete the temporary files matching ``pattern`` that no running process holds (see
    ``hold``): those a killed scan left. Without flock, none is deleted."""
    try:
        import fcntl
    except ImportError:
        return
    for path in folder.glob(pattern):
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            continue  # held: a scan or update is running and needs it
        finally:
            os.close(fd)
        path.unlink(missing_ok=True)


def connect_read_only(path: str | os.PathLike, timeout: float = 30, check_same_thread: bool = True) -> sqlite3.Connection:
    """A read-only connection; the path is escaped for SQLite's URI syntax ("#" and "?" in a
    file name would otherwise end it, and a mistyped path would create an empty file)."""
    uri = "file:" + urllib.parse.quote(str(Path(path).absolute())) + "?mode=ro"
    return sqlite3.connect(uri, uri=True, timeout=timeout, check_same_thread=check_same_thread)


def is_dedup_db(path: Path) -> bool:
    try:
        conn = connect_read_only(path)
        try:
            names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        finally:
            conn.close()
    except sqlite3.DatabaseError:
        return False
    return {"runs", "meta", "paragraphs"} <= names


def open_existing(path: str | os.PathLike) -> sqlite_utils.Database:
    """Open a database written by ``dedup scan`` for reading, or raise DatabaseError saying why not."""
    p = Path(path)
    if not p.exists():
        raise DatabaseError(f"{p}: no such database; run 'dedup scan CORPUS --db {p}' first")
    if not is_dedup_db(p):
        raise DatabaseError(f"{p}: not a dedup database (no runs/paragraphs tables); pass the file 'dedup scan' wrote")
    db = sqlite_utils.Database(connect_read_only(p))
    version = db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    if version is None or int(version[0]) != SCHEMA_VERSION:
        found = version[0] if version else "none"
        raise DatabaseError(
            f"{p}: schema version {found}, this dedup reads version {SCHEMA_VERSION}; scan the corpus again"
        )
    return db


def previous_root(path: Path) -> str | None:
    """The corpus root of the latest run stored in ``path`` (None if it holds no run)."""
    conn = connect_read_only(path)
    try:
        row = conn.execute("SELECT root FROM runs ORDER BY id DESC LIMIT 1").fetchone()
    finally:
        conn.close()
    return row[0] if row else None


def check_target(path: str | os.PathLike, root: str, force: bool) -> None:
    """Refuse to overwrite anything but a dedup database of the same corpus (unless ``force``).

    Rescanning the same corpus replaces its previous result; a database of another corpus is
    replaced only with ``force``; a file that is not a dedup database is never overwritten.
    """
    p = Path(path)
    if p.is_dir():
        raise DatabaseError(f"{p}: is a folder; pass a file path to --db")
    if not p.exists() or p.stat().st_size == 0:
        return
    if not is_dedup_db(p):
        raise DatabaseError(f"{p}: exists and is not a dedup database; choose another --db path")
    old = previous_root(p)
    if old is not None and old != root and not force:
        raise DatabaseError(f"{p} holds a scan of {old}; pass --force to replace it, or --db to write elsewhere")


def _leave_wal(target: Path) -> None:
    """Take a database that the service switched to WAL back to a rollback journal before a
    new file replaces it: a ``-wal`` file left beside the new database would be read as part
    of it. That needs no other connection open; with one (a running ``dedup serve``), refuse."""
    if not Path(f"{target}-wal").exists() or not target.exists():
        return
    try:
        conn = sqlite3.connect(target, timeout=5)
        try:
            mode = conn.execute("PRAGMA journal_mode = DELETE").fetchone()[0]
        finally:
            conn.close()
    except sqlite3.OperationalError:
        mode = "wal"
    if mode.lower() != "delete":
        raise DatabaseError(
            f"{target} is open in WAL mode by another process (dedup serve?); stop it before a full scan replaces "
            "the database, or pass another --db"
        )


class Writer:
    """Builds a complete database in a temporary file, then moves it over the target atomically.

    ``Writer.in_place(target)`` instead changes an existing database in one transaction (an
    update: see update.py), committed by ``commit`` or rolled back by ``abort``: copying a
    database of hundreds of megabytes to change a few rows would cost more than the change.
    """

    def __init__(self, target: str | os.PathLike, *, in_place: bool = False):
        self.target = Path(target)
        self.in_place = in_place
        self.committed = False
        self.target.parent.mkdir(parents=True, exist_ok=True)
        remove_stale(self.target.parent, f".dedup-{self.target.name}-*.tmp")  # left by a killed run
        self._lock = None
        if in_place:
            self.tmp = self.target
            # one transaction, in the database's own journal mode (a scan leaves a rollback
            # journal; the service switches to WAL so that readers never wait for a writer)
            conn = sqlite3.connect(self.target, isolation_level=None, timeout=600)
            # In rollback-journal mode a writer whose changes outgrow its page cache must lock
            # readers out until it commits; with room for them (256 MB at most, used only as
            # needed) readers wait only for the commit itself.
            conn.execute("PRAGMA cache_size = -262144")
            conn.execute("BEGIN IMMEDIATE")
            self.db = sqlite_utils.Database(conn)
            return
        # beside the target, whatever --tmp-dir says: the os.replace that publishes it must not
        # cross filesystems
        fd, tmp = tempfile.mkstemp(dir=self.target.parent, prefix=f".dedup-{self.target.name}-", suffix=".tmp")
        os.close(fd)
        self.tmp = Path(tmp)
        self._lock = hold(self.tmp)  # tells a concurrent run's cleanup that this file is in use
        self.db = None
        try:
            self.db = sqlite_utils.Database(self.tmp)
            # The temporary file is thrown away on any failure, so it needs no journal of its own.
            self.db.execute("PRAGMA journal_mode = OFF")
            self.db.execute("PRAGMA synchronous = OFF")
            # Paragraph rows hold their text (~700 bytes of Chinese a row in scraped dumps): 16 KiB
            # pages load them in half the time of the default 4 KiB (measured on 36k such rows).
            self.db.execute("PRAGMA page_size = 16384")
            for name, (columns, extra) in _TABLES.items():
                self.db[name].create(columns, pk=_PRIMARY_KEYS.get(name, "id"), **extra)
            for name, sql in _VIEWS.items():
                self.db.execute(f"CREATE VIEW [{name}] AS {sql}")
            self.db["meta"].insert({"key": "schema_version", "value": str(SCHEMA_VERSION)})
        except BaseException:  # a full disk can stop it this early
            self.abort()
            raise

    @classmethod
    def updating(cls, target: str | os.PathLike) -> "Writer":
        return cls(target, in_place=True)

    def insert(self, table: str, rows: Iterable[tuple], columns: Sequence[str] | None = None,
               values: dict[str, str] | None = None) -> None:
        """Append rows given as tuples in the table's column order (see ``_TABLES``), or in the
        order of ``columns`` (the others left NULL); ``values`` maps a column to the SQL that
        makes its value of the bound one (``PARAGRAPH_VALUES``), else the value is bound as it is.

        Rows go on sqlite-utils' connection, ``ROWS_PER_STATEMENT`` to one multi-row INSERT:
        ``insert_all`` checks every value for JSON conversion, which cost more than the inserts
        themselves (5.8 s of 10 s for 70k paragraphs), and ``executemany`` steps once a row,
        letting go of the interpreter lock and waiting to take it back each time, behind the
        read stage's threads (100 MB read stage: 3.8 -> 2.4 s). A column that is NULL in every
        row is better left out than bound: the sqlite3 module binds a None (or bytes) through
        its adaptation lookup, ~1.6 us a value (paragraph rows without their cluster_id: 0.72 ->
        0.47 s for 148k rows).
        """
        columns = list(_TABLES[table][0]) if columns is None else list(columns)
        row = "(" + ", ".join((values or {}).get(c, "?") for c in columns) + ")"
        head = f"INSERT INTO [{table}] ({', '.join(columns)}) VALUES "
        per = max(1, min(ROWS_PER_STATEMENT, MAX_BOUND_VALUES // len(columns)))
        full = head + ", ".join([row] * per)
        width = len(columns)
        rows = iter(rows)
        while batch := list(itertools.islice(rows, per)):
            if any(len(r) != width for r in batch):  # flattened, a short row would shift every value after it
                raise ValueError(f"insert into {table}: a row without {width} values")
            sql = full if len(batch) == per else head + ", ".join([row] * len(batch))
            self.db.conn.execute(sql, list(itertools.chain.from_iterable(batch)))

    def set_cluster_ids(self) -> None:
        """Copy each member's cluster id onto its paragraph row (NULL for the others).

        Only rows whose cluster id changes are written: after an update that keeps cluster ids,
        that is a few rows, not every paragraph (whose pages hold the text).
        """
        self.db.execute(
            "UPDATE paragraphs SET cluster_id = NULL WHERE cluster_id IS NOT NULL "
            "AND NOT EXISTS (SELECT 1 FROM members m WHERE m.paragraph_id = paragraphs.id)"
        )
        self.db.execute(
            "UPDATE paragraphs SET cluster_id = m.cluster_id FROM members m "
            "WHERE m.paragraph_id = paragraphs.id AND paragraphs.cluster_id IS NOT m.cluster_id"
        )

    def commit(self, run: dict) -> None:
        """Write the run row, build the indexes, and replace the target in one atomic step."""
        for key in ("config", "counts", "timings", "skipped"):
            if not isinstance(run.get(key), str):
                run[key] = json.dumps(run.get(key), ensure_ascii=False, sort_keys=True)
        self.insert("runs", [tuple(run.get(c) for c in _TABLES["runs"][0])])
        for table, cols in _INDEXES:
            self.db[table].create_index(cols, if_not_exists=True)
        # Ctrl-C is held through the commit, then said to have come after it: one between the
        # COMMIT (or the os.replace) and the end reached abort, whose ROLLBACK of a finished
        # transaction printed a traceback, and the user was told the database was as before
        with interrupts_held() as held:
            self._commit()
        if held.arrived and held.previous != signal.SIG_IGN:
            raise InterruptedAfterSaving

    def _commit(self) -> None:
        if self.in_place:
            self.db.execute("COMMIT")
            self.committed = True
            self.db.conn.close()
            return
        self.db.conn.commit()
        self.db.execute("PRAGMA journal_mode = DELETE")
        self.db.conn.close()
        _leave_wal(self.target)
        with open(self.tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(self.tmp, self.target)
        self.committed = True
        release(self._lock)
        dir_fd = os.open(self.target.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    def abort(self) -> None:
        """Throw the temporary file away (or roll the transaction back); the target is untouched.
        Nothing to do once the result is committed (an interrupt right after it)."""
        if self.committed:
            return
        if self.in_place:
            conn = self.db.conn
            try:
                # SQLite rolls a transaction back itself after some errors (a full disk, for one):
                # a ROLLBACK then fails, and would hide the error that ended the update
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
            except sqlite3.Error:
                pass  # the journal left beside the database is rolled back by its next reader
            finally:
                conn.close()
            return
        try:
            if self.db is not None:
                self.db.conn.close()
        finally:
            self.tmp.unlink(missing_ok=True)
            release(self._lock)
