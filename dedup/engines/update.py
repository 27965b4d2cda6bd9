"""Update a scan when its corpus changes: work in proportion to the change, end where a full
scan would.

A scan stores what a later one needs (store/writer.py): every distinct key with its MinHash
band hashes and anchors, every pair it verified with its scores (``live`` for the pairs that are
candidates now), and the SHA-1 of every input file. An update of the same corpus with the same
matching options then

1. drops the documents of deleted and changed files, and reads, normalizes and fingerprints only
   new and changed files (``dedup add`` and ``dedup remove`` name the files instead of comparing
   the folder); it signs only keys the database has never seen;
2. finds the candidate pairs again over all keys, from the stored band hashes and anchors (a
   few numpy sorts: the candidate rules look at whole buckets, so this is what keeps them
   exactly a full scan's), and verifies only pairs never verified;
3. re-clusters only the *dirty* keys: the connected components (of the verified edges) that hold
   a key whose paragraphs changed or an edge that appeared or went away. Clustering is done
   component by component and depends only on a component's edges and the relative ranks of its
   keys, which did not change elsewhere, so every other cluster is already what a full scan
   would give, and its rows stay as they are;
4. rewrites the clusters of the dirty keys only, keeping the id of every cluster whose
   canonical, or whose old canonical, is still in it, and records each change in ``changes``:
   ``canonical`` (a new canonical replaced the old one), ``merged`` (a cluster's members joined
   another cluster), ``dissolved`` (its paragraphs are gone or no longer copies), ``new``.
   Boilerplate flags are decided again over all clusters (they count the documents of each site).

Tests check that the result equals a full scan in every row, over runs of random changes. The
update is one SQLite transaction on the database, so an interrupted update leaves the previous
result. Paragraph and document ids of unchanged files stay as they were; new rows get new ids.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..config import MIN_KEY_CHARS, ScanConfig
from ..sources.corpus import CorpusFileError, Skipped, is_utf8, relative_path, shown, why_not_read
from ..errors import CorpusError, DatabaseError, writing
from ..store.keystore import KeyStore
from ..store.lookup import stored_config, stored_key_texts
from ..compiled import make_normalizer
from ..run import Run, no_readable_documents
from ..sources.selection import Selection
from .member_rows import MemberRows, built_rows, changed, moved, positions
from ..store.writer import NEW_PARAGRAPH_COLUMNS, SCHEMA_VERSION, Writer, is_dedup_db, connect_read_only

if TYPE_CHECKING:
    from .local import Assignment, Paragraphs

# Options an update may differ in: workers never change a result, and the file selection is
# applied by listing the folder again, as a full scan does (what it no longer lists is dropped).
UNCOMPARED = ("workers", "include", "exclude")


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
    if not db_path.exists() or not is_dedup_db(db_path):
        return False
    conn = connect_read_only(db_path)
    try:
        version = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        if version is None or int(version[0]) != SCHEMA_VERSION:
            return False
        run = conn.execute("SELECT root, config, version FROM runs ORDER BY id DESC LIMIT 1").fetchone()
    finally:
        conn.close()
    from .. import __version__

    # another version may normalize or sign differently: its keys and ours would not mix
    return run is not None and run[0] == root and run[2] == __version__ and _matching(run[1]) == _matching(config.to_json())


def plan_folder(conn, files: list[Path], root: Path) -> Plan:
    """Compare the corpus folder with the files of the stored scan. A file whose size and
    modification time are as stored is taken as unchanged, as git and rsync do (``--full``
    reads everything); any other is hashed, and read again only if its SHA-1 differs."""
    from .local import file_rows

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
    # so is one the last run skipped (undecodable, binary, a bad record in it): as in a full
    # scan, it is warned about and counted again, and it stops an update without --skip-bad
    to_read.update({file_of(s.path): by_rel[file_of(s.path)] for s in skipped_last_run(conn) if file_of(s.path) in by_rel})
    deleted = sorted(set(stored) - set(by_rel))
    # documents that came from no file of the folder (added through the service) stay
    given = {s for (s,) in conn.execute("SELECT DISTINCT source FROM documents")} - set(stored)
    return Plan(sorted(set(by_rel) | given), to_read, deleted, rows)


def skipped_last_run(conn) -> list[Skipped]:
    """What the last scan or update skipped (``runs.skipped``), the whole corpus's list: a
    folder update reads every such file again and reports what is still bad, and an update
    that does not (add, remove, the service) carries the rest over (``carried_skips``)."""
    row = conn.execute("SELECT skipped FROM runs ORDER BY id DESC LIMIT 1").fetchone()
    try:
        items = json.loads(row[0]) if row and row[0] else []
    except ValueError:
        return []
    return [Skipped(str(i.get("path", "")), str(i.get("reason", ""))) for i in items if isinstance(i, dict)]


def file_of(path: str) -> str:
    """The file a skipped path names: ``FILE:LINE`` (a record) gives FILE."""
    head, _, tail = path.rpartition(":")
    return head if head and tail.isdigit() else path


def carried_skips(conn, plan: Plan) -> list[Skipped]:
    """Skips of the last run in files this update neither reads again nor deletes, and which
    are still in the corpus: they stay in the run's list, so the list stays the corpus's."""
    gone = set(plan.to_read) | set(plan.deleted)
    candidates = [s for s in skipped_last_run(conn) if file_of(s.path) not in gone]  # mostly none

    def in_corpus(source: str) -> bool:  # looked up one by one: documents has a row per record
        return conn.execute("SELECT 1 FROM files WHERE source = ? UNION ALL SELECT 1 FROM documents WHERE source = ? LIMIT 1",
                            (source, source)).fetchone() is not None

    return [s for s in candidates if in_corpus(file_of(s.path))]


def plan_add(conn, files: list[Path], root: Path, selection: Selection = Selection()) -> Plan:
    """``dedup add``: read these files (inside the scanned root) if new or changed, keep everything
    else; a file a scan with ``selection`` would not read is refused."""
    from .local import file_rows

    sources = {s for (s,) in conn.execute("SELECT DISTINCT source FROM documents")}
    to_read = {}
    root = root.absolute()
    for path in files:
        try:  # absolute, not resolved: a symlink is named as the scan names it
            rel = relative_path(path.absolute(), root)
        except ValueError:
            raise CorpusError(f"{path} is outside the scanned corpus {root}; copy it there first") from None
        if not is_utf8(rel):  # the database keeps names as text
            raise CorpusError(f"{shown(rel)}: name is not valid UTF-8; rename it (convmv -f gbk -t utf-8 does) and add it again")
        why = why_not_read(rel, selection)
        if why is not None:
            raise CorpusError(f"{path}: a scan of the corpus would not read it ({why}); rename it, or scan the corpus with other --include/--exclude")
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


class KeyTexts:
    """Texts of keys by keys.id, for shingling them again: keys read by this update go into the
    key store as they come; any other is made again from its stored paragraphs when first
    needed (``lookup.stored_key_texts``). Workers forked after ``fetch`` see what was fetched;
    they never read the database themselves."""

    def __init__(self, conn, store: KeyStore):
        self.conn, self.store = conn, store
        self.index: dict[int, int] = {}  # keys.id -> index in the store
        self._normalizer: Callable[[str], str] | None = None  # the stored config's, made when first needed

    def add(self, key_id: int, utf8: bytes) -> None:
        self.index[key_id] = self.store.append_utf8(utf8)

    def fetch(self, key_ids) -> None:
        """Have the texts of ``key_ids`` in the store (and its file mapped, for forked workers)."""
        missing = {int(k) for k in key_ids} - self.index.keys()
        if missing:
            if self._normalizer is None:
                self._normalizer = make_normalizer(stored_config(self.conn).steps)
            texts = stored_key_texts(self.conn, missing, self._normalizer)
            lost = missing - texts.keys()
            if lost:
                raise DatabaseError(f"key {min(lost)} has no paragraph left in the database; scan the corpus again with --full")
            for kid in sorted(texts):
                self.add(kid, texts[kid].encode("utf-8"))
        self.store.get([])

    def get(self, key_ids) -> list[str]:
        key_ids = [int(k) for k in key_ids]
        if not self.index.keys() >= set(key_ids):
            self.fetch(key_ids)
        return self.store.get([self.index[k] for k in key_ids])

    def read_view(self, key_ids):
        """``KeyStore.read_view`` of the keys ``key_ids``."""
        key_ids = [int(k) for k in key_ids]
        if not self.index.keys() >= set(key_ids):
            self.fetch(key_ids)
        return self.store.read_view([self.index[k] for k in key_ids])


class Scores:
    """Verified pairs of keys (by keys.id) and their scores, looked up by code (a << 32) | b, a < b."""

    def __init__(self, codes: np.ndarray, jaccard: np.ndarray, containment: np.ndarray):
        order = np.argsort(codes)
        self.codes, self.jaccard, self.containment = codes[order], jaccard[order], containment[order]

    @staticmethod
    def code(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        a, b = np.asarray(a, dtype=np.int64), np.asarray(b, dtype=np.int64)
        return (np.minimum(a, b) << 32) | np.maximum(a, b)

    def find(self, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(is known, its row) for every code."""
        if not len(self.codes):
            return np.zeros(len(codes), dtype=bool), np.zeros(len(codes), dtype=np.int64)
        pos = np.minimum(np.searchsorted(self.codes, codes), len(self.codes) - 1)
        return self.codes[pos] == codes, pos

    def lookup(self, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(is known, Jaccard, containment) of every code (scores of unknown codes are junk)."""
        found, at = self.find(codes)
        if not len(self.codes):
            return found, np.zeros(len(codes)), np.zeros(len(codes))
        return found, self.jaccard[at], self.containment[at]

    def add(self, codes: np.ndarray, jaccard: np.ndarray, containment: np.ndarray) -> None:
        merged = Scores(np.concatenate((self.codes, codes)), np.concatenate((self.jaccard, jaccard)), np.concatenate((self.containment, containment)))
        self.codes, self.jaccard, self.containment = merged.codes, merged.jaccard, merged.containment


@dataclass
class Removed:
    """What dropping the documents of deleted and changed files touched."""

    keys: set[int]  # keys.id of the paragraphs dropped
    clusters: set[int]  # clusters that had a dropped paragraph
    names: dict[int, tuple[str, bytes]]  # those clusters whose canonical was dropped: its identity


def remove_documents(conn, sources: list[str]) -> Removed:
    """Delete the documents (and their paragraphs and members) of ``sources``."""
    conn.execute("CREATE TEMP TABLE gone (source TEXT PRIMARY KEY)")
    conn.executemany("INSERT INTO gone VALUES (?)", [(s,) for s in sources])
    conn.execute("CREATE TEMP TABLE gone_docs AS SELECT id FROM documents WHERE source IN (SELECT source FROM gone)")
    in_gone = "doc_id IN (SELECT id FROM gone_docs)"
    keys = {k for (k,) in conn.execute(f"SELECT DISTINCT key_id FROM paragraphs WHERE {in_gone} AND key_id IS NOT NULL")}
    clusters = {c for (c,) in conn.execute(f"SELECT DISTINCT cluster_id FROM paragraphs WHERE {in_gone} AND cluster_id IS NOT NULL")}
    names = _canonical_names(conn, f"p.{in_gone}")
    conn.execute(f"DELETE FROM members WHERE paragraph_id IN (SELECT id FROM paragraphs WHERE {in_gone})")
    conn.execute(f"DELETE FROM paragraphs WHERE {in_gone}")
    conn.execute("DELETE FROM documents WHERE id IN (SELECT id FROM gone_docs)")
    conn.execute("DELETE FROM files WHERE source IN (SELECT source FROM gone)")
    return Removed(keys, clusters, names)


def _canonical_names(conn, where: str) -> dict[int, tuple[str, bytes]]:
    """cluster id -> (document path, key fingerprint) of its canonical, for the clusters
    ``where`` selects: what names a cluster across updates, since a file read again gives its
    paragraphs new ids."""
    return {
        cid: (path, fp)
        for cid, path, fp in conn.execute(
            f"""SELECT c.id, d.path, p.fingerprint FROM clusters c JOIN paragraphs p ON p.id = c.canonical_id
                JOIN documents d ON d.id = p.doc_id WHERE {where}"""
        )
    }


def keep_ids(old: dict[int, tuple], canonical: dict[int, tuple], owner: dict[tuple, int], next_id: int, run_id: int) -> tuple[dict[int, int], list[tuple]]:
    """Final ids for new clusters (numbered by their canonical's position), and the changes.

    ``old``: replaced cluster id -> identity of its canonical; ``canonical``: new cluster ->
    identity of its canonical; ``owner``: identity of a member -> new cluster. A new cluster
    keeps the id of the old cluster whose canonical it still has; failing that, of the old
    cluster whose canonical is now one of its members (a ``canonical`` change); an old cluster
    whose canonical joined a cluster that already kept another id is ``merged``. Ids are never
    reused: readers may still hold an old one.
    """
    by_old_canonical = {name: cid for cid, name in old.items()}
    mapping: dict[int, int] = {}
    changes: list[tuple] = []
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
    for cid in sorted(canonical):
        if cid not in mapping:
            mapping[cid] = next_id
            changes.append((None, run_id, "new", next_id, None, f"canonical in {canonical[cid][0]}"))
            next_id += 1
    for old_id in sorted(set(old) - claimed):
        changes.append((None, run_id, "dissolved", old_id, None, "its paragraphs are gone or no longer copies"))
    return mapping, changes


@dataclass
class Added:
    """What reading the new and changed files added."""

    documents: int = 0
    keys: set[int] = field(default_factory=set)  # keys.id of every paragraph added
    new_keys: list[tuple[int, bytes, int]] = field(default_factory=list)  # (id, fingerprint, length) of keys new to the db


def read_documents(conn, writer: Writer, plan: Plan, root: Path, config: ScanConfig, texts: KeyTexts, on_error: Callable, show_progress: bool) -> Added:
    """Read, split, normalize and fingerprint the new and changed files (and the documents the
    plan gives in memory), in corpus order, and insert their rows. Keys of the database keep their
    id; a key never seen gets the next free id and goes into ``texts``."""
    from .local import document_row, prepare_document, prepared_items, progress

    added = Added()
    next_key = (conn.execute("SELECT max(id) FROM keys").fetchone()[0] or 0) + 1
    next_doc = (conn.execute("SELECT max(id) FROM documents").fetchone()[0] or 0) + 1
    next_para = (conn.execute("SELECT max(id) FROM paragraphs").fetchone()[0] or 0) + 1
    known: dict[bytes, int] = {}
    doc_rows, para_rows = [], []

    def key_id(fp: bytes, key: bytes, key_len: int) -> int:
        nonlocal next_key
        kid = known.get(fp)
        if kid is None:
            row = conn.execute("SELECT id FROM keys WHERE fp = ?", (fp,)).fetchone()
            if row is None:
                kid, next_key = next_key, next_key + 1
                texts.add(kid, key)
                added.new_keys.append((kid, fp, key_len))
            else:
                kid = row[0]
            known[fp] = kid
        added.keys.add(kid)
        return kid

    def take(item) -> None:
        nonlocal next_doc, next_para
        rows = list(item.rows())
        doc_rows.append(document_row(next_doc, item.doc, rows))
        for idx, line_start, line_end, char_start, char_end, key_len, text, fp, key in rows:
            kid = key_id(fp, key, key_len) if fp is not None else None
            para_rows.append((next_para, next_doc, idx, line_start, line_end, char_start, char_end, text, key_len, fp, kid))
            next_para += 1
        next_doc += 1

    to_read = [plan.to_read[s] for s in plan.sources if s in plan.to_read]
    normalizer = make_normalizer(config.steps)
    with progress(show_progress, total=len(to_read) + len(plan.documents), desc="update", unit="file") as bar:
        last = None
        for item in prepared_items(to_read, root, config) if to_read else ():
            source = item.path if isinstance(item, CorpusFileError) else item.doc.source or item.doc.path
            bar.update(int(source != last))
            last = source
            if isinstance(item, CorpusFileError):
                on_error(item)
            else:
                take(item)
        for source in sorted(plan.documents):  # given in memory (the service)
            for doc in plan.documents[source]:
                take(prepare_document(doc, config.split, normalizer))
            bar.update(1)
    writer.insert("documents", doc_rows)
    writer.insert("paragraphs", para_rows, NEW_PARAGRAPH_COLUMNS)
    added.documents = len(doc_rows)
    return added


@dataclass(frozen=True)
class KeyTable:
    """Every key of the corpus, indexed in order of first appearance (as a full scan numbers
    them: the candidate rules depend on that order), with what signing stored."""

    ids: np.ndarray  # keys.id
    fps: list[bytes]
    key_len: np.ndarray
    signed: np.ndarray  # indexes of the keys long enough to sign
    set_sizes: np.ndarray  # per signed key
    bands: np.ndarray  # (signed keys, bands) uint32
    anchor_owner: np.ndarray  # position in ``signed`` of every anchor, ascending
    anchor_values: np.ndarray


def load_corpus(conn, config: ScanConfig) -> tuple["Paragraphs", KeyTable]:
    """The paragraphs of the updated corpus in corpus order (sources sorted as a folder is
    listed, documents of one source in reading order), and the keys with their signatures."""
    from ..config import MIN_KEY_CHARS
    from .local import Paragraphs
    from ..timing import epoch

    docs = sorted(conn.execute("SELECT source, id, path, date FROM documents"))
    doc_pos = {doc_id: i + 1 for i, (_, doc_id, _, _) in enumerate(docs)}
    rows = conn.execute("SELECT id, doc_id, idx, coalesce(key_id, -1), char_end - char_start, line_start FROM paragraphs").fetchall()
    table = np.array(rows, dtype=np.int64).reshape(-1, 6)
    pos = np.fromiter((doc_pos[d] for d in table[:, 1].tolist()), dtype=np.int64, count=len(table))
    order = np.lexsort((table[:, 2], pos))
    table, pos = table[order], pos[order]

    key_rows = conn.execute("SELECT id, fp, key_len, set_size, bands, anchors FROM keys ORDER BY id").fetchall()
    stored_ids = np.fromiter((r[0] for r in key_rows), dtype=np.int64, count=len(key_rows))
    para_row = np.where(table[:, 3] >= 0, np.searchsorted(stored_ids, table[:, 3]), -1)
    has_key = para_row >= 0
    rows_seen, first = np.unique(para_row[has_key], return_index=True)
    if len(rows_seen) != len(key_rows):
        raise AssertionError("every stored key must belong to a paragraph")
    by_first = rows_seen[np.argsort(first, kind="stable")]  # key index -> row of key_rows
    index_of_row = np.empty(len(key_rows), dtype=np.int64)
    index_of_row[by_first] = np.arange(len(by_first))
    para_key = np.full(len(para_row), -1, dtype=np.int64)
    para_key[has_key] = index_of_row[para_row[has_key]]  # (no key at all: nothing to index)

    ordered = [key_rows[i] for i in by_first.tolist()]
    key_len = np.fromiter((r[2] for r in ordered), dtype=np.int64, count=len(ordered))
    signed = np.nonzero(key_len >= max(config.min_chars, MIN_KEY_CHARS))[0]
    signed_rows = [ordered[i] for i in signed.tolist()]
    b = config.lsh_bands()[0]
    anchor_blobs = [r[5] or b"" for r in signed_rows]
    lengths = np.fromiter((len(a) // 4 for a in anchor_blobs), dtype=np.int64, count=len(anchor_blobs))
    keys = KeyTable(
        stored_ids[by_first],
        [r[1] for r in ordered],
        key_len,
        signed,
        np.fromiter((r[3] for r in signed_rows), dtype=np.int64, count=len(signed_rows)),
        np.frombuffer(b"".join(r[4] for r in signed_rows), dtype="<u4").reshape(-1, b),
        np.repeat(np.arange(len(signed_rows), dtype=np.int32), lengths),
        np.frombuffer(b"".join(anchor_blobs), dtype="<u4"),
    )
    paras = Paragraphs(
        para_key, pos, table[:, 4], table[:, 5], table[:, 0], [d[2] for d in docs],
        np.array([epoch(d[3]) for d in docs], dtype=np.float64),
    )
    return paras, keys


def dirty_keys(n: int, edges: np.ndarray, seeds: np.ndarray) -> np.ndarray:
    """Mask of the nodes (of n) in a connected component that holds a seed.

    >>> dirty_keys(5, np.array([[0, 1], [2, 3]]), np.array([3])).tolist()
    [False, False, True, True, False]
    """
    from ..match.cluster import components

    labels = components(n, edges[:, 0], edges[:, 1])
    hit = np.zeros(int(labels.max(initial=-1)) + 1, dtype=bool)
    hit[labels[seeds]] = True
    return hit[labels]


def stored_run(db_path: Path, workers: int | None = None) -> tuple[Path, ScanConfig]:
    """The corpus root and the config (``workers`` replaced when given) of the latest run in
    ``db_path``, for an update of it; ``DatabaseError`` when it cannot take one (a scan of stdin,
    or by another dedup version)."""
    from ..store.writer import open_existing

    db = open_existing(db_path)
    try:
        root, stored = db.execute("SELECT root, config FROM runs ORDER BY id DESC LIMIT 1").fetchone()
    finally:
        db.conn.close()
    config = ScanConfig.from_json(stored, **({} if workers is None else {"workers": workers}))
    if root == "-" or not can_update(Path(db_path), root, config):
        raise DatabaseError(f"{db_path} holds a scan that cannot be updated (of stdin, or by another dedup version); scan the corpus again")
    return Path(root), config


def apply_to_stored(db_path: Path, plan_of: Callable, *, workers: int | None = None, show_progress: bool = False,
                    skip: Callable[[Skipped], None] | None = None) -> dict:
    """Apply ``plan_of(conn, config, root) -> Plan`` to the scan stored in ``db_path`` with the
    options it was made with (what ``dedup add``, ``dedup remove`` and the service's writes do);
    return the run's counts."""
    root, config = stored_run(Path(db_path), workers)
    counts, _ = update(root, config, Path(db_path), lambda conn: plan_of(conn, config, root), Run(on_skip=skip), show_progress=show_progress)
    return counts


def update(
    root: Path,
    config: ScanConfig,
    db_path: Path,
    plan_of: Callable,
    run: Run,
    *,
    show_progress: bool,
) -> tuple[dict, dict]:
    """Apply a plan (``plan_of(conn) -> Plan``) to the scan in ``db_path`` as ``run`` (whose
    skips so far, such as listing the folder's, are counted with the rest); return (counts,
    runs row). No room to write it is a ``WriteError``, the database left as it was."""
    from .local import ELSEWHERE

    with writing(db_path, "the updated database", ELSEWHERE):
        return _update(root, config, db_path, plan_of, run, show_progress)


def updating_writer(db_path: Path):
    """The writer of an update of ``db_path`` in place and its key store, as a ``with`` block
    (``local.writer_and_key_store``: the writer aborted on any error, the store closed at the end)."""
    from .local import writer_and_key_store

    return writer_and_key_store(lambda: Writer.updating(db_path))


def _update(root, config, db_path, plan_of, run: Run, show_progress) -> tuple[dict, dict]:
    """The update's stages (``UpdateStages``) run in a scan's order, then the commit."""
    with updating_writer(db_path) as (writer, store):
        stages = UpdateStages(root, config, writer, store, plan_of(writer.db.conn), run, show_progress)
        counts = run.execute(stages)
        row = run.row(stages.run_id, str(root.resolve()), config, counts)
        writer.commit(row)
    return counts, row


class UpdateStages:
    """How an update carries out each stage (``Run.execute`` calls them in order) on the scan
    ``writer`` holds: the plan's documents removed and read, only new keys signed, candidates
    found again from the stored band hashes (after "load", the one step that grows with the
    index, not the change), only pairs never scored verified, only touched clusters rebuilt."""

    steps = ("read", "sign", "load", "candidates", "verify", "cluster", "store", "passages")

    def __init__(self, root: Path, config: ScanConfig, writer: Writer, store, plan: Plan, run: Run, show_progress: bool) -> None:
        self.root, self.config, self.writer, self.plan, self.show_progress = root, config, writer, plan, show_progress
        self.conn, self.run = writer.db.conn, run
        run.skipped.extend(carried_skips(self.conn, plan))  # not warned about again: not read again
        self.run_id = self.conn.execute("SELECT max(id) FROM runs").fetchone()[0] + 1
        self.texts = KeyTexts(self.conn, store)

    def read(self) -> None:
        self.removed, self.added = apply_plan(self.conn, self.writer, self.plan, self.root, self.config, self.texts, self.run.skip_or_raise, self.show_progress)

    def sign(self) -> None:
        self.deleted = sign_new_keys(self.conn, self.writer, self.texts, self.removed, self.added, self.config, self.show_progress)

    def load(self) -> None:
        self.paras, self.keys = load_corpus(self.conn, self.config)

    def candidates(self) -> None:
        from .local import find_candidates

        keys = self.keys
        self.pairs, self.n_lsh = find_candidates(self.config, keys.bands, keys.anchor_owner, keys.anchor_values, self.show_progress)

    def verify(self) -> None:
        """Pairs never scored are scored; then the halves of broken lines judged together."""
        self.verified = verify_candidates(self.conn, self.writer, self.texts, self.keys, self.pairs, bool(self.deleted), self.config)
        add_joined_pairs(self.writer, self.texts, self.keys, self.paras, self.pairs, self.verified, self.config)

    def cluster(self) -> None:
        seeds = (self.removed.keys | self.added.keys | self.verified.flipped_keys()) - self.deleted
        self.reclustered = recluster(self.writer, self.texts, self.keys, self.paras, self.verified, seeds, self.config)

    def store(self) -> None:
        self.changes = store_clusters(self.conn, self.writer, self.paras, self.keys, self.reclustered, self.removed, self.run_id, self.config)
        self.n_clusters, self.n_furniture = flag_boilerplate(self.conn, self.paras)

    def passages(self) -> None:
        """Aligned again from the stored members: those of a full scan."""
        from ..match.passages import refresh_passages

        self.n_passages = refresh_passages(self.writer)

    def counts(self) -> dict:
        paras, keys, plan, (b, r) = self.paras, self.keys, self.plan, self.config.lsh_bands()
        duplicates, duplicate_chars = stored_duplicates(self.conn)
        return dict(
            documents=len(paras.paths), clusters=self.n_clusters, boilerplate_clusters=self.n_furniture, passages=self.n_passages,
            duplicate_paragraphs=duplicates, chars=int(paras.length.sum()), duplicate_chars=duplicate_chars, paragraphs=len(paras.key),
            empty_paragraphs=int((paras.key < 0).sum()), distinct_keys=len(keys.ids), signed_keys=len(keys.signed),
            candidate_pairs=len(self.pairs), lsh_pairs=self.n_lsh, verified_edges=len(self.verified.edges), bands=b, rows=r,
            files_read=len(plan.to_read), files_deleted=len(plan.deleted), documents_added=self.added.documents,
            changes=len(self.changes), reclustered_keys=int(self.reclustered.dirty.sum()), skipped=len(self.run.skipped),
        )


def apply_plan(conn, writer: Writer, plan: Plan, root: Path, config: ScanConfig, texts: KeyTexts, on_error: Callable,
               show_progress: bool) -> tuple[Removed, Added]:
    """Read stage: remove the documents the plan drops or reads again, then read the new ones."""
    removed = remove_documents(conn, sorted(set(plan.deleted) | set(plan.to_read) | set(plan.documents)))
    # a file touched but unchanged is hashed again without being read: replace its row
    conn.executemany("DELETE FROM files WHERE source = ?", [(row[0],) for row in plan.file_rows])
    writer.insert("files", plan.file_rows)
    added = read_documents(conn, writer, plan, root, config, texts, on_error, show_progress)
    if not conn.execute("SELECT 1 FROM documents LIMIT 1").fetchone():
        raise no_readable_documents(root)
    return removed, added


def sign_new_keys(conn, writer: Writer, texts: KeyTexts, removed: Removed, added: Added, config: ScanConfig,
                  show_progress: bool) -> set[int]:
    """Sign stage: write the new keys with their signatures and texts, and delete the keys whose
    every paragraph went; returns the ids of those. Leaves the temp table ``touched`` (the keys
    the change touched) for the verify stage."""
    from .local import key_rows, sign_keys

    store = texts.store
    b, r = config.lsh_bands()
    new_ids = [kid for kid, _, n in added.new_keys if n >= max(config.min_chars, MIN_KEY_CHARS)]
    length_at = np.zeros(len(store), dtype=np.int64)
    for kid, _, n in added.new_keys:
        length_at[texts.index[kid]] = n
    store.get([])  # map the key file now: the signing workers inherit the map
    sizes, bands, (owner, values) = sign_keys(store, np.array([texts.index[k] for k in new_ids], dtype=np.int64), length_at, config, b, r, show_progress)
    position = {kid: i for i, kid in enumerate(new_ids)}
    writer.insert("keys", key_rows(
        [k for k, _, _ in added.new_keys], [fp for _, fp, _ in added.new_keys], [n for _, _, n in added.new_keys],
        sizes, bands, owner, values, [position.get(k, -1) for k, _, _ in added.new_keys],
    ))
    # keys whose every paragraph was dropped
    conn.execute("CREATE TEMP TABLE touched (id INTEGER PRIMARY KEY)")
    conn.executemany("INSERT INTO touched VALUES (?)", [(k,) for k in removed.keys | added.keys])
    deleted = {k for (k,) in conn.execute("SELECT id FROM touched t WHERE NOT EXISTS (SELECT 1 FROM paragraphs p WHERE p.key_id = t.id)")}
    conn.executemany("DELETE FROM keys WHERE id = ?", [(k,) for k in deleted])
    return deleted


@dataclass
class Verified:
    """The verify stage's result: every score known (stored and new), the edges among the
    candidates, and the candidates that stopped (``died``) or started (``born``) being ones."""

    scores: "Scores"
    edges: np.ndarray
    edge_jaccard: np.ndarray
    died: np.ndarray
    born: np.ndarray
    joined: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), dtype=np.int64))  # match/joined.py, signed positions
    neighbours: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), dtype=np.int64))  # ids of neighbouring keys

    def flipped_keys(self) -> set[int]:
        """Ids of the keys of pairs that flipped, and of their neighbours (a joined pair
        depends on the candidates of both halves): their clusters may change."""
        flipped = np.concatenate((self.died, self.born))
        keys = np.unique(np.concatenate((flipped >> 32, flipped & 0xFFFFFFFF)))
        near = self.neighbours[np.isin(self.neighbours, keys).any(axis=1)] if len(keys) and len(self.neighbours) else np.zeros((0, 2), np.int64)
        return set(keys.tolist()) | set(near.ravel().tolist())


def verify_candidates(conn, writer: Writer, texts: KeyTexts, keys: "KeyTable", pairs: np.ndarray, keys_deleted: bool,
                      config: ScanConfig) -> Verified:
    """Verify stage: score only the candidate pairs never scored before (the stored ones are
    read back), keep the ``checked`` table's live flags and rows of deleted keys up to date."""
    from ..match.verify import KeySets
    from .. import compiled
    from ..workers import publish, scoring_pool

    signed_ids = keys.ids[keys.signed]
    stored = conn.execute("SELECT a, b, jaccard, containment, live FROM checked").fetchall()
    checked = np.array(stored, dtype=np.float64).reshape(-1, 5)
    old_codes = (checked[:, 0].astype(np.int64) << 32) | checked[:, 1].astype(np.int64)
    scores = Scores(old_codes, checked[:, 2], checked[:, 3])
    was_live = old_codes[checked[:, 4] == 1]
    codes = Scores.code(signed_ids[pairs[:, 0]], signed_ids[pairs[:, 1]])
    known, _ = scores.find(codes)
    todo = np.nonzero(~known)[0]
    sets = KeySets(texts, signed_ids, keys.set_sizes, config)
    if len(todo):
        texts.fetch(signed_ids[pairs[todo].ravel()])
        publish(sets)
        try:
            with scoring_pool(config.effective_workers, len(todo), threads=compiled.available()) as workers:
                sets.use_pool(workers)
                jac, con = sets.score(pairs[todo, 0], pairs[todo, 1])
        finally:
            sets.use_pool(None)
            publish(None)
        scores.add(codes[todo], jac, con)
        a, c = signed_ids[pairs[todo, 0]], signed_ids[pairs[todo, 1]]
        writer.insert("checked", zip(np.minimum(a, c).tolist(), np.maximum(a, c).tolist(), jac.tolist(), con.tolist(), [1] * len(todo)))
    _, at = scores.find(codes)
    jac, con = scores.jaccard[at], scores.containment[at]
    ok = config.match_rule().judge(jac, con, keys.set_sizes[pairs[:, 0]], keys.set_sizes[pairs[:, 1]])
    died = np.setdiff1d(was_live, codes, assume_unique=True)
    born = np.setdiff1d(codes[known], was_live, assume_unique=True)
    conn.executemany("UPDATE checked SET live = 0 WHERE a = ? AND b = ?", zip((died >> 32).tolist(), (died & 0xFFFFFFFF).tolist()))
    conn.executemany("UPDATE checked SET live = 1 WHERE a = ? AND b = ?", zip((born >> 32).tolist(), (born & 0xFFFFFFFF).tolist()))
    if keys_deleted:
        conn.execute("DELETE FROM checked WHERE a IN (SELECT id FROM touched WHERE id NOT IN (SELECT key_id FROM paragraphs WHERE key_id IS NOT NULL)) "
                     "OR b IN (SELECT id FROM touched WHERE id NOT IN (SELECT key_id FROM paragraphs WHERE key_id IS NOT NULL))")
    return Verified(scores, pairs[ok], jac[ok], died, born)


def stored_scorer(scores, texts: KeyTexts, signed_ids: np.ndarray, set_sizes: np.ndarray, config: ScanConfig, writer: Writer | None):
    """``score(x, y) -> (Jaccard, containment)`` of pairs of signed positions: from ``scores``
    (``Scores`` or anything with its ``lookup`` and ``add``) where known, else scored on the
    key texts, kept in ``scores`` and stored as no candidate (``checked.live`` 0) when there is
    a ``writer``, as the cluster stage stores the pairs it scores."""
    from ..match.verify import KeySets

    sets = KeySets(texts, signed_ids, set_sizes, config)

    def score(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        codes = Scores.code(signed_ids[x], signed_ids[y])
        found, _, _ = scores.lookup(codes)
        new = np.nonzero(~found)[0]
        if len(new):
            new = new[np.unique(codes[new], return_index=True)[1]]
            texts.fetch(signed_ids[np.concatenate((x[new], y[new]))])
            j, c = sets.score(x[new], y[new])
            scores.add(codes[new], j, c)
            if writer is not None:
                writer.insert("checked", zip((codes[new] >> 32).tolist(), (codes[new] & 0xFFFFFFFF).tolist(), j.tolist(), c.tolist(), [0] * len(new)))
        _, j, c = scores.lookup(codes)
        return j, c

    return score


def add_joined_pairs(writer: Writer, texts: KeyTexts, keys: "KeyTable", paras: "Paragraphs", pairs: np.ndarray, verified: Verified,
                     config: ScanConfig) -> None:
    """The halves of broken lines judged together (match/joined.py) over the whole corpus, as
    a full scan does, added to ``verified``; pairs scored for it that no scan scored before are
    stored as no candidate (``live`` 0), as the cluster stage does."""
    from ..match.joined import joined_edges, merge_edges, neighbour_pairs
    from .local import signed_position

    signed_ids = keys.ids[keys.signed]
    score = stored_scorer(verified.scores, texts, signed_ids, keys.set_sizes, config, writer)

    rule = config.match_rule()
    para_node = signed_position(len(keys.ids), keys.signed)[paras.key]
    _, con = score(pairs[:, 0], pairs[:, 1]) if len(pairs) else (np.zeros(0), np.zeros(0))
    verified.joined, joined_jaccard, _ = joined_edges(rule, score, keys.set_sizes, para_node, paras.doc, pairs, con, verified.edges)
    verified.edges, verified.edge_jaccard = merge_edges(verified.edges, verified.edge_jaccard, verified.joined, joined_jaccard, len(keys.signed))
    verified.neighbours = signed_ids[neighbour_pairs(para_node, paras.doc)]


@dataclass
class Reclustered:
    """The cluster stage's result: the keys clustered again (``dirty``, by key index) and
    their assignment, with the ranks that chose the canonicals."""

    dirty: np.ndarray
    assignment: "Assignment"
    para_rank: np.ndarray
    best_para: np.ndarray


def recluster(writer: Writer, texts: KeyTexts, keys: "KeyTable", paras: "Paragraphs", verified: Verified, seeds: set[int],
              config: ScanConfig, index_of_id: dict[int, int] | None = None, ranks: tuple | None = None) -> Reclustered:
    """Cluster stage: cluster again the keys connected to ``seeds`` (ids of keys the change
    touched), scoring pairs among them from the stored scores where there are any.
    ``index_of_id``: keys.id -> index in ``keys``, and ``ranks``: ``local.key_ranks`` of the
    corpus, when the caller keeps them."""
    from .local import assign_keys, key_ranks
    from ..match.joined import with_joined
    from ..match.verify import KeySets

    scores, edges, edge_jaccard = verified.scores, verified.edges, verified.edge_jaccard
    rule = config.match_rule()
    if index_of_id is None:
        index_of_id = dict(zip(keys.ids.tolist(), range(len(keys.ids))))
    seeds_at = sorted(index_of_id[k] for k in seeds if k in index_of_id)
    signed_pos = np.full(len(keys.ids), -1, dtype=np.int64)
    signed_pos[keys.signed] = np.arange(len(keys.signed))
    seed_pos = signed_pos[seeds_at] if seeds_at else np.zeros(0, np.int64)
    in_dirty = dirty_keys(len(keys.signed), edges, seed_pos[seed_pos >= 0])
    dirty = np.zeros(len(keys.ids), dtype=bool)
    dirty[keys.signed[in_dirty]] = True
    dirty[seeds_at] = True
    sub = keys.signed[in_dirty]  # dirty signed keys, in key order
    local = np.full(len(keys.signed), -1, dtype=np.int64)
    local[in_dirty] = np.arange(len(sub))
    sub_edges = local[edges[in_dirty[edges[:, 0]]]]
    sub_jaccard = edge_jaccard[in_dirty[edges[:, 0]]]
    sub_sets = KeySets(texts, keys.ids[sub], keys.set_sizes[in_dirty], config)

    def match(x: np.ndarray, y: np.ndarray):
        """Copies among dirty keys, from stored scores where there are any."""
        pair_codes = Scores.code(keys.ids[sub[x]], keys.ids[sub[y]])
        found, _, _ = scores.lookup(pair_codes)
        new = np.nonzero(~found)[0]
        if len(new):
            j, c = sub_sets.score(np.asarray(x)[new], np.asarray(y)[new])
            scores.add(pair_codes[new], j, c)
            writer.insert("checked", zip((pair_codes[new] >> 32).tolist(), (pair_codes[new] & 0xFFFFFFFF).tolist(), j.tolist(), c.tolist(), [0] * len(new)))
        _, j, c = scores.lookup(pair_codes)
        return rule.judge(j, c, sub_sets.sizes[x], sub_sets.sizes[y]), j, c

    para_rank, key_rank, best_para = key_ranks(config.canonical, paras, keys.key_len) if ranks is None else ranks
    count = np.bincount(paras.key[paras.key >= 0], minlength=len(keys.ids))
    joined = verified.joined[in_dirty[verified.joined[:, 0]]] if len(verified.joined) else verified.joined
    match_joined = with_joined(match, local[joined], len(sub))
    assignment = assign_keys(config, len(keys.ids), sub, sub_edges, sub_jaccard, sub_sets.sizes, key_rank, np.where(dirty, count, 0), match_joined)
    return Reclustered(dirty, assignment, para_rank, best_para)


def store_clusters(conn, writer: Writer, paras: "Paragraphs", keys: "KeyTable", reclustered: Reclustered, removed: Removed,
                   run_id: int, config: ScanConfig, seen: dict | None = None, replaced: set[int] | None = None,
                   was: Callable[[np.ndarray], MemberRows] | None = None) -> list[tuple]:
    """Store stage: replace the clusters of the dirty keys, keeping the ids of clusters whose
    canonical stays (``keep_ids``), and write only the member and paragraph rows that change
    (a cluster of thousands of exact copies that gains one keeps the others' rows, and their
    pages out of the commit); returns the ``changes`` rows written. ``replaced``: the clusters
    of the dirty keys' paragraphs, and ``was(positions)``: the member rows of the paragraphs at
    those positions, when the caller holds them (else read here). ``seen``, when given, gets what an append reads back (delta.py): the
    member rows that changed, before (``was``) and after (``now``), paragraph id -> (cluster,
    similarity, relation, containment), every member row of the dirty keys' paragraphs now
    (``rows``, ``MemberRows``) and their positions (``subset``), the boilerplate flag of every replaced cluster before
    (``flags``), the ids of the clusters written (``written``, flag 0 until decided), the most
    documents one of them has, and the cluster of every dirty key now (``cluster_of_key``:
    key indices and cluster ids)."""
    from .local import expand_clusters

    dirty = reclustered.dirty
    subset = dirty_paragraphs(paras, dirty)
    built = expand_clusters(config, paras, subset, reclustered.para_rank, keys.key_len, reclustered.assignment, reclustered.best_para)
    if replaced is None:
        _temp_ids_table(conn, "dirty_keys", keys.ids[dirty].tolist())
        replaced = {c for (c,) in conn.execute(
            "SELECT DISTINCT cluster_id FROM paragraphs WHERE key_id IN (SELECT id FROM dirty_keys) AND cluster_id IS NOT NULL")}
    replaced = removed.clusters | replaced
    _temp_ids_table(conn, "replaced", sorted(replaced))
    old = {**_canonical_names(conn, "c.id IN (SELECT id FROM replaced)"), **{c: n for c, n in removed.names.items() if c in replaced}}
    was = was(subset) if was is not None else MemberRows.from_rows(conn.execute(
        "SELECT paragraph_id, cluster_id, similarity, relation, containment FROM members WHERE cluster_id IN (SELECT id FROM replaced)"))
    member_at = positions(paras.ids, built.member_ids, subset)
    canonical = {row[0]: _name(paras, keys, at) for row, at in zip(built.clusters, positions(paras.ids, [r[1] for r in built.clusters], subset).tolist())}
    used = max(conn.execute("SELECT max(cluster_id) FROM changes").fetchone()[0] or 0, conn.execute("SELECT max(id) FROM clusters").fetchone()[0] or 0)
    replaced_rows = conn.execute("SELECT id, boilerplate, canonical_id FROM clusters WHERE id IN (SELECT id FROM replaced)").fetchall()
    owner = _owners(paras, keys, old, {c: p for c, _, p in replaced_rows}, built, member_at)
    mapping, changes = keep_ids(old, canonical, owner, used + 1, run_id)
    final = np.zeros(len(built.clusters) + 1, dtype=np.int64)
    final[list(mapping)] = list(mapping.values())
    now = built_rows(built, final)
    gone, put = changed(was, now)
    if seen is not None:
        seen["was"], seen["now"], seen["rows"], seen["subset"] = gone.by_pid(), put.by_pid(), now, subset
        seen["flags"] = {c: flag for c, flag, _ in replaced_rows}
        seen["written"] = set(mapping.values())
        seen["most_docs"] = max((row[3] for row in built.clusters), default=0)
        seen["cluster_of_key"] = (paras.key[member_at], final[built.member_clusters])
    conn.executemany("DELETE FROM members WHERE paragraph_id = ?", ((pid,) for pid in gone.pid.tolist()))
    conn.execute("DELETE FROM clusters WHERE id IN (SELECT id FROM replaced)")
    writer.insert("clusters", ((mapping[row[0]], *row[1:]) for row in built.clusters))
    writer.insert("members", put.rows())
    # paragraph rows hold their text: write only those whose cluster id changes
    left, moving, to = moved(gone, put)
    conn.executemany("UPDATE paragraphs SET cluster_id = NULL WHERE id = ?", ((pid,) for pid in left.tolist()))
    conn.executemany("UPDATE paragraphs SET cluster_id = ? WHERE id = ?", zip(to.tolist(), moving.tolist()))
    writer.insert("changes", changes)
    return changes


def dirty_paragraphs(paras: "Paragraphs", dirty: np.ndarray) -> np.ndarray:
    """Positions of the paragraphs whose key is dirty (a mask over keys), in corpus order."""
    keyed = np.nonzero(paras.key >= 0)[0]
    return keyed[dirty[paras.key[keyed]]]


def _temp_ids_table(conn, name: str, ids: list[int]) -> None:
    """A temporary table ``name`` of the integer ids ``ids`` (emptied first when it exists)."""
    conn.execute(f"CREATE TEMP TABLE IF NOT EXISTS {name} (id INTEGER PRIMARY KEY)")
    conn.execute(f"DELETE FROM {name}")
    conn.executemany(f"INSERT OR IGNORE INTO {name} VALUES (?)", ((int(i),) for i in ids))


def _name(paras: "Paragraphs", keys: "KeyTable", at: int) -> tuple[str, bytes]:
    """What names the paragraph at position ``at`` across updates: (document path, key fingerprint)."""
    return paras.paths[paras.doc[at] - 1], keys.fps[paras.key[at]]


def _owners(paras: "Paragraphs", keys: "KeyTable", old: dict[int, tuple], old_canonical: dict[int, int], built, member_at: np.ndarray) -> dict[tuple, int]:
    """The new cluster of every member of ``built`` named as an old canonical (all ``keep_ids``
    asks of its ``owner``). An old canonical's paragraph (``old_canonical``: cluster ->
    paragraph id) that is still a member names itself: one lookup. Any other member of that
    name has its key, and all paragraphs of a key are in one cluster, so only the members of
    that key are looked at, and only until one has the name (a cluster of thousands of exact
    copies is not named member by member)."""
    ids, cluster = built.member_ids, built.member_clusters
    order = np.argsort(ids, kind="stable")
    member_key = paras.key[member_at]
    key_of_fp: dict[bytes, int] | None = None
    owner = {}
    for cid, name in old.items():
        j = order[min(int(np.searchsorted(ids, old_canonical.get(cid, -1), sorter=order)), len(ids) - 1)] if len(ids) else -1
        if j >= 0 and ids[j] == old_canonical.get(cid) and _name(paras, keys, member_at[j]) == name:
            owner[name] = int(cluster[j])
            continue
        if key_of_fp is None:
            key_of_fp = {keys.fps[k]: k for k in np.unique(member_key).tolist()}
        with_key = np.nonzero(member_key == key_of_fp.get(name[1], -1))[0]
        if any(paras.paths[d - 1] == name[0] for d in np.unique(paras.doc[member_at[with_key]]).tolist()):
            owner[name] = int(cluster[with_key[0]])
    return owner


def flag_boilerplate(conn, paras: "Paragraphs") -> tuple[int, int]:
    """The boilerplate flag decided again for every cluster (it counts the documents of each
    site); returns (clusters, boilerplate clusters)."""
    from ..match.boilerplate import corpus_boilerplate

    member_rows = np.array(conn.execute("SELECT paragraph_id, cluster_id FROM members").fetchall(), dtype=np.int64).reshape(-1, 2)
    furniture = corpus_boilerplate(paras, member_rows[:, 0], member_rows[:, 1])
    flags = dict(conn.execute("SELECT id, boilerplate FROM clusters"))
    conn.executemany("UPDATE clusters SET boilerplate = ? WHERE id = ?", [(int(c in furniture), c) for c, f in flags.items() if f != int(c in furniture)])
    return len(flags), len(furniture)


def stored_duplicates(conn) -> tuple[int, int]:
    """(duplicate paragraphs, their characters) of an updated scan, from its tables."""
    one = lambda sql: conn.execute(sql).fetchone()[0] or 0  # noqa: E731
    return (
        one("SELECT count(*) FROM members WHERE relation != 'canonical'"),
        one("SELECT sum(p.char_end - p.char_start) FROM members m JOIN paragraphs p ON p.id = m.paragraph_id WHERE m.relation != 'canonical'"),
    )
