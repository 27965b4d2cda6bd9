"""Update a scan when its corpus changes, without doing the whole scan again.

A scan stores what a later one can reuse (store.py, schema 3): every distinct key with its
MinHash band hashes and anchors, every candidate pair it verified with its scores, and the
SHA-1 of every input file. An update of the same corpus with the same matching options then

1. reads, normalizes and fingerprints only the files that are new or whose SHA-1 changed, and
   drops the documents of deleted files (``dedup add`` and ``dedup remove`` name the files
   instead of comparing the folder);
2. signs only keys it has never seen, and verifies only candidate pairs never verified: the
   candidates themselves are found again over all keys, as a scan finds them, so the pairs,
   the edges, the clusters and their canonicals are exactly those of a full scan of the new
   corpus (a test checks it);
3. clusters again from all edges (cheap next to reading and verifying), keeps the id of every
   cluster whose canonical, or whose old canonical, is still in it, and records each change in
   the ``changes`` table: ``canonical`` (a new canonical replaced the old one), ``merged`` (a
   cluster's members joined another cluster), ``dissolved`` (its paragraphs are gone or no
   longer copies), ``new``.

The update is one SQLite transaction on the database (with a rollback journal), so an
interrupted update leaves the previous result: copying the database to change a few of its
rows would cost more than the change. Paragraph and document ids of unchanged
files stay as they were; new rows get new ids.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .config import ScanConfig
from .corpus import CorpusFileError, Skipped, _is_text_name, relative_path
from .errors import CorpusError
from .keystore import KeyStore
from .normalize import make_normalizer
from .store import SCHEMA_VERSION, Writer, _is_dedup_db, connect_read_only

UNCOMPARED = ("workers",)  # options that never change a result: an update may differ in them


@dataclass(frozen=True)
class Reuse:
    """What an earlier scan computed: signatures by key fingerprint, scores by pair of keys.id."""

    row_of: dict[bytes, int]  # key fingerprint -> its row in the arrays below
    set_sizes: np.ndarray
    bands: np.ndarray  # (rows, bands) uint32
    anchor_offsets: np.ndarray  # row i's anchors are anchor_values[anchor_offsets[i]:anchor_offsets[i + 1]]
    anchor_values: np.ndarray
    checked_codes: np.ndarray  # sorted (a << 32) | b, a < b
    checked_jaccard: np.ndarray
    checked_containment: np.ndarray


@dataclass
class Plan:
    """Which sources an update reads again and which it keeps, in corpus order."""

    sources: list[str]  # every source of the updated corpus, in corpus order
    to_read: dict[str, Path]  # sources read from disk (new or changed)
    deleted: list[str] = field(default_factory=list)  # sources dropped
    file_rows: list[tuple[str, str, int, int]] = field(default_factory=list)  # files table rows to (re)write
    documents: dict[str, list] = field(default_factory=dict)  # sources given as Documents (the service)


def _matching(config_json: str) -> dict:
    stored = json.loads(config_json)
    return {k: v for k, v in stored.items() if k not in UNCOMPARED}


def can_update(db_path: Path, root: str, config: ScanConfig) -> bool:
    """Does ``db_path`` hold a scan of ``root`` that this config can update?"""
    if not db_path.exists() or not _is_dedup_db(db_path):
        return False
    conn = connect_read_only(db_path)
    try:
        version = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        if version is None or int(version[0]) != SCHEMA_VERSION:
            return False
        run = conn.execute("SELECT root, config, version FROM runs ORDER BY id DESC LIMIT 1").fetchone()
    finally:
        conn.close()
    from . import __version__

    # another version may normalize or sign differently: its keys and ours would not mix
    return run is not None and run[0] == root and run[2] == __version__ and _matching(run[1]) == _matching(config.to_json())


def plan_folder(conn, files: list[Path], root: Path) -> Plan:
    """Compare the corpus folder with the files of the stored scan. A file whose size and
    modification time are as stored is taken as unchanged, as git and rsync do (``--full``
    reads everything); any other is hashed, and read again only if its SHA-1 differs."""
    from .scan import file_rows

    stored = {source: (sha1, size, mtime) for source, sha1, size, mtime in conn.execute("SELECT source, sha1, size, mtime_ns FROM files")}
    by_rel = {relative_path(f, root): f for f in files}
    to_hash = []
    for rel, path in by_rel.items():
        try:
            st = path.stat()
        except OSError:
            to_hash.append(path)
            continue
        old = stored.get(rel)
        if old is None or (old[1], old[2]) != (st.st_size, st.st_mtime_ns):
            to_hash.append(path)
    rows = list(file_rows(to_hash, root))
    hashed = {rel for rel, *_ in rows}
    to_read = {rel: by_rel[rel] for rel, sha1, *_ in rows if stored.get(rel, (None,))[0] != sha1}
    # a file that could not be read (hence has no hash) is read again, and reported again
    to_read.update({relative_path(p, root): p for p in to_hash if relative_path(p, root) not in hashed})
    deleted = sorted(set(stored) - set(by_rel))
    # documents that came from no file of the folder (added through the service) stay
    given = {s for (s,) in conn.execute("SELECT DISTINCT source FROM documents")} - set(stored)
    return Plan(sorted(set(by_rel) | given), to_read, deleted, rows)


def plan_add(conn, files: list[Path], root: Path) -> Plan:
    """``dedup add``: read these files (inside the scanned root) if new or changed, keep everything else."""
    from .scan import file_rows

    sources = {s for (s,) in conn.execute("SELECT DISTINCT source FROM documents")}
    to_read = {}
    root = root.absolute()
    for path in files:
        try:  # absolute, not resolved: a symlink is named as the scan names it
            rel = relative_path(path.absolute(), root)
        except ValueError:
            raise CorpusError(f"{path} is outside the scanned corpus {root}; copy it there first") from None
        if any(part.startswith(".") for part in Path(rel).parts) or not _is_text_name(path.name):
            raise CorpusError(f"{path}: a scan of the corpus would not read it (hidden, or not an input suffix); rename it first")
        to_read[rel] = path.absolute()
    stored = dict(conn.execute("SELECT source, sha1 FROM files"))
    rows = list(file_rows(list(to_read.values()), root))
    rows = [r for r in rows if stored.get(r[0]) != r[1]]  # unchanged: nothing to do
    changed = {r[0] for r in rows}
    return Plan(sorted(sources | set(to_read)), {rel: p for rel, p in to_read.items() if rel in changed}, [], rows)


def plan_remove(conn, paths: list[str]) -> Plan:
    """``dedup remove``: drop these sources (as stored: relative paths), keep everything else."""
    sources = {s for (s,) in conn.execute("SELECT DISTINCT source FROM documents")}
    paths = sorted(set(paths))
    missing = [p for p in paths if p not in sources]
    if missing:
        raise CorpusError(f"{missing[0]}: no such document in the database; 'dedup export DB --table paragraphs' lists them")
    if not sources - set(paths):
        raise CorpusError("that would remove every document; delete the database instead")
    return Plan(sorted(sources - set(paths)), {}, sorted(paths))


def load_reuse(conn, n_bands: int) -> Reuse:
    """The stored signatures and checked pairs, as arrays (one query each, no per-key objects)."""
    fps, sizes, bands, anchors = [], [], [], []
    for fp, size, band_bytes, anchor_bytes in conn.execute("SELECT fp, set_size, bands, anchors FROM keys WHERE bands IS NOT NULL"):
        fps.append(fp)
        sizes.append(size)
        bands.append(band_bytes)
        anchors.append(anchor_bytes or b"")
    lengths = np.fromiter((len(a) // 4 for a in anchors), dtype=np.int64, count=len(anchors))
    offsets = np.zeros(len(anchors) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    rows = conn.execute("SELECT a, b, jaccard, containment FROM checked").fetchall()
    a, b, jac, con = (np.array(col) for col in zip(*rows)) if rows else (np.zeros(0, np.int64),) * 2 + (np.zeros(0),) * 2
    codes = (a.astype(np.int64) << 32) | b.astype(np.int64)
    order = np.argsort(codes)
    return Reuse(
        {fp: i for i, fp in enumerate(fps)},
        np.array(sizes, dtype=np.int64),
        np.frombuffer(b"".join(bands), dtype="<u4").reshape(-1, n_bands),
        offsets,
        np.frombuffer(b"".join(anchors), dtype="<u4"),
        codes[order],
        jac[order],
        con[order],
    )


def _identities(conn, where: str = "") -> dict[int, tuple[str, bytes]]:
    """paragraph id -> (document path, key fingerprint): what names a paragraph across updates,
    since a file read again gives its paragraphs new ids."""
    return {
        pid: (path, fp)
        for pid, path, fp in conn.execute(
            f"SELECT p.id, d.path, p.fingerprint FROM paragraphs p JOIN documents d ON d.id = p.doc_id WHERE p.fingerprint IS NOT NULL {where}"
        )
    }


def _snapshot(conn) -> dict[int, tuple[str, bytes]]:
    """Old clusters: id -> identity of their canonical paragraph."""
    names = _identities(conn, "AND p.id IN (SELECT canonical_id FROM clusters)")
    return {cid: names[pid] for cid, pid in conn.execute("SELECT id, canonical_id FROM clusters") if pid in names}


def stable_ids(old: dict[int, tuple[str, bytes]], run_id: int, changes: list[tuple], conn) -> Callable:
    """``assign_ids`` for ``scan._store_clusters``: keep old cluster ids, record what changed.

    A new cluster keeps the id of the old cluster whose canonical it still has; failing that,
    of the old cluster whose canonical is now one of its members (a ``canonical`` change); an
    old cluster whose canonical joined a cluster that already kept another id is ``merged``.
    """

    def assign(cluster_rows: list[tuple], member_rows: list[tuple]) -> tuple[list[tuple], list[tuple]]:
        names = _identities(conn)
        owner = {names[pid]: cid for pid, cid, *_ in member_rows}
        canonical = {row[0]: names[row[1]] for row in cluster_rows}
        by_old_canonical = {name: cid for cid, name in old.items()}
        mapping: dict[int, int] = {}
        for cid in sorted(canonical):  # same canonical: same cluster
            if canonical[cid] in by_old_canonical:
                mapping[cid] = by_old_canonical[canonical[cid]]
        claimed = set(mapping.values())
        for old_id, name in sorted(old.items()):
            cid = owner.get(name)
            if cid is None or old_id in claimed:
                continue
            claimed.add(old_id)
            if cid not in mapping:  # its old canonical is now a member: a new canonical replaced it
                mapping[cid] = old_id
                changes.append((None, run_id, "canonical", old_id, None, f"new canonical in {canonical[cid][0]}; the old one, in {name[0]}, is a member"))
            else:
                changes.append((None, run_id, "merged", old_id, mapping[cid], f"its canonical, in {name[0]}, is now a member"))
        # never reuse an id, even of a cluster dissolved long ago: readers may still hold it
        used = conn.execute("SELECT max(cluster_id) FROM changes").fetchone()[0] or 0
        next_id = max(list(old) + [used, 0]) + 1
        for cid in sorted(canonical):
            if cid not in mapping:
                mapping[cid] = next_id
                changes.append((None, run_id, "new", next_id, None, f"canonical in {canonical[cid][0]}"))
                next_id += 1
        for old_id in sorted(set(old) - claimed):
            changes.append((None, run_id, "dissolved", old_id, None, "its paragraphs are gone or no longer copies"))
        clusters = sorted(((mapping[r[0]], *r[1:]) for r in cluster_rows), key=lambda r: r[0])
        member_rows = [(pid, mapping[cid], *rest) for pid, cid, *rest in member_rows]
        return clusters, member_rows

    return assign


def update(
    root: Path,
    config: ScanConfig,
    db_path: Path,
    plan_of: Callable,
    *,
    skip_bad: bool,
    skip: Callable[[Skipped], None],
    show_progress: bool,
    timer,
    started: str,
) -> tuple[dict, dict]:
    """Apply a plan (``plan_of(conn) -> Plan``) to the scan in ``db_path``; return (counts, run)."""
    from .scan import (
        Layout,
        _epoch,
        _Keys,
        _match_and_store,
        _prepared,
        document_row,
        prepare_document,
        progress,
        run_row,
        skip_or_raise,
    )

    skipped: list[Skipped] = []

    def skip_and_keep(item: Skipped) -> None:
        skipped.append(item)
        skip(item)

    writer = Writer.updating(db_path)
    store = KeyStore(writer.tmp.parent, prefix=f".dedup-{writer.target.name}-keys-")
    conn = writer.db.conn
    try:
        plan = plan_of(conn)
        run_id = conn.execute("SELECT max(id) FROM runs").fetchone()[0] + 1
        old_clusters = _snapshot(conn)
        gone = sorted(set(plan.deleted) | set(plan.to_read) | set(plan.documents))
        conn.execute("CREATE TEMP TABLE gone (source TEXT PRIMARY KEY)")
        conn.executemany("INSERT INTO gone VALUES (?)", [(s,) for s in gone])
        conn.execute("DELETE FROM paragraphs WHERE doc_id IN (SELECT id FROM documents WHERE source IN (SELECT source FROM gone))")
        conn.execute("DELETE FROM documents WHERE source IN (SELECT source FROM gone)")
        conn.execute("DELETE FROM files WHERE source IN (SELECT source FROM gone)")
        conn.executemany("DELETE FROM files WHERE source = ?", [(row[0],) for row in plan.file_rows])
        writer.insert("files", plan.file_rows)

        stored_keys = {kid: (fp, key, key_len) for kid, fp, key, key_len in conn.execute("SELECT id, fp, CAST(key AS BLOB), key_len FROM keys")}
        id_of_fp = {fp: kid for kid, (fp, _, _) in stored_keys.items()}
        next_key_id = max(list(stored_keys) + [0]) + 1
        next_doc = (conn.execute("SELECT max(id) FROM documents").fetchone()[0] or 0) + 1
        next_para = (conn.execute("SELECT max(id) FROM paragraphs").fetchone()[0] or 0) + 1

        keys = _Keys(store)
        paths: list[str] = []
        para_ids: list[int] = []
        key_ids: list[int] = []
        stored_flags: list[bool] = []
        fresh_keys = [0]  # keys new to the database so far

        def add_key(key: bytes, key_len: int, fp: bytes | None, key_id: int | None = None) -> tuple[int, int | None]:
            """(this run's key index, keys.id) of a paragraph's key; a key seen for the first
            time this run keeps its stored id, or gets the next free one."""
            kid = keys.add(key, key_len, fp)
            if kid < 0:
                return -1, None
            if kid == len(key_ids):  # first time this run
                known = key_id if key_id is not None else id_of_fp.get(fp)
                if known is None:
                    known, fresh_keys[0] = next_key_id + fresh_keys[0], fresh_keys[0] + 1
                    stored_flags.append(False)
                else:
                    stored_flags.append(True)
                key_ids.append(known)
            return kid, key_ids[kid]

        def keep_document(doc_row: tuple, para_rows: list[tuple]) -> None:
            doc_id, path, date = doc_row
            paths.append(path)
            keys.doc_date.append(_epoch(date))
            position = len(paths)
            for pid, line_start, length, key_id in para_rows:
                kid = -1
                if key_id is not None:
                    fp, key, key_len = stored_keys[key_id]
                    kid, _ = add_key(key, key_len, fp, key_id)
                keys.para_key.append(kid)
                keys.para_doc.append(position)
                keys.para_len.append(length)
                keys.para_line.append(line_start)
                para_ids.append(pid)

        to_read = [plan.to_read[s] for s in plan.sources if s in plan.to_read]
        fresh: Iterator = iter(_prepared(to_read, root, config)) if to_read else iter(())
        pending = [None]

        def next_fresh():
            if pending[0] is not None:
                item, pending[0] = pending[0], None
                return item
            return next(fresh, None)

        para_insert, doc_insert = [], []
        normalizer = make_normalizer(config.steps)
        next_ids = {"doc": next_doc, "para": next_para}

        def take(item) -> None:
            """Register a newly prepared document: its rows to insert, its keys for matching."""
            doc = item.doc
            rows = list(item.rows())
            paths.append(doc.path)
            keys.doc_date.append(_epoch(doc.date))
            doc_id = next_ids["doc"]
            next_ids["doc"] += 1
            doc_insert.append(document_row(doc_id, doc, rows))
            for idx, line_start, line_end, char_start, char_end, key_len, text, fp, key in rows:
                kid, key_id = add_key(key, key_len, fp)
                keys.para_key.append(kid)
                keys.para_doc.append(len(paths))
                keys.para_len.append(len(text))
                keys.para_line.append(line_start)
                para_ids.append(next_ids["para"])
                para_insert.append((next_ids["para"], doc_id, idx, line_start, line_end, char_start, char_end, text, key_len, fp, None, key_id))
                next_ids["para"] += 1

        read_stage = timer.stage("read")
        read_stage.__enter__()
        bar = progress(show_progress, total=len(plan.sources), desc="update", unit="file")
        kept = conn.execute(
            """SELECT d.source, d.id, d.path, d.date, p.id, p.line_start, p.char_end - p.char_start, p.key_id
               FROM documents d LEFT JOIN paragraphs p ON p.doc_id = d.id
               ORDER BY d.source, d.id, p.idx"""
        )
        kept_row = [next(kept, None)]
        for source in plan.sources:
            if source not in plan.to_read and source not in plan.documents:
                while kept_row[0] is not None and kept_row[0][0] < source:  # rows of sources read again
                    kept_row[0] = next(kept, None)
                while kept_row[0] is not None and kept_row[0][0] == source:
                    doc_id = kept_row[0][1]
                    doc, rows = kept_row[0][1:4], []
                    while kept_row[0] is not None and kept_row[0][1] == doc_id:
                        if kept_row[0][4] is not None:
                            rows.append(kept_row[0][4:])
                        kept_row[0] = next(kept, None)
                    keep_document(doc, rows)
                bar.update(1)
                continue
            if source in plan.documents:  # given in memory (the service): prepared here
                for doc in plan.documents[source]:
                    take(prepare_document(doc, config.split, normalizer))
                bar.update(1)
                continue
            while (item := next_fresh()) is not None:
                where = item.path if isinstance(item, CorpusFileError) else item.doc.source
                if not (where == source or where.startswith(source + ":") or where.startswith(source + "#")):
                    pending[0] = item
                    break
                if isinstance(item, CorpusFileError):
                    skip_or_raise(item, skip_bad, skip_and_keep)
                    continue
                take(item)
            bar.update(1)
        bar.close()
        if not paths:
            raise CorpusError(f"no readable documents in {root}: every file or record was skipped (see the warnings above)")
        writer.insert("documents", doc_insert)
        writer.insert("paragraphs", para_insert)
        conn.execute("DELETE FROM keys WHERE id NOT IN (SELECT key_id FROM paragraphs WHERE key_id IS NOT NULL)")
        conn.execute("DELETE FROM checked WHERE a NOT IN (SELECT id FROM keys) OR b NOT IN (SELECT id FROM keys)")
        reuse = load_reuse(conn, config.lsh_bands()[0])
        read_stage.__exit__(None, None, None)
        layout = Layout(np.array(para_ids, dtype=np.int64), np.array(key_ids, dtype=np.int64), np.array(stored_flags, dtype=bool))
        changes: list[tuple] = []
        counts = _match_and_store(
            config, keys, paths, writer, timer, show_progress, layout, reuse, stable_ids(old_clusters, run_id, changes, conn)
        )
        writer.insert("changes", changes)
        counts.update(
            files_read=len(plan.to_read),
            files_deleted=len(plan.deleted),
            documents_added=len(doc_insert),
            changes=len(changes),
        )
        run = run_row(run_id, str(root.resolve()), config, started, counts, timer.timings, skipped)
        writer.commit(run)
    except BaseException:
        writer.abort()
        raise
    finally:
        store.close()
    return counts, run

