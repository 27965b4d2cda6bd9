"""Ask a scan's database whether a text has been seen: the read side of the service.

``StoredIndex`` loads what a scan stored for updates (every key's fingerprint, band hashes and
anchors, and which cluster each key is in) into sorted numpy arrays, and answers, paragraph by
paragraph, what a scan would say of the text if it were added *after* the corpus (last in
corpus order):

* its key equals a stored key: a copy, in that key's cluster (``exact`` when that key is the
  canonical's, else that key's own relation and scores to the canonical);
* else its candidates (equal band hashes, shared anchors, as the scan proposes them) are
  mapped to their clusters' canonicals, and the text is verified against each canonical on the
  exact shingle sets with the scan's rule, as the scan verifies members (no drift through a
  member). A partial copy counts only when the text is the part: a text that contains a
  stored paragraph would be the whole, and a scan never makes the fragment its canonical.
* otherwise it is new.

Under the ``first`` policy this is exactly the scan's answer; under ``longest`` or
``earliest`` a text that outranks a cluster's canonical would have become the canonical, which
a lookup does not reflect (it still reports the copy).
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..config import MIN_KEY_CHARS, ScanConfig
from ..text.fingerprint import fingerprint
from .index import best_copy, sign_for_lookup
from ..match.lsh import ANCHOR_MAX_BUCKET, ANCHOR_MIN_SHARE
from ..compiled import make_normalizer
from ..text.paragraphs import split_paragraphs
from .writer import connect_read_only, open_existing


def stored_config(conn: sqlite3.Connection) -> ScanConfig:
    """The ScanConfig of the latest run stored in a database."""
    return ScanConfig.from_json(conn.execute("SELECT config FROM runs ORDER BY id DESC LIMIT 1").fetchone()[0])


def stored_key_texts(conn: sqlite3.Connection, key_ids, normalizer: Callable[[str], str]) -> dict[int, str]:
    """The normalized text of each key of ``key_ids`` (keys.id), made again from the first
    paragraph that has it: a key is its paragraphs' text normalized, so the database need not
    hold every key's text a second time (it was 40% of a scan's database and of its store stage).
    ``normalizer`` is the stored config's (``make_normalizer(stored_config(conn).steps)``)."""
    key_ids = sorted({int(k) for k in key_ids})
    texts: dict[int, str] = {}
    for start in range(0, len(key_ids), KEY_TEXTS_BATCH):
        chunk = key_ids[start : start + KEY_TEXTS_BATCH]
        marks = ",".join("?" * len(chunk))
        rows = conn.execute(
            f"SELECT key_id, text FROM paragraphs WHERE id IN (SELECT min(id) FROM paragraphs WHERE key_id IN ({marks}) GROUP BY key_id)", chunk
        )
        texts.update((kid, normalizer(text)) for kid, text in rows)
    return texts


KEY_TEXTS_BATCH = 500  # key ids a query (SQLite allows 32k parameters; smaller keeps queries quick)

THIS_TEXT = "(this text)"  # the document of a canonical earlier in the text being checked


@dataclass(frozen=True)
class ParagraphAnswer:
    idx: int
    line_start: int
    line_end: int
    text: str
    status: str  # "copy" or "new"
    relation: str | None = None  # exact, near or contained
    similarity: float | None = None
    containment: float | None = None
    cluster_id: int | None = None  # None: it copies a paragraph that had no copy before
    canonical: dict | None = None  # paragraph_id, document, line_start, line_end

    def as_dict(self) -> dict:
        return dict(self.__dict__)


class StaleIndex(Exception):
    """The database changed (a later run) since the index was built: build it again."""


class StoredIndex:
    """Lookups against one scan database, as it was at its latest run when built.

    Every query reads the database in one read transaction and first checks that the latest
    run is still the one the index was built from (``StaleIndex`` otherwise), so an answer never
    mixes the index of one run with the rows of another.
    """

    def __init__(self, db_path: str | Path):
        self.db_path = Path(db_path)
        open_existing(self.db_path).conn.close()  # a clear error for a missing or foreign file
        self._kept = KeptConnections(self.db_path)  # shared with the indexes ``advanced`` makes
        conn = self._connect()
        try:
            conn.execute("BEGIN")
            self.run_id = conn.execute("SELECT max(id) FROM runs").fetchone()[0]
            self.config = stored_config(conn)
            self.n_bands = self.config.lsh_bands()[0]
            self.rule = self.config.match_rule()
            self.normalizer = make_normalizer(self.config.steps)
            self._load(conn)
        finally:
            conn.close()

    def _connect(self) -> sqlite3.Connection:
        return connect_read_only(self.db_path)

    def _load(self, conn: sqlite3.Connection) -> None:
        ids, fps, band_codes, band_keys, anchor_codes, anchor_keys, self.n_anchors = self._postings(conn.execute("SELECT id, fp, bands, anchors FROM keys"))
        self.max_key_id = max(ids, default=0)
        self.key_of_fp = Overlay(dict(zip(fps, ids)))
        self.n_anchors = Overlay(self.n_anchors)
        self.bands = Postings(*_sorted([band_codes], [band_keys]))
        self.anchors = Postings(*_sorted([anchor_codes], [anchor_keys]))
        # every key's cluster, and the canonical of every cluster
        self.cluster_of_key = Overlay(dict(conn.execute("SELECT DISTINCT p.key_id, m.cluster_id FROM members m JOIN paragraphs p ON p.id = m.paragraph_id")))
        self.canonical = Overlay({row[0]: row[1:] for row in conn.execute(_CANONICALS)})

    def _postings(self, rows) -> tuple:
        """(ids, fingerprints, band codes and their keys, anchor codes and their keys, anchors
        per signed key) of keys table rows (id, fp, bands, anchors)."""
        ids, fps, signed, bands, anchors = [], [], [], [], []
        for kid, fp, band_bytes, anchor_bytes in rows:
            ids.append(kid)
            fps.append(fp)
            if band_bytes is not None:
                signed.append(kid)
                bands.append(band_bytes)
                anchors.append(anchor_bytes or b"")
        signed_ids = np.array(signed, dtype=np.int64)
        values = np.frombuffer(b"".join(bands), dtype="<u4").astype(np.int64).reshape(-1, self.n_bands)
        counts = np.fromiter((len(a) // 4 for a in anchors), dtype=np.int64, count=len(anchors))
        return (ids, fps, ((np.arange(self.n_bands, dtype=np.int64) << 32) | values).ravel(), np.repeat(signed_ids, self.n_bands),
                (self.n_bands << 32) | np.frombuffer(b"".join(anchors), dtype="<u4").astype(np.int64), np.repeat(signed_ids, counts),
                dict(zip(signed, counts.tolist())))

    def advanced(self, reclustered: np.ndarray) -> "StoredIndex":
        """This index at the database's latest run, when the runs since it only added keys (ids
        above every key it holds) and re-clustered the keys ``reclustered`` (those new keys
        among them): only their rows are read. The index itself is left as it was, for the
        queries still using it."""
        import copy

        new = copy.copy(self)
        conn = self._connect()
        try:
            conn.execute("BEGIN")  # one snapshot
            new.run_id = conn.execute("SELECT max(id) FROM runs").fetchone()[0]
            ids, fps, band_codes, band_keys, anchor_codes, anchor_keys, n_anchors = self._postings(
                conn.execute("SELECT id, fp, bands, anchors FROM keys WHERE id > ?", (self.max_key_id,)))
            new.max_key_id = max(ids, default=self.max_key_id)
            new.key_of_fp = self.key_of_fp.updated(dict(zip(fps, ids)))
            new.n_anchors = self.n_anchors.updated(n_anchors)
            new.bands, new.anchors = self.bands.with_more(band_codes, band_keys), self.anchors.with_more(anchor_codes, anchor_keys)
            keys = np.asarray(reclustered, dtype=np.int64).tolist()
            cluster_of = {k: None for k in keys}  # the keys' clusters now (None: in none)
            for start in range(0, len(keys), 500):
                chunk = keys[start : start + 500]
                # one paragraph a key (all of a key's are in its cluster): a common line's
                # thousands of text-holding rows are not read; the key_id index finds it
                cluster_of.update((k, c) for k, c in conn.execute(
                    "SELECT key_id, cluster_id FROM paragraphs WHERE id IN (SELECT min(id) FROM paragraphs "
                    f"WHERE key_id IN ({','.join('?' * len(chunk))}) GROUP BY key_id)", chunk) if c is not None)
            new.cluster_of_key = self.cluster_of_key.updated(cluster_of)
            old = {self.cluster_of_key.get(k) for k in keys} - {None}
            clusters = sorted(old | set(cluster_of.values()) - {None})
            canonical = dict.fromkeys(old)  # gone, unless still there
            for start in range(0, len(clusters), 500):
                chunk = clusters[start : start + 500]
                canonical.update((row[0], row[1:]) for row in conn.execute(_CANONICALS + f" WHERE c.id IN ({','.join('?' * len(chunk))})", chunk))
            new.canonical = self.canonical.updated(canonical)
        finally:
            conn.close()
        return new

    def query(self, text: str) -> list[ParagraphAnswer]:
        """What a scan would say of every paragraph of ``text`` added after the corpus."""
        paragraphs = split_paragraphs(text, self.config.split)
        return self.match_keys(paragraphs, [self.normalizer(p.text) for p in paragraphs])

    def match_keys(self, paragraphs: list, keys: list[str], within: bool = True) -> list[ParagraphAnswer]:
        """``query`` for paragraphs already split and normalized (with this index's config);
        ``within=False`` leaves out repeats inside the paragraphs themselves (``filter`` finds
        those with its own index of the stream)."""
        signed = sign_for_lookup(keys, self.config)
        with self._kept.connection() as conn:
            conn.execute("BEGIN")  # one snapshot for every read of this query
            if conn.execute("SELECT max(id) FROM runs").fetchone()[0] != self.run_id:
                raise StaleIndex(self.db_path)
            answers = [self._answer(conn, p, key, signed.get(i)) for i, (p, key) in enumerate(zip(paragraphs, keys))]
        return self._within(paragraphs, keys, answers) if within else answers

    def _within(self, paragraphs: list, keys: list[str], answers: list[ParagraphAnswer]) -> list[ParagraphAnswer]:
        """Paragraphs new to the database may still repeat an earlier paragraph of the same
        text, as a scan of the text would find: the first occurrence is its canonical."""
        earlier: list[tuple[int, str]] = []  # (index, key) of this text's new paragraphs so far
        by_key: dict[str, int] = {}
        out = []
        for i, (p, key, answer) in enumerate(zip(paragraphs, keys, answers)):
            if answer.status == "new" and len(key) >= MIN_KEY_CHARS:
                first = by_key.get(key)
                found = (first, "exact", 1.0, 1.0) if first is not None else None
                if found is None and len(key) >= self.config.min_chars:
                    found = best_copy(key, [(j, k) for j, k in earlier if len(k) >= self.config.min_chars], self.config, self.rule)
                if found is not None:
                    j, relation, jac, con = found
                    q = paragraphs[j]
                    answer = ParagraphAnswer(
                        idx=p.idx, line_start=p.line_start, line_end=p.line_end, text=p.text, status="copy", relation=relation,
                        similarity=round(jac, 6), containment=round(con, 6), cluster_id=None,
                        canonical={"paragraph_id": None, "document": THIS_TEXT, "line_start": q.line_start, "line_end": q.line_end},
                    )
                else:
                    earlier.append((i, key))
                    by_key.setdefault(key, i)
            out.append(answer)
        return out

    def _answer(self, conn, p, key: str, signed) -> ParagraphAnswer:
        base = dict(idx=p.idx, line_start=p.line_start, line_end=p.line_end, text=p.text)
        if len(key) < MIN_KEY_CHARS:
            return ParagraphAnswer(**base, status="new")
        kid = self.key_of_fp.get(fingerprint(key))
        if kid is not None:
            return self._copy_of_key(conn, base, kid)
        if signed is None:
            return ParagraphAnswer(**base, status="new")
        band_codes, anchor_codes, _ = signed
        candidates = set(self.bands.holders(band_codes).tolist())
        shared: dict[int, int] = {}
        for code in anchor_codes:
            holders = self.anchors.holders([code])
            if len(holders) <= ANCHOR_MAX_BUCKET:
                for k in holders.tolist():
                    shared[k] = shared.get(k, 0) + 1
        candidates.update(k for k, n in shared.items() if n >= ANCHOR_MIN_SHARE * max(1, min(len(anchor_codes), self.n_anchors.get(k, 0))))
        if not candidates:
            return ParagraphAnswer(**base, status="new")
        # verify against each candidate's canonical, as a scan verifies a member
        heads = {}
        for k in candidates:
            cid = self.cluster_of_key.get(k)
            head = self.canonical[cid][1] if cid is not None else k
            heads.setdefault(head, cid)
        texts = stored_key_texts(conn, heads, self.normalizer)
        # the scan's head is the canonical that comes first (its cluster's rank): try them in
        # corpus order, and the first that accepts the text is what it copies
        best = None
        for head in sorted(heads, key=lambda h: self._corpus_order(conn, heads[h], h)):
            best = best_copy(key, [(head, texts[head])], self.config, self.rule)
            if best is not None:
                break
        if best is None:
            return ParagraphAnswer(**base, status="new")
        head, relation, jac, con = best
        cid = heads[head]
        return ParagraphAnswer(**base, status="copy", relation=relation, similarity=round(jac, 6), containment=round(con, 6),
                               cluster_id=cid, canonical=self._canonical(conn, cid, head))

    def _copy_of_key(self, conn, base: dict, kid: int) -> ParagraphAnswer:
        cid = self.cluster_of_key.get(kid)
        if cid is None or self.canonical[cid][1] == kid:
            return ParagraphAnswer(**base, status="copy", relation="exact", similarity=1.0, containment=1.0,
                                   cluster_id=cid, canonical=self._canonical(conn, cid, kid))
        relation, sim, con = conn.execute(
            "SELECT m.relation, m.similarity, m.containment FROM members m JOIN paragraphs p ON p.id = m.paragraph_id WHERE p.key_id = ? LIMIT 1",
            (kid,),
        ).fetchone()
        return ParagraphAnswer(**base, status="copy", relation=relation, similarity=sim, containment=con,
                               cluster_id=cid, canonical=self._canonical(conn, cid, kid))

    def _corpus_order(self, conn, cid: int | None, kid: int) -> tuple:
        """Where a cluster's canonical (or an unclustered key's paragraph) stands in corpus order."""
        pid = self.canonical[cid][0] if cid is not None else self._canonical(conn, None, kid)["paragraph_id"]
        return conn.execute(
            "SELECT d.source, coalesce(d.record, 0), d.id, p.idx FROM paragraphs p JOIN documents d ON d.id = p.doc_id WHERE p.id = ?",
            (pid,),
        ).fetchone()

    def _canonical(self, conn, cid: int | None, kid: int) -> dict:
        if cid is not None:
            pid, _, path, start, end = self.canonical[cid]
        else:  # an unclustered paragraph: the first with this key is what the text copies
            pid, path, start, end = conn.execute(
                "SELECT p.id, d.path, p.line_start, p.line_end FROM paragraphs p JOIN documents d ON d.id = p.doc_id WHERE p.key_id = ? ORDER BY p.id LIMIT 1",
                (kid,),
            ).fetchone()
        return {"paragraph_id": pid, "document": path, "line_start": start, "line_end": end}


_CANONICALS = """SELECT c.id, p.id, p.key_id, d.path, p.line_start, p.line_end FROM clusters c
                 JOIN paragraphs p ON p.id = c.canonical_id JOIN documents d ON d.id = p.doc_id"""


OVERLAY_MAX = 1 << 15  # changes an overlay or a postings delta holds before it is folded in


class KeptConnections:
    """Read-only connections kept between queries (opening and closing one cost a query ~0.1
    ms), handed to one query at a time whatever its thread (the service's thread pool lets idle
    threads go), opened again when the path names another file than the one they hold (a
    database replaced whole from outside, which the query must see to find its index stale)."""

    def __init__(self, path: Path):
        self.path = path
        self.idle: list[tuple[sqlite3.Connection, tuple[int, int]]] = []
        self.lock = threading.Lock()

    @contextmanager
    def connection(self) -> Iterator[sqlite3.Connection]:
        """A connection for one query; its read transaction is ended after it."""
        st = os.stat(self.path)
        with self.lock:
            held = self.idle.pop() if self.idle else None
        if held is not None and held[1] != (st.st_dev, st.st_ino):
            held[0].close()
            held = None
        if held is None:
            held = (connect_read_only(self.path, check_same_thread=False), (st.st_dev, st.st_ino))
        try:
            yield held[0]
        finally:
            held[0].rollback()
            with self.lock:
                self.idle.append(held)


class Overlay:
    """A read-only mapping: a dict seen through a small dict of changes (a value of None is a
    key removed), so that an index advanced by a write copies the changes, not the mapping."""

    __slots__ = ("base", "top")

    def __init__(self, base: dict, top: dict | None = None):
        self.base, self.top = base, top or {}

    def get(self, key, default=None):
        if key in self.top:
            value = self.top[key]
            return default if value is None else value
        return self.base.get(key, default)

    def __getitem__(self, key):
        value = self.get(key)
        if value is None:
            raise KeyError(key)
        return value

    def __contains__(self, key) -> bool:
        return self.get(key) is not None

    def as_dict(self) -> dict:
        out = dict(self.base) if self.top else self.base
        for key, value in self.top.items():
            if value is None:
                out.pop(key, None)
            else:
                out[key] = value
        return out

    def updated(self, changes: dict) -> "Overlay":
        """This mapping with ``changes`` made; itself unchanged."""
        top = {**self.top, **changes}
        return Overlay(Overlay(self.base, top).as_dict()) if len(top) > OVERLAY_MAX else Overlay(self.base, top)


class Postings:
    """Sorted codes with the key holding each, plus a small sorted delta of those added since."""

    def __init__(self, codes: np.ndarray, keys: np.ndarray, more: tuple[np.ndarray, np.ndarray] | None = None):
        self.codes, self.keys = codes, keys
        self.more = more if more is not None else (np.zeros(0, np.int64), np.zeros(0, np.int64))

    def holders(self, wanted) -> np.ndarray:
        """The keys holding any of the ``wanted`` codes, distinct and sorted."""
        found = [_holders(self.codes, self.keys, wanted)]
        if len(self.more[0]):
            found.append(_holders(*self.more, wanted))
        return found[0] if len(found) == 1 else np.unique(np.concatenate(found))

    def pairs(self) -> list[tuple[int, int]]:
        """Every (code, key), sorted (for tests)."""
        return sorted(zip(np.concatenate((self.codes, self.more[0])).tolist(), np.concatenate((self.keys, self.more[1])).tolist()))

    def with_more(self, codes: np.ndarray, keys: np.ndarray) -> "Postings":
        """These postings and ``codes`` (held by ``keys``); themselves unchanged."""
        if not len(codes):
            return self
        more = _sorted([self.more[0], codes], [self.more[1], keys])
        if len(more[0]) <= OVERLAY_MAX:
            return Postings(self.codes, self.keys, more)
        at = np.searchsorted(self.codes, more[0], "right")
        return Postings(np.insert(self.codes, at, more[0]), np.insert(self.keys, at, more[1]))


def _sorted(codes: list[np.ndarray], keys: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    if not codes:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    c, k = np.concatenate(codes), np.concatenate(keys)
    order = np.argsort(c, kind="stable")
    return c[order], k[order]


def _holders(codes: np.ndarray, keys: np.ndarray, wanted) -> np.ndarray:
    """The keys holding any of the ``wanted`` codes."""
    wanted = np.asarray(wanted, dtype=np.int64)
    lo, hi = np.searchsorted(codes, wanted, "left"), np.searchsorted(codes, wanted, "right")
    if not len(wanted) or (hi == lo).all():
        return np.zeros(0, np.int64)
    return np.unique(np.concatenate([keys[a:b] for a, b in zip(lo.tolist(), hi.tolist()) if b > a]))
