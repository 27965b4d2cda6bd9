"""Append documents to a stored scan at the cost of the documents, not of the index: the
write path of the service (``dedup serve``).

An update (update.py) finds the candidates again over every key, because the candidate rules
look at whole buckets. When the new documents come *last* in corpus order (the service's
sources sort after every file name, and after each other in posting order), their keys come
last in key order too, so a full scan would place them at the end of every bucket they join,
and nothing before them moves. Then the full scan's candidates are exactly:

* the candidates of before, but the anchor pairs a bucket's growth past ``ANCHOR_MAX_BUCKET``
  took away (a stock phrase is dropped whole: its pairs count one shared anchor less, and may
  no longer reach ``ANCHOR_MIN_SHARE``);
* each new key with the ``BUCKET_WINDOW`` members before it in every band bucket, and with
  those before it in every anchor bucket of at most ``ANCHOR_MAX_BUCKET`` keys, kept when the
  shared anchors reach ``ANCHOR_MIN_SHARE`` of the smaller key's, as ``lsh.anchor_pairs`` does.

``LiveCorpus`` keeps what that takes in memory, loaded once from the database (what
``update.load_corpus`` and ``find_candidates`` give): the keys and paragraphs in corpus order,
band and anchor buckets as sorted arrays with a small delta of new postings that is merged
into them when it passes ``MERGE_AT`` (an LSM-style merge: one ``np.insert`` of sorted runs),
the verified edges, and every known score. ``append`` then writes one transaction through
the update's own stages (read, sign, re-cluster the touched components, store their clusters),
and re-decides boilerplate and passages only where they can change. Anything else (deleting,
replacing a document) goes through ``update.py`` and the live corpus is loaded again.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from ..config import ScanConfig
from ..match.lsh import ANCHOR_MAX_BUCKET, ANCHOR_MIN_SHARE, BUCKET_WINDOW
from .member_rows import HeldMembers, positions
from .update import KeyTable, Scores

MERGE_AT = 1 << 15  # postings in a bucket delta before it is merged into the sorted arrays


class Buckets:
    """Codes -> holders (signed key positions, ascending within a code): sorted arrays plus a
    delta of the postings added since the last merge."""

    def __init__(self, codes: np.ndarray, holders: np.ndarray):
        order = np.argsort(codes, kind="stable")  # holders come in ascending order: stays so
        self.codes, self.holders = codes[order].astype(np.int64), holders[order].astype(np.int64)
        self.delta: dict[int, list[int]] = {}
        self.n_delta = 0

    def members(self, code: int) -> np.ndarray:
        """The holders of ``code``, in key order."""
        lo, hi = np.searchsorted(self.codes, [code, code + 1])
        extra = self.delta.get(code)
        return self.holders[lo:hi] if extra is None else np.concatenate((self.holders[lo:hi], extra))

    def add(self, code: int, holder: int) -> None:
        self.delta.setdefault(code, []).append(holder)
        self.n_delta += 1

    def merge(self) -> None:
        """Fold the delta into the sorted arrays (a new code's holders are all newer)."""
        if not self.n_delta:
            return
        codes = np.fromiter((c for c, hs in self.delta.items() for _ in hs), dtype=np.int64, count=self.n_delta)
        holders = np.fromiter((h for hs in self.delta.values() for h in hs), dtype=np.int64, count=self.n_delta)
        order = np.argsort(codes, kind="stable")
        codes, holders = codes[order], holders[order]
        at = np.searchsorted(self.codes, codes, "right")
        self.codes, self.holders = np.insert(self.codes, at, codes), np.insert(self.holders, at, holders)
        self.delta, self.n_delta = {}, 0


class LayeredScores:
    """Every known score (the ``checked`` table) as ``update.Scores`` plus a dict of the scores
    found since: the interface ``update.recluster`` uses (``lookup``, ``add``)."""

    def __init__(self, main: Scores):
        self.main = main
        self.delta: dict[int, tuple[float, float]] = {}
        self._arrays: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None

    def lookup(self, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        codes = np.asarray(codes, dtype=np.int64)
        found, jac, con = self.main.lookup(codes)
        if self.delta and len(codes):
            delta = self._delta_arrays()
            at = np.minimum(np.searchsorted(delta[0], codes), len(delta[0]) - 1)
            hit = delta[0][at] == codes
            found = found | hit
            jac, con = np.where(hit, delta[1][at], jac), np.where(hit, delta[2][at], con)
        return found, jac, con

    def _delta_arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The scores found since, as sorted codes and their values (made again after an add)."""
        if self._arrays is None:
            c = np.fromiter(self.delta, dtype=np.int64, count=len(self.delta))
            v = np.array(list(self.delta.values()), dtype=np.float64).reshape(-1, 2)
            order = np.argsort(c)
            self._arrays = (c[order], v[order, 0], v[order, 1])
        return self._arrays

    def add(self, codes: np.ndarray, jaccard: np.ndarray, containment: np.ndarray) -> None:
        self._arrays = None
        self.delta.update(zip(np.asarray(codes).tolist(), zip(np.asarray(jaccard).tolist(), np.asarray(containment).tolist())))
        if len(self.delta) > MERGE_AT:
            c = np.fromiter(self.delta, dtype=np.int64, count=len(self.delta))
            v = np.array(list(self.delta.values()), dtype=np.float64).reshape(-1, 2)
            self.main.add(c, v[:, 0], v[:, 1])
            self.delta = {}


class PairValues:
    """Pairs of signed positions (a < b) with a value each (the verified edges with their
    Jaccard, the candidate pairs with their containment): sorted codes a << 32 | b with a mask
    of those still alive, plus the pairs found since."""

    def __init__(self, pairs: np.ndarray, values: np.ndarray):
        codes = (pairs[:, 0].astype(np.int64) << 32) | pairs[:, 1].astype(np.int64)
        order = np.argsort(codes)
        self.codes, self.values = codes[order], np.asarray(values, dtype=np.float64)[order]
        self.alive = np.ones(len(codes), dtype=bool)
        self.delta: dict[int, float] = {}

    def __len__(self) -> int:
        return int(self.alive.sum()) + len(self.delta)

    def drop(self, codes: list[int]) -> None:
        for code in codes:
            if self.delta.pop(code, None) is None:
                at = np.searchsorted(self.codes, code)
                if at < len(self.codes) and self.codes[at] == code:
                    self.alive[at] = False

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """(pairs as (m, 2) positions, their values), as ``update.recluster`` takes edges."""
        codes = np.concatenate((self.codes[self.alive], np.fromiter(self.delta, dtype=np.int64, count=len(self.delta))))
        values = np.concatenate((self.values[self.alive], np.fromiter(self.delta.values(), dtype=np.float64, count=len(self.delta))))
        return np.stack((codes >> 32, codes & 0xFFFFFFFF), axis=1), values


@dataclass
class LiveCorpus:
    """A stored scan in memory, as of its run ``run_id``, ready for appends (see the module)."""

    run_id: int
    config: ScanConfig
    paras: object  # local.Paragraphs
    keys: KeyTable
    bands: Buckets
    anchors: Buckets
    anchor_start: np.ndarray  # offsets of each signed key's anchors in keys.anchor_values
    scores: LayeredScores
    edges: PairValues  # verified, with their Jaccard
    n_candidates: int
    n_lsh: int
    index_of_id: dict[int, int]  # keys.id -> key index
    site_sizes: Counter  # documents per site key (boilerplate.site_sizes of the paths)
    duplicates: tuple[int, int]  # duplicate paragraphs and their characters (update.stored_duplicates)
    last_written: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # ids of the keys the last append re-clustered (the new ones among them)
    candidates: PairValues | None = None  # with their containment (set by load_live)
    # the joined rule's state (match/joined.py, kept by engines/joined_live.py; None when the
    # rule makes no partial copies), and how many paragraphs its neighbour pairs were found in
    joined: object = None
    neighbours_of: int = 0
    # clusters, boilerplate clusters, and at least as many documents as any cluster has
    # (kept through appends, so that no append reads the whole clusters table)
    n_clusters: int = 0
    n_furniture: int = 0
    most_docs: int = 0
    # the cluster of every key (index in ``keys``; -1: none): all paragraphs of a key are in one
    cluster_of_key: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    sites: object = None  # boilerplate.SitesOf of the documents (set by load_live)
    ranks: tuple | None = None  # local.key_ranks of the corpus, kept under the first policy
    doc_ids: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # documents.id of each document position - 1
    held: HeldMembers | None = None  # the member row of every paragraph (set by load_live)

    def band_codes(self, pos: int) -> list[int]:
        return ((np.arange(self.keys.bands.shape[1], dtype=np.int64) << 32) | self.keys.bands[pos].astype(np.int64)).tolist()

    def merge_if_due(self, at: int | None = None) -> bool:
        """Fold the bucket deltas into their sorted arrays once they pass ``at`` postings
        (``MERGE_AT``); True when it did."""
        at = MERGE_AT if at is None else at
        if self.bands.n_delta + self.anchors.n_delta <= at:
            return False
        self.bands.merge()
        self.anchors.merge()
        return True

    def anchor_codes(self, pos: int) -> np.ndarray:
        return self.keys.anchor_values[self.anchor_start[pos] : self.anchor_start[pos + 1]].astype(np.int64)


def load_live(conn, config: ScanConfig) -> LiveCorpus:
    """The live corpus of the scan ``conn`` holds (a read transaction's view of it)."""
    from ..match.boilerplate import site_sizes
    from .local import find_candidates
    from .update import load_corpus, stored_duplicates

    run_id = conn.execute("SELECT max(id) FROM runs").fetchone()[0]
    paras, keys = load_corpus(conn, config)
    pairs, n_lsh = find_candidates(config, keys.bands, keys.anchor_owner, keys.anchor_values, False)
    checked = np.array(conn.execute("SELECT a, b, jaccard, containment FROM checked").fetchall(), dtype=np.float64).reshape(-1, 4)
    scores = Scores((checked[:, 0].astype(np.int64) << 32) | checked[:, 1].astype(np.int64), checked[:, 2], checked[:, 3])
    signed_ids = keys.ids[keys.signed]
    found, jac, con = scores.lookup(Scores.code(signed_ids[pairs[:, 0]], signed_ids[pairs[:, 1]]))
    if not found.all():
        raise AssertionError("every candidate pair of a stored scan is in its checked table")
    ok = config.match_rule().judge(jac, con, keys.set_sizes[pairs[:, 0]], keys.set_sizes[pairs[:, 1]])
    b = keys.bands.shape[1]
    n = len(keys.signed)
    band_codes = ((np.arange(b, dtype=np.int64) << 32)[None, :] | keys.bands.astype(np.int64)).ravel()
    anchor_start = np.searchsorted(keys.anchor_owner, np.arange(n + 1)).astype(np.int64)
    live = LiveCorpus(
        run_id, config, paras, keys, Buckets(band_codes, np.repeat(np.arange(n, dtype=np.int64), b)),
        Buckets(keys.anchor_values.astype(np.int64), keys.anchor_owner.astype(np.int64)), anchor_start,
        LayeredScores(scores), PairValues(pairs[ok], jac[ok]), len(pairs), n_lsh, dict(zip(keys.ids.tolist(), range(len(keys.ids)))),
        site_sizes(paras.paths), stored_duplicates(conn), candidates=PairValues(pairs, con),
    )
    _start_joined(conn, live)
    live.n_clusters, live.n_furniture, live.most_docs = conn.execute(
        "SELECT count(*), coalesce(sum(boilerplate), 0), coalesce(max(n_documents), 0) FROM clusters").fetchone()
    from ..match.boilerplate import SitesOf

    live.sites = SitesOf(paras.paths)  # the same list, which appends grow in place
    # document positions in corpus order, as update.load_corpus numbers them
    live.doc_ids = np.array([d for _, d in sorted(conn.execute("SELECT source, id FROM documents"))], dtype=np.int64)
    live.cluster_of_key = np.full(len(keys.ids), -1, dtype=np.int64)
    rows = np.array(conn.execute("SELECT key_id, cluster_id FROM paragraphs WHERE cluster_id IS NOT NULL").fetchall(), dtype=np.int64).reshape(-1, 2)
    live.cluster_of_key[np.fromiter((live.index_of_id[k] for k in rows[:, 0].tolist()), dtype=np.int64, count=len(rows))] = rows[:, 1]
    live.held = HeldMembers.load(conn, paras.ids)
    return live


def _start_joined(conn, live: LiveCorpus) -> None:
    """The joined rule's state of a live corpus just loaded (``joined_live.LiveJoined``), found
    now, not at the first write: the pairs never scored are scored on key texts read from ``conn``."""
    from ..atomic import tmp_dir
    from ..match.joined import neighbour_pairs
    from ..store.keystore import KeyStore
    from .joined_live import LiveJoined
    from .local import signed_position
    from .update import KeyTexts

    keys, paras = live.keys, live.paras
    live.neighbours_of = len(paras.key)
    if live.config.containment <= 0:
        return
    para_node = signed_position(len(keys.ids), keys.signed)[paras.key]
    candidates, containment = live.candidates.arrays()
    live.joined = LiveJoined(live.config.match_rule(), neighbour_pairs(para_node, paras.doc), candidates, containment, keys.set_sizes,
                             live.edges.arrays()[0])
    store = KeyStore(tmp_dir(None), prefix=".dedup-live-keys-")  # removed by close()
    try:
        live.joined.start(_scorer(live, KeyTexts(conn, store), None), keys.set_sizes)
    finally:
        store.close()


def _scorer(live: LiveCorpus, texts, writer):
    """``update.stored_scorer`` of the live corpus's keys as they stand."""
    from .update import stored_scorer

    keys = live.keys
    return stored_scorer(live.scores, texts, keys.ids[keys.signed], keys.set_sizes, live.config, writer)


def extended(live: LiveCorpus, conn, first_doc: int, first_key: int) -> LiveCorpus:
    """``live`` with the documents from id ``first_doc`` and keys from id ``first_key`` (just
    written, last in corpus order) appended to its paragraphs and keys, and the new keys'
    postings in its buckets (the buckets are shared: an append that fails drops the corpus)."""
    from ..config import MIN_KEY_CHARS
    from ..timing import epoch

    paras, keys, config = live.paras, live.keys, live.config
    docs = conn.execute("SELECT id, path, date FROM documents WHERE id >= ? ORDER BY source, id", (first_doc,)).fetchall()
    pos_of = {d: len(paras.paths) + 1 + i for i, (d, _, _) in enumerate(docs)}
    rows = np.array(conn.execute(
        "SELECT id, doc_id, idx, coalesce(key_id, -1), char_end - char_start, line_start FROM paragraphs WHERE doc_id >= ?", (first_doc,)
    ).fetchall(), dtype=np.int64).reshape(-1, 6)
    doc_pos = np.fromiter((pos_of[d] for d in rows[:, 1].tolist()), dtype=np.int64, count=len(rows))
    order = np.lexsort((rows[:, 2], doc_pos))
    rows, doc_pos = rows[order], doc_pos[order]
    new_keys = conn.execute("SELECT id, fp, key_len, set_size, bands, anchors FROM keys WHERE id >= ? ORDER BY id", (first_key,)).fetchall()
    index_of = live.index_of_id
    index_of.update({r[0]: len(keys.ids) + i for i, r in enumerate(new_keys)})
    para_key = np.fromiter((index_of[k] if k >= 0 else -1 for k in rows[:, 3].tolist()), dtype=np.int64, count=len(rows))
    paths = paras.paths  # appended in place: a list shorter corpora never read past
    paths.extend(d[1] for d in docs)
    paras = replace(
        paras, key=grown(paras.key, para_key), doc=grown(paras.doc, doc_pos), length=grown(paras.length, rows[:, 4]),
        line=grown(paras.line, rows[:, 5]), ids=grown(paras.ids, rows[:, 0]), paths=paths,
        doc_date=grown(paras.doc_date, np.array([epoch(d[2]) for d in docs], dtype=np.float64)),
    )
    key_len = np.array([r[2] for r in new_keys], dtype=np.int64)
    signed_new = np.nonzero(key_len >= max(config.min_chars, MIN_KEY_CHARS))[0]
    from ..match.boilerplate import site_keys

    live.site_sizes.update(k for d in docs for k in site_keys(d[1]))
    held = HeldMembers(*(grown(column, np.full(len(rows), fill)) for column, fill in zip(live.held.columns(), HeldMembers.FILL)))
    live = replace(live, paras=paras, keys=_more_keys(keys, new_keys, key_len, signed_new), held=held,
                   doc_ids=grown(live.doc_ids, np.array([d[0] for d in docs], dtype=np.int64)))
    _post(live, len(keys.signed))
    return live


def _more_keys(keys: KeyTable, rows: list[tuple], key_len: np.ndarray, signed_new: np.ndarray) -> KeyTable:
    """``keys`` with the keys of ``rows`` (keys table rows, in key order) after them."""
    signed_rows = [rows[i] for i in signed_new.tolist()]
    b = keys.bands.shape[1]
    blobs = [r[5] or b"" for r in signed_rows]
    lengths = np.fromiter((len(a) // 4 for a in blobs), dtype=np.int64, count=len(blobs))
    n_signed = len(keys.signed)
    fps = keys.fps  # appended in place, as the paths
    fps.extend(r[1] for r in rows)
    return KeyTable(
        grown(keys.ids, np.array([r[0] for r in rows], dtype=np.int64)),
        fps,
        grown(keys.key_len, key_len),
        grown(keys.signed, len(keys.ids) + signed_new),
        grown(keys.set_sizes, np.array([r[3] for r in signed_rows], dtype=np.int64)),
        grown(keys.bands, np.frombuffer(b"".join(r[4] for r in signed_rows), dtype="<u4").reshape(-1, b)),
        grown(keys.anchor_owner, np.repeat(np.arange(n_signed, n_signed + len(signed_rows), dtype=np.int32), lengths)),
        grown(keys.anchor_values, np.frombuffer(b"".join(blobs), dtype="<u4")),
    )


_filled: dict[int, int] = {}  # id of a buffer ``grown`` made -> how much of it is written


def grown(values: np.ndarray, more: np.ndarray) -> np.ndarray:
    """``values`` with ``more`` after them (along the first axis), as a view of a buffer with
    room to spare: appends cost what they add, not a copy of the corpus's arrays each time.
    ``values`` itself is left as it was (a buffer is only ever written past what any view of
    it shows, and only when ``values`` ends where the buffer's writing ended)."""
    more = np.asarray(more, dtype=values.dtype)
    n, k = len(values), len(more)
    base = values.base
    in_place = (
        isinstance(base, np.ndarray) and base.ndim == values.ndim and _filled.get(id(base)) == n and len(base) >= n + k
        and base.__array_interface__["data"][0] == values.__array_interface__["data"][0]
    )
    if not in_place:
        base = np.empty((max(2 * (n + k), 1024), *values.shape[1:]), dtype=values.dtype)
        base[:n] = values
    base[n : n + k] = more
    _filled[id(base)] = n + k
    return base[: n + k]


def _post(live: LiveCorpus, first: int) -> None:
    """Put the postings of the signed keys from position ``first`` in the buckets."""
    n = len(live.keys.signed)
    live.anchor_start = np.concatenate((live.anchor_start[:first], np.searchsorted(live.keys.anchor_owner, np.arange(first, n + 1))))
    for pos in range(first, n):
        for code in live.band_codes(pos):
            live.bands.add(code, pos)
        if live.config.containment > 0:
            for code in live.anchor_codes(pos).tolist():
                live.anchors.add(code, pos)


def _window_before(members: np.ndarray, pos: int) -> np.ndarray:
    """The ``BUCKET_WINDOW`` members before ``pos`` in a bucket (members ascending)."""
    at = int(np.searchsorted(members, pos))
    return members[max(0, at - BUCKET_WINDOW) : at]


def new_candidates(live: LiveCorpus, first: int) -> tuple[set[tuple[int, int]], int]:
    """The full scan's candidate pairs (signed positions, a < b) that hold a key from
    position ``first`` on, and how many of them the bands alone give."""
    band_pairs: set[tuple[int, int]] = set()
    shared: dict[tuple[int, int], int] = {}
    for pos in range(first, len(live.keys.signed)):
        for code in live.band_codes(pos):
            band_pairs.update((int(x), pos) for x in _window_before(live.bands.members(code), pos))
        if live.config.containment > 0:
            for code in live.anchor_codes(pos).tolist():
                members = live.anchors.members(code)
                if len(members) <= ANCHOR_MAX_BUCKET:
                    for x in _window_before(members, pos).tolist():
                        shared[x, pos] = shared.get((x, pos), 0) + 1
    per_key = np.diff(live.anchor_start)
    anchor_pairs = {p for p, n in shared.items() if n >= ANCHOR_MIN_SHARE * min(per_key[p[0]], per_key[p[1]])}
    return band_pairs | anchor_pairs, len(band_pairs)


def _within_window(members: np.ndarray, x: int, y: int) -> bool:
    i, j = np.searchsorted(members, [x, y])
    return i < len(members) and j < len(members) and members[i] == x and members[j] == y and abs(int(j) - int(i)) <= BUCKET_WINDOW


def _is_band_pair(live: LiveCorpus, x: int, y: int) -> bool:
    """Do keys x and y (signed positions) pair in some band bucket?"""
    same = np.nonzero(live.keys.bands[x] == live.keys.bands[y])[0]
    codes = live.band_codes(x)
    return any(_within_window(live.bands.members(codes[b]), x, y) for b in same.tolist())


def _shared_anchors(live: LiveCorpus, x: int, y: int, first: int) -> tuple[int, int]:
    """Anchors x and y (old keys, before ``first``) share within the window of a bucket the
    anchor rule keeps: (before the keys from ``first`` joined, now)."""
    before = now = 0
    for code in np.intersect1d(live.anchor_codes(x), live.anchor_codes(y)).tolist():
        members = live.anchors.members(code)
        if _within_window(members, x, y):
            size_before = int(np.searchsorted(members, first))
            before += size_before <= ANCHOR_MAX_BUCKET
            now += len(members) <= ANCHOR_MAX_BUCKET
    return before, now


def lost_candidates(live: LiveCorpus, first: int) -> set[tuple[int, int]]:
    """Pairs of keys before position ``first`` that were candidates and are no longer: their
    anchor bucket grew past ``ANCHOR_MAX_BUCKET`` with the new keys, so the pair shares one
    anchor less, and neither the rest nor a band makes it a candidate."""
    if live.config.containment <= 0:
        return set()
    crossed = set()
    for pos in range(first, len(live.keys.signed)):
        crossed.update(live.anchor_codes(pos).tolist())
    per_key = np.diff(live.anchor_start)
    lost = set()
    for code in sorted(crossed):
        members = live.anchors.members(code)
        old = members[: int(np.searchsorted(members, first))]
        if not len(old) <= ANCHOR_MAX_BUCKET < len(members):
            continue
        for i in range(len(old)):
            for y in old[i + 1 : i + 1 + BUCKET_WINDOW].tolist():
                x = int(old[i])
                if (x, y) in lost:
                    continue
                need = ANCHOR_MIN_SHARE * min(per_key[x], per_key[y])
                before, now = _shared_anchors(live, x, y, first)
                if before >= need > now and not _is_band_pair(live, x, y):
                    lost.add((x, y))
    return lost


class NotAnAppend(Exception):
    """The change is not an append at the end of the corpus (or the corpus moved on under the
    live one): it goes through ``update.py``."""


def append(db_path, live: LiveCorpus, documents: list, run) -> tuple[LiveCorpus, dict]:
    """Add ``documents`` (``Document``s whose sources sort after every source stored, in that
    order) to the scan in ``db_path`` in one transaction, exactly as an update would; return the
    live corpus after it and the run's counts. ``NotAnAppend`` when it cannot be done so."""
    from ..errors import writing
    from .local import ELSEWHERE
    from .update import updating_writer

    with writing(db_path, "the updated database", ELSEWHERE), updating_writer(Path(db_path)) as (writer, store):
        # no checkpoint at the commit: the caller runs one when it has time (writes.checkpoint)
        writer.db.conn.execute("PRAGMA wal_autocheckpoint = 0")
        live, counts, row = _append(writer, store, live, documents, run)
        writer.commit(row)
    return live, counts


def _append(writer, store, live: LiveCorpus, documents: list, run) -> tuple[LiveCorpus, dict, dict]:
    """The stages of an append, in the update's order (see the module)."""
    from ..match.joined import merge_edges
    from .update import KeyTexts, Plan, Removed, carried_skips, read_documents, recluster, sign_new_keys, store_clusters

    conn, config, timer = writer.db.conn, live.config, run.timer
    run_id, root = conn.execute("SELECT id, root FROM runs ORDER BY id DESC LIMIT 1").fetchone()
    last = conn.execute("SELECT max(source) FROM documents").fetchone()[0]
    sources = [d.source for d in documents]
    if run_id != live.run_id or sources != sorted(sources) or len(set(sources)) != len(sources) or (last is not None and sources[0] <= last):
        raise NotAnAppend(run_id)
    first_doc, first_key = (conn.execute(f"SELECT coalesce(max(id), 0) + 1 FROM {t}").fetchone()[0] for t in ("documents", "keys"))
    texts = KeyTexts(conn, store)
    run.skipped.extend(carried_skips(conn, Plan(sources, {})))

    with timer.stage("read"):
        plan = Plan(sources, {}, documents={d.source: [d] for d in documents})
        removed, added = Removed(set(), set(), {}), read_documents(conn, writer, plan, Path(root), config, texts, run.skip_or_raise, False)
    with timer.stage("sign"):
        sign_new_keys(conn, writer, texts, removed, added, config, False)
        first = len(live.keys.signed)
        live = extended(live, conn, first_doc, first_key)
    with timer.stage("candidates"):
        pairs, n_band = new_candidates(live, first)
        lost = lost_candidates(live, first)
    with timer.stage("verify"):
        died, flipped, new = _verify_new(conn, writer, texts, live, pairs, lost)
        joined, joined_jaccard, changed = _joined_again(live, texts, writer, new)
    with timer.stage("cluster"):
        edges, edge_jaccard = merge_edges(*live.edges.arrays(), joined, joined_jaccard, len(live.keys.signed))
        verified = _Verified(live.scores, edges, edge_jaccard, joined)
        reclustered = recluster(writer, texts, live.keys, live.paras, verified, added.keys | flipped | changed, config, live.index_of_id,
                                _key_ranks(live))
    with timer.stage("store"):
        seen: dict = {}
        changes = store_clusters(conn, writer, live.paras, live.keys, reclustered, removed, run_id + 1, config, seen, _replaced(live, reclustered.dirty),
                                 lambda at: live.held.rows_at(at, live.paras.ids))
        live.held.clear(seen["subset"])
        live.held.put(positions(live.paras.ids, seen["rows"].pid, seen["subset"]), seen["rows"])
        was, now, more = _changed_rows(conn, seen["was"], seen["now"])
        live.cluster_of_key[reclustered.dirty] = -1
        live.cluster_of_key[seen["cluster_of_key"][0]] = seen["cluster_of_key"][1]
        live.duplicates = tuple(n + d for n, d in zip(live.duplicates, more))
        flipped_clusters = refresh_boilerplate(conn, live, [d.path for d in documents], seen)
    with timer.stage("passages"):
        n_passages = refresh_local_passages(conn, writer, was, now, flipped_clusters, lambda clusters: _documents_of(live, clusters))
    live.last_written = live.keys.ids[reclustered.dirty]
    live.n_candidates += len(pairs) - len(died)
    live.n_lsh += n_band
    live.run_id = run_id + 1
    counts = _counts(conn, live, run, added.documents, len(changes), int(reclustered.dirty.sum()), n_passages, len(edges))
    return live, counts, run.row(run_id + 1, root, config, counts)


@dataclass
class _Verified:
    """What ``update.recluster`` reads of the verify stage's result."""

    scores: LayeredScores
    edges: np.ndarray
    edge_jaccard: np.ndarray
    joined: np.ndarray  # match/joined.py's pairs, signed positions


def _joined_again(live: LiveCorpus, texts, writer, new: "_NewPairs") -> tuple[np.ndarray, np.ndarray, set[int]]:
    """The joined rule's pairs (match/joined.py) as a full scan finds them, judged again only
    where this append can change them (engines/joined_live.py): (pairs (m, 2) of signed
    positions, their Jaccard, ids of the keys whose joined pairs changed). Pairs scored for it
    are kept in ``live.scores`` (and stored by ``writer``)."""
    from ..match.joined import neighbour_pairs
    from .local import signed_position

    keys, paras = live.keys, live.paras
    since, live.neighbours_of = live.neighbours_of, len(paras.key)
    if live.joined is None:
        return np.zeros((0, 2), np.int64), np.zeros(0), set()
    para_node = signed_position(len(keys.ids), keys.signed)[paras.key[since:]]
    score = _scorer(live, texts, writer)
    joined, changed = live.joined.update(score, keys.set_sizes, neighbour_pairs(para_node, paras.doc[since:]), new.pairs, new.containment,
                                        new.lost, live.edges.arrays()[0])
    jaccard = score(joined[:, 0], joined[:, 1])[0] if len(joined) else np.zeros(0)
    return joined, jaccard, set(keys.ids[keys.signed][changed].tolist())


@dataclass
class _NewPairs:
    """The candidate pairs an append found (signed positions, with their containment) and lost."""

    pairs: np.ndarray
    containment: np.ndarray
    lost: np.ndarray


def _verify_new(conn, writer, texts, live: LiveCorpus, pairs: set, lost: set) -> tuple[list, set[int], _NewPairs]:
    """Verify stage: score the new candidate pairs never scored, mark them live in ``checked``
    and the lost ones not, and bring the live edges up to date; returns (lost pairs' codes,
    ids of the keys of pairs whose candidacy flipped, the new and lost pairs)."""
    from ..match.verify import KeySets

    keys = live.keys
    signed_ids = keys.ids[keys.signed]
    at = np.array(sorted(pairs), dtype=np.int64).reshape(-1, 2)
    codes = Scores.code(signed_ids[at[:, 0]], signed_ids[at[:, 1]])
    found, jac, con = live.scores.lookup(codes)
    todo = np.nonzero(~found)[0]
    if len(todo):
        texts.fetch(signed_ids[at[todo].ravel()])
        jac[todo], con[todo] = KeySets(texts, signed_ids, keys.set_sizes, live.config).score(at[todo, 0], at[todo, 1])
        live.scores.add(codes[todo], jac[todo], con[todo])
        writer.insert("checked", zip((codes[todo] >> 32).tolist(), (codes[todo] & 0xFFFFFFFF).tolist(), jac[todo].tolist(), con[todo].tolist(), [1] * len(todo)))
    born = codes[found]
    lost_at = np.array(sorted(lost), dtype=np.int64).reshape(-1, 2)
    died = Scores.code(signed_ids[lost_at[:, 0]], signed_ids[lost_at[:, 1]])
    conn.executemany("UPDATE checked SET live = 1 WHERE a = ? AND b = ?", zip((born >> 32).tolist(), (born & 0xFFFFFFFF).tolist()))
    conn.executemany("UPDATE checked SET live = 0 WHERE a = ? AND b = ?", zip((died >> 32).tolist(), (died & 0xFFFFFFFF).tolist()))
    ok = live.config.match_rule().judge(jac, con, keys.set_sizes[at[:, 0]], keys.set_sizes[at[:, 1]])
    live.edges.delta.update(zip(((at[ok, 0] << 32) | at[ok, 1]).tolist(), jac[ok].tolist()))
    live.edges.drop(((lost_at[:, 0] << 32) | lost_at[:, 1]).tolist())
    live.candidates.delta.update(zip(((at[:, 0] << 32) | at[:, 1]).tolist(), con.tolist()))
    live.candidates.drop(((lost_at[:, 0] << 32) | lost_at[:, 1]).tolist())
    flipped = np.concatenate((born, died))
    return died.tolist(), set(np.concatenate((flipped >> 32, flipped & 0xFFFFFFFF)).tolist()), _NewPairs(at, con, lost_at)


def refresh_boilerplate(conn, live: LiveCorpus, new_paths: list[str], seen: dict) -> set[int]:
    """Decide the boilerplate flag again where it can have changed: the clusters the store
    stage wrote (``seen``, see ``update.store_clusters``), and those in enough documents to be a
    site's furniture in a site the new documents grew; returns the clusters whose flag flipped,
    judged against the flag before the append (``seen["flags"]``, of the clusters the store
    stage replaced: a cluster written again holds the default flag until now, and one that was
    furniture before and is still was realigned in every document of it for nothing). A cluster
    that is new (its id unknown before) flips nothing: all its member rows changed. Keeps the
    live counts of clusters and boilerplate clusters."""
    from collections import Counter

    from ..match.boilerplate import MIN_DOCS, MIN_SITE_DOCS, SITE_SHARE, corpus_boilerplate, site_keys

    flags_before, written = seen["flags"], seen["written"]
    live.most_docs = max(live.most_docs, seen["most_docs"])
    sizes, grown = live.site_sizes, Counter(k for path in new_paths for k in site_keys(path))
    bounds = [max(MIN_DOCS, SITE_SHARE * (sizes[k] - n if sizes[k] - n >= MIN_SITE_DOCS else sizes[k])) for k, n in grown.items() if sizes[k] >= MIN_SITE_DOCS]
    _temp_ids(conn, "decide", written)
    pids, clusters = seen["rows"].pid, seen["rows"].cluster  # every member of the clusters written
    if bounds and min(bounds) <= live.most_docs:
        more = {c for (c,) in conn.execute("SELECT id FROM clusters WHERE n_documents >= ?", (min(bounds),))} - written
        _temp_ids(conn, "decide", written | more)
        at = np.nonzero(np.isin(live.held.cluster, np.fromiter(more, dtype=np.int64, count=len(more))))[0]
        pids, clusters = np.concatenate((pids, live.paras.ids[at])), np.concatenate((clusters, live.held.cluster[at]))
    furniture = corpus_boilerplate(live.paras, pids, clusters, sizes, live.sites)
    flags = dict(conn.execute("SELECT id, boilerplate FROM clusters WHERE id IN (SELECT id FROM decide)"))
    conn.executemany("UPDATE clusters SET boilerplate = ? WHERE id = ?", [(int(c in furniture), c) for c, f in flags.items() if f != int(c in furniture)])
    live.n_clusters += len(written) - len(flags_before)
    live.n_furniture += sum(int(c in furniture) - f for c, f in flags.items()) - sum(flags_before.values())
    old = {c: (flags_before.get(c) if c in written else f) for c, f in flags.items()}
    return {c for c, f in old.items() if f is not None and f != int(c in furniture)}


def refresh_local_passages(conn, writer, was: dict[int, tuple], now: dict[int, tuple], flipped: set[int], docs_of) -> int:
    """Align again the pairs of documents whose passages can have changed, given the member
    rows the append changed, before and after (``_changed_rows``), and the clusters whose
    boilerplate flag ``flipped``. A pair's passages are a function of its two documents'
    member rows, so a pair changes only when one side, ``touched``, has a changed row, and
    the other holds a member of a cluster such a row was or is in (``changed``); of those,
    only pairs that are pairs (one side holds the canonical of a cluster both share) have
    passages, and are aligned again from their documents' members. ``docs_of(clusters)``: the
    ids of the documents holding a member of them now (``_documents_of``). Returns the passages."""
    from ..match.passages import find_passages, stored_members

    rows = set(was.items()) ^ set(now.items())
    changed = ({row[0] for _, row in rows} | flipped) - {None}
    touched = {row[-1] for _, row in rows} | docs_of(flipped)
    _temp_ids(conn, "touched_docs", touched)
    _temp_ids(conn, "near_docs", touched | docs_of(changed))  # touched, or holding a member of a changed cluster
    for side, other in (("source_doc_id", "copy_doc_id"), ("copy_doc_id", "source_doc_id")):
        conn.execute(f"DELETE FROM passages WHERE {side} IN (SELECT id FROM touched_docs) AND {other} IN (SELECT id FROM near_docs)")
    # CROSS JOIN keeps the join order written: from the few documents out (without statistics
    # the planner walked the whole members index)
    conn.execute("DROP TABLE IF EXISTS their_clusters")
    conn.execute("CREATE TEMP TABLE their_clusters AS SELECT m.cluster_id AS id, max(m.relation = 'canonical') AS held FROM touched_docs t "
                 "CROSS JOIN paragraphs p ON p.doc_id = t.id CROSS JOIN members m ON m.paragraph_id = p.id GROUP BY m.cluster_id")
    _temp_ids(conn, "aligned_docs", set())
    conn.execute("""INSERT OR IGNORE INTO aligned_docs SELECT id FROM touched_docs UNION
        SELECT cp.doc_id FROM their_clusters t CROSS JOIN clusters c ON c.id = t.id CROSS JOIN paragraphs cp ON cp.id = c.canonical_id
        WHERE cp.doc_id IN (SELECT id FROM near_docs)
        UNION SELECT p2.doc_id FROM their_clusters t CROSS JOIN members m2 ON m2.cluster_id = t.id CROSS JOIN paragraphs p2 ON p2.id = m2.paragraph_id
        WHERE t.held AND p2.doc_id IN (SELECT id FROM near_docs)""")
    touched = {d for (d,) in conn.execute("SELECT id FROM touched_docs")}
    near = {d for (d,) in conn.execute("SELECT id FROM near_docs")}
    found = find_passages(stored_members(conn, "p.doc_id IN (SELECT id FROM aligned_docs)"))
    keep = ((r[1] in touched and r[4] in near) or (r[4] in touched and r[1] in near) for r in found)
    writer.insert("passages", ((None, *row[1:]) for row, kept in zip(found, keep) if kept))
    return conn.execute("SELECT count(*) FROM passages").fetchone()[0]


def _temp_ids(conn, name: str, ids: set[int]) -> None:
    """A temporary table ``name`` of integer ids (emptied first when it exists)."""
    conn.execute(f"CREATE TEMP TABLE IF NOT EXISTS {name} (id INTEGER PRIMARY KEY)")
    conn.execute(f"DELETE FROM {name}")
    conn.executemany(f"INSERT OR IGNORE INTO {name} VALUES (?)", [(i,) for i in sorted(ids)])


def _documents_of(live: LiveCorpus, clusters: set[int]) -> set[int]:
    """The ids of the documents holding a paragraph of ``clusters`` now, from the live corpus
    (``cluster_of_key``, brought up to date by the store stage): a common line's cluster is
    thousands of members, whose documents the database finds only by reading each paragraph row."""
    if not clusters:
        return set()
    wanted = np.fromiter(clusters, dtype=np.int64, count=len(clusters))
    # by a mask over cluster ids, then over keys (np.isin sorted the corpus's paragraphs twice an append)
    mask = np.zeros(max(int(wanted.max()), int(live.cluster_of_key.max(initial=-1))) + 2, dtype=bool)
    mask[wanted] = True
    of_key = mask[live.cluster_of_key]  # -1 (no cluster) reads the last entry, always False
    key = live.paras.key
    held = of_key[key] & (key >= 0)
    return set(live.doc_ids[live.paras.doc[held] - 1].tolist())


def _key_ranks(live: LiveCorpus) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``local.key_ranks`` of the live corpus. Under the first policy they are kept and grown:
    a paragraph's rank is its position, the new paragraphs come last, so no old rank moves, an
    old key keeps its best paragraph and a new key's is its first; under the other policies
    a new paragraph can outrank old ones, and they are found again."""
    from .local import key_ranks

    paras, keys = live.paras, live.keys
    if live.config.canonical != "first" or live.ranks is None:
        ranks = key_ranks(live.config.canonical, paras, keys.key_len)
        live.ranks = ranks if live.config.canonical == "first" else None
        return ranks
    para_rank, key_rank, best_para = live.ranks
    start, n_keys = len(para_rank), len(key_rank)
    new = np.arange(start, len(paras.key), dtype=np.int64)
    para_rank = grown(para_rank, new)
    key_rank = grown(key_rank, np.full(len(keys.ids) - n_keys, np.iinfo(np.int64).max))
    best_para = grown(best_para, np.full(len(keys.ids) - n_keys, -1))
    key = paras.key[new]
    held, first_at = np.unique(key[key >= 0], return_index=True)
    at = new[key >= 0][first_at]
    fresh = key_rank[held] == np.iinfo(np.int64).max  # an old key has a paragraph before every new one
    key_rank[held[fresh]] = at[fresh]
    best_para[held[fresh]] = at[fresh]
    live.ranks = (para_rank, key_rank, best_para)
    return live.ranks


def _replaced(live: LiveCorpus, dirty: np.ndarray) -> set[int]:
    """The clusters of the dirty keys' paragraphs before the store stage (``cluster_of_key``,
    grown to the new keys first, which are in none); the store stage's ``cluster_of_key``
    brings it up to date after."""
    live.cluster_of_key = grown(live.cluster_of_key, np.full(len(live.keys.ids) - len(live.cluster_of_key), -1))
    return set(live.cluster_of_key[dirty].tolist()) - {-1}


def _changed_rows(conn, was: dict[int, tuple], now: dict[int, tuple]) -> tuple[dict, dict, tuple[int, int]]:
    """The member rows the store stage changed (``store_clusters``' ``seen``), before and after,
    as paragraph id -> (cluster, relation, similarity, containment, document), and how many
    duplicate paragraphs and characters they added. Only changed rows: the replaced clusters
    hold every member row of the re-clustered keys' paragraphs, before and after (a cluster lies
    inside one component of the edges, each member with an edge or a joined pair to its
    canonical, and the re-clustered keys are whole components with both ends of every edge
    lost), so a cluster of thousands of copies that gains one reads and counts one row."""
    _temp_ids(conn, "changed_paragraphs", set(was) | set(now))
    where = {pid: (doc, length) for pid, doc, length in conn.execute(
        "SELECT id, doc_id, char_end - char_start FROM paragraphs WHERE id IN (SELECT id FROM changed_paragraphs)")}
    shaped = [{pid: (cluster, relation, sim, con, where[pid][0]) for pid, (cluster, sim, relation, con) in rows.items()} for rows in (was, now)]
    n = chars = 0
    for side, rows in ((-1, shaped[0]), (1, shaped[1])):
        for pid, row in rows.items():
            if row[1] != "canonical":
                n, chars = n + side, chars + side * where[pid][1]
    return shaped[0], shaped[1], (n, chars)


def _counts(conn, live: LiveCorpus, run, documents_added: int, changes: int, reclustered: int, n_passages: int, n_edges: int) -> dict:
    """The run's counts; ``n_edges``: the verified edges with the joined rule's."""
    from ..run import scan_counts

    paras, keys = live.paras, live.keys
    n_clusters, n_furniture = live.n_clusters, live.n_furniture
    duplicates, duplicate_chars = live.duplicates
    b, r = live.config.lsh_bands()
    return scan_counts(
        documents=len(paras.paths), clusters=n_clusters, boilerplate_clusters=n_furniture, passages=n_passages, duplicate_paragraphs=duplicates,
        chars=int(paras.length.sum()), duplicate_chars=duplicate_chars, paragraphs=len(paras.key), empty_paragraphs=int((paras.key < 0).sum()),
        distinct_keys=len(keys.ids), signed_keys=len(keys.signed), candidate_pairs=live.n_candidates, lsh_pairs=live.n_lsh,
        verified_edges=n_edges, bands=b, rows=r, files_read=0, files_deleted=0, documents_added=documents_added,
        changes=changes, reclustered_keys=reclustered, skipped=len(run.skipped),
    )
