"""A lookup index of paragraph keys: "have we seen this paragraph, or a near copy, and where?"

A scan finds every pair at once; a stream (``dedup filter``) and a long-lived service must
instead ask, one paragraph after another, whether it copies one seen before. ``KeyIndex`` keeps
what that takes in a SQLite file, so memory stays flat however many paragraphs it holds:

* ``keys``      one row a distinct key: its fingerprint (exact copies), the key itself (for
                verification), its shingle-set size and anchor count, and a reference (JSON)
                saying where it was first seen;
* ``postings``  one row per LSH band hash and per anchor of every key, indexed, so a lookup is
                one indexed query for the bands and one for the anchors;
* ``anchor_counts``  how many keys hold each anchor, to pass over stock phrases at once.

The matching is the scan's: candidates from equal band hashes (Jaccard) and shared anchors
(partial copies, stock-phrase anchors over ``ANCHOR_MAX_BUCKET`` keys ignored), then exact
verification on the shingle sets with the same ``MatchRule``, with one difference: a partial
copy counts only when the new key is the part (the scan never makes a fragment canonical over
its whole either). A key under ``min_chars`` is matched by fingerprint only.
"""

from __future__ import annotations

import itertools
import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..atomic import tmp_dir
from ..config import MIN_KEY_CHARS, ScanConfig
from ..errors import sqlite_temp_dir, writing
from ..text.fingerprint import fingerprint
from ..match.lsh import ANCHOR_MAX_BUCKET, ANCHOR_MIN_SHARE, anchors, band_hashes
from ..match.signatures import is_dense, oph_signatures, shingle_hashes
from ..match.verify import MatchRule, ShingleSets
# MAX_CANDIDATES: band candidates a lookup considers, those sharing the most bands first;
# VERIFY_CHUNK: candidates verified at once (a lookup stops at the first chunk with a copy)
from .batch import MAX_CANDIDATES, VERIFY_CHUNK, EncodedKeys, SignedBatch, best_copies, ranked_candidates, sign_batch



def sign_for_lookup(keys: list[str], config: ScanConfig) -> dict[int, tuple[list[int], list[int], int]]:
    """For each key long enough for fuzzy matching (by position): its band codes, anchor codes
    and shingle-set size. A band code is (band << 32) | hash and an anchor code
    (bands << 32) | value: the band hashes and anchors a scan stores, tagged so that one
    integer column can hold both. Signed on the compiled core when it is built (what the scan
    signs with: ~0.1 ms for a query of three lines against ~0.7 ms in numpy), else in numpy."""
    n_bands, rows = config.lsh_bands()
    fuzzy = [i for i, k in enumerate(keys) if len(k) >= max(config.min_chars, MIN_KEY_CHARS)]
    sizes, bands, owner, values = _signed([keys[i] for i in fuzzy], config, n_bands, rows)
    by_key: dict[int, tuple] = {}
    starts = np.searchsorted(owner, np.arange(len(fuzzy) + 1))
    for j, i in enumerate(fuzzy):
        band_codes = [(b << 32) | int(v) for b, v in enumerate(bands[j].astype(np.uint32).tolist())]
        anchor_codes = sorted({(n_bands << 32) | int(v) for v in values[starts[j] : starts[j + 1]].tolist()})
        by_key[i] = (band_codes, anchor_codes, int(sizes[j]))
    return by_key


def _signed(keys: list[str], config: ScanConfig, n_bands: int, rows: int) -> tuple:
    """(set sizes, band hashes (n, b), anchor owners, anchor values) of ``keys``."""
    from .. import compiled

    if compiled.available() and keys:
        from ..engines.local import sign_utf8

        batch = sign_utf8(*compiled.encode_keys(keys), None, config, n_bands, rows)
        return batch.set_sizes, batch.bands, batch.anchor_keys, batch.anchor_values
    dense_k, other_k = config.shingle_sizes()
    h, off = shingle_hashes(keys, other_k, config.seed, dense_k=dense_k)
    sets = ShingleSets.from_shingles(h, off)
    bands = band_hashes(oph_signatures(h, off, config.num_perm, config.seed), n_bands, rows)
    owner, values = anchors(h, off) if config.containment > 0 else (np.zeros(0, np.int32), np.zeros(0, np.uint32))
    return sets.sizes, bands, owner, values


def shingle_set(key: str, config: ScanConfig) -> set[str]:
    """The key's shingles as strings, sized as ``signatures.shingle_hashes`` sizes them (a key
    shorter than n is one shingle); their Jaccard is the scan's, bar hash collisions."""
    dense_k, other_k = config.shingle_sizes()
    n = dense_k if is_dense(key) else other_k
    return {key[i : i + n] for i in range(len(key) - n + 1)} or {key}


def best_copy(key: str, candidates: list[tuple], config: ScanConfig, rule: MatchRule):
    """The candidate ``(name, key text)`` that ``key`` copies best, as ``(name, relation,
    Jaccard, containment)``, or None: near copies first (highest Jaccard), then partial ones.

    A partial copy counts only one way: the new key inside an earlier, longer one. An earlier
    fragment of the new key is no reason to drop the whole, which says more (and a scan never
    makes a fragment canonical over its whole).
    """
    mine = shingle_set(key, config)
    scored = ((name, len(mine), len(theirs), len(mine & theirs)) for name, text in candidates for theirs in [shingle_set(text, config)])
    return best_scored(scored, config, rule)


def best_scored(scored, config: ScanConfig, rule: MatchRule):
    """``best_copy`` on candidates given as ``(name, size of the key's set, size of theirs,
    size of the intersection)``, in order: the first of the best wins."""
    best, best_rank = None, None
    for name, mine, theirs, common in scored:
        ok, jac, con = rule.accepts(mine, theirs, common)
        near = jac >= config.threshold - 1e-12
        if not ok or not (near or mine <= theirs):
            continue
        rank = (near, jac if near else con)
        if best_rank is None or rank > best_rank:
            best, best_rank = (name, "near" if near else "contained", jac, con), rank
    return best


def first_verified(verify, ordered: list[int]):
    """``verify`` over ``ordered`` a chunk of ``VERIFY_CHUNK`` at a time: the first chunk's
    answer that is not None (a lookup stops at the first chunk holding a copy)."""
    for start in range(0, len(ordered), VERIFY_CHUNK):
        found = verify(ordered[start : start + VERIFY_CHUNK])
        if found is not None:
            return found
    return None


@dataclass(frozen=True)
class Match:
    """What a key copies: the reference of the key it matched, and how."""

    ref: dict
    relation: str  # exact, near or contained
    similarity: float  # Jaccard of the shingle sets (1.0 for exact)
    containment: float


class KeyIndex:
    """Keys seen so far, in a SQLite file (a temporary one when ``path`` is None)."""

    def __init__(self, config: ScanConfig, path: str | Path | None = None):
        self.config = config
        self.bands, self.rows = config.lsh_bands()
        self.rule = config.match_rule()
        # "": a private temporary file, in SQLite's folder of temporary files (--tmp-dir), which
        # SQLite deletes as it opens it: a full disk names the folder
        self.path = str(path) if path else sqlite_temp_dir()
        self.conn = sqlite3.connect(str(path) if path else "")
        with self._writing():
            self.conn.execute("PRAGMA journal_mode = OFF")
            self.conn.execute("PRAGMA synchronous = OFF")
            self.conn.execute(
                "CREATE TABLE IF NOT EXISTS keys (id INTEGER PRIMARY KEY, fp BLOB UNIQUE, key TEXT, size INTEGER, n_anchors INTEGER, ref TEXT)"
            )
            # clustered on (h, key): a lookup reads the keys of a hash from the b-tree itself
            self.conn.execute("CREATE TABLE IF NOT EXISTS postings (h INTEGER, key INTEGER, PRIMARY KEY (h, key)) WITHOUT ROWID")
            self.conn.execute("CREATE TABLE IF NOT EXISTS anchor_counts (h INTEGER PRIMARY KEY, n INTEGER)")

    def _writing(self):
        return writing(self.path, "the filter's index", "point --tmp-dir elsewhere")

    def __len__(self) -> int:
        return self.conn.execute("SELECT count(*) FROM keys").fetchone()[0]

    def close(self) -> None:
        self.conn.close()

    def match(self, keys: list[str], refs: list[str] | None = None) -> list[Match | None]:
        """For every key in order, the earlier key it copies (None: new). With ``refs`` (each a
        JSON object), each new key is added under its reference, so later keys (of this batch
        too) can match it; a batch's additions are one transaction."""
        signed = sign_for_lookup(keys, self.config)
        out: list[Match | None] = []
        with self._writing():
            for i, key in enumerate(keys):
                found = self._match_one(key, signed, i)
                out.append(found)
                if found is None and refs is not None and len(key) >= MIN_KEY_CHARS:
                    self._add(key, signed, i, refs[i])
            self.conn.commit()
        return out

    def match_encoded(self, keys: EncodedKeys, refs: list[str] | None = None, signed=None) -> list[Match | None]:
        """``match`` of keys given as UTF-8 (what the filter's batches hold); this index signs
        them itself (it has no ``batch_signer``), so ``signed`` is None."""
        return self.match(keys.texts(), refs)

    # -- internals ---------------------------------------------------------------------------

    def _match_one(self, key: str, signed: dict, i: int) -> Match | None:
        if len(key) < MIN_KEY_CHARS:
            return None
        row = self.conn.execute("SELECT ref FROM keys WHERE fp = ?", (fingerprint(key),)).fetchone()
        if row is not None:
            return Match(json.loads(row[0]), "exact", 1.0, 1.0)
        if i not in signed:
            return None
        band_codes, anchor_codes, size = signed[i]
        # candidates sharing the most bands first: a copy shares most of its 22 bands, a pair
        # that met on a stock phrase one or two
        ordered = [k for k, _ in self.conn.execute(
            f"SELECT key, count(*) AS c FROM postings WHERE h IN ({','.join('?' * len(band_codes))}) GROUP BY key ORDER BY c DESC, key LIMIT ?",
            (*band_codes, MAX_CANDIDATES),
        )]
        if anchor_codes:
            # anchors held by more than ANCHOR_MAX_BUCKET keys are stock phrases; a key sharing
            # at least ANCHOR_MIN_SHARE of the smaller anchor set is a partial-copy candidate
            good = [h for (h,) in self.conn.execute(
                f"SELECT h FROM anchor_counts WHERE h IN ({','.join('?' * len(anchor_codes))}) AND n <= ?",
                (*anchor_codes, ANCHOR_MAX_BUCKET),
            )]
            if good:
                seen = set(ordered)
                shared = self.conn.execute(
                    f"""SELECT p.key, count(*) AS c FROM postings p JOIN keys k ON k.id = p.key
                        WHERE p.h IN ({','.join('?' * len(good))})
                        GROUP BY p.key HAVING c >= ? * min(?, max(k.n_anchors, 1))
                        ORDER BY c DESC, p.key LIMIT ?""",
                    (*good, ANCHOR_MIN_SHARE, len(anchor_codes), MAX_CANDIDATES),
                )
                ordered += [k for k, _ in shared if k not in seen]
        return first_verified(lambda ids: self._verify(key, ids), ordered)

    def _verify(self, key: str, ids: list[int]) -> Match | None:
        """The best of the keys ``ids`` that ``key`` copies, verified on the shingle sets."""
        rows = {r[0]: r[1:] for r in self.conn.execute(f"SELECT id, key, ref FROM keys WHERE id IN ({','.join('?' * len(ids))})", ids)}
        found = best_copy(key, [(k, rows[k][0]) for k in ids], self.config, self.rule)
        if found is None:
            return None
        k, relation, jac, con = found
        return Match(json.loads(rows[k][1]), relation, round(jac, 6), round(con, 6))


    def _add(self, key: str, signed: dict, i: int, ref: dict) -> None:
        band_codes, anchor_codes, size = signed.get(i, ([], [], 0))
        cursor = self.conn.execute(
            "INSERT OR IGNORE INTO keys (fp, key, size, n_anchors, ref) VALUES (?, ?, ?, ?, ?)",
            (fingerprint(key), key if i in signed else None, size, len(anchor_codes), ref),
        )
        if cursor.rowcount and i in signed:
            kid = cursor.lastrowid
            self.conn.executemany("INSERT OR IGNORE INTO postings (h, key) VALUES (?, ?)", [(code, kid) for code in band_codes + anchor_codes])
            self.conn.executemany(
                "INSERT INTO anchor_counts (h, n) VALUES (?, 1) ON CONFLICT (h) DO UPDATE SET n = n + 1", [(code,) for code in anchor_codes]
            )


class CompiledKeyIndex:
    """``KeyIndex`` on the compiled core, with the same answers: fingerprints in a
    ``FingerprintIndex``, band and anchor codes in a ``CodeIndex`` (both in memory: about
    40 bytes a posting, some 40 postings a key), key texts and references appended to files
    (``KeyStore``), so memory grows with the keys, never with their text. Candidates are ranked
    and verified exactly as ``KeyIndex._match_one`` ranks and verifies them; the shingle sets are
    the scan's (hashed ids), where ``KeyIndex`` compares shingle strings: the two can differ
    only where two shingles of a pair share a 40-bit id (about one pair in five million)."""

    def __init__(self, config: ScanConfig, folder: str | Path | None = None):
        from array import array

        from .. import _core, compiled
        from .keystore import KeyStore

        self.config = config
        self.bands, self.rows = config.lsh_bands()
        self.rule = config.match_rule()
        self.dense_k, self.other_k = config.shingle_sizes()
        self._compiled = compiled
        self.fps = _core.FingerprintIndex()
        self.codes = _core.CodeIndex()
        folder = folder if folder is not None else tmp_dir()  # --tmp-dir, else TMPDIR or /tmp
        self.texts = KeyStore(folder, prefix=".dedup-filter-keys-", what="the filter's index")
        try:
            self.refs = KeyStore(folder, prefix=".dedup-filter-refs-", what="the filter's index")
        except BaseException:
            self.texts.close()
            raise
        self.n_anchors = array("q")
        self.sizes = array("q")
        # keys added by the batch being matched: written to the stores once it is done, so that
        # their maps stay valid through the batch (a store remaps after every append)
        self._new_texts: dict[int, bytes] = {}
        self._new_refs: dict[int, str] = {}

    def __len__(self) -> int:
        return len(self.fps)

    def close(self) -> None:
        self.texts.close()
        self.refs.close()

    def _ref(self, kid: int) -> dict:
        return json.loads(self._new_refs[kid] if kid in self._new_refs else self.refs.get([kid])[0])

    def _texts_utf8(self, ids: list[int]) -> tuple[bytes, np.ndarray]:
        data, offsets = self.texts.buffers()
        parts = [self._new_texts[k] if k in self._new_texts else data[offsets[k] : offsets[k + 1]] for k in ids]
        ends = np.zeros(len(parts) + 1, dtype=np.int64)
        np.cumsum(np.fromiter(map(len, parts), dtype=np.int64, count=len(parts)), out=ends[1:])
        return b"".join(parts), ends

    def _flush(self) -> None:
        added = sorted(self._new_texts)
        self.texts.extend_utf8([self._new_texts[kid] for kid in added])
        self.refs.extend_utf8([self._new_refs[kid].encode("utf-8") for kid in added])
        self._new_texts.clear()
        self._new_refs.clear()

    def match(self, keys: list[str], refs: list[str] | None = None) -> list[Match | None]:
        """``match_encoded`` of keys given as strings."""
        return self.match_encoded(EncodedKeys.of(keys), refs)

    def batch_signer(self):
        """What signs a batch for ``match_encoded`` (``batch.sign_batch`` with this index's
        config), so that the batch's reader can sign it before it is looked up."""
        config = self.config
        return lambda keys: sign_batch(keys, config)

    def match_encoded(self, keys: EncodedKeys, refs: list[str] | None = None, signed: SignedBatch | None = None) -> list[Match | None]:
        """For every key in order, the earlier key it copies (None: new), as ``KeyIndex.match``.
        With ``refs`` (JSON objects), each new key is added under its reference, so later keys (of
        this batch too) can match it. ``signed``: the batch already signed (``batch_signer``).

        The batch is signed, fingerprinted and looked up at once; only a key that shares a
        fingerprint, band or anchor with an earlier key of the batch (``SignedBatch.entangled``)
        is looked up in its turn, after the keys before it were added. Any other key's answer
        does not depend on them (no key added since the batch began holds anything it looks up),
        so it is found against the index as it was, and a key that no indexed key shares a code
        with is new without a look at any candidate."""
        s = signed if signed is not None else sign_batch(keys, self.config)
        parts, chars = keys.utf8(), np.asarray(keys.chars).tolist()
        fps = [s.fps[16 * i : 16 * i + 16] for i in range(len(parts))]
        known = np.frombuffer(self.fps.lookup(s.fps), dtype=np.int64)
        held = np.frombuffer(self.codes.sizes(np.ascontiguousarray(s.codes()[0], dtype=np.uint64)), dtype=np.int64)
        entangled = s.entangled(held) & (known < 0)
        ahead = np.flatnonzero(s.with_candidates(held) & ~entangled & (known < 0) & (np.asarray(keys.chars) >= MIN_KEY_CHARS))
        answers = self._fuzzy_many(keys, s, ahead)
        known, entangled, slot, candidates = known.tolist(), entangled.tolist(), s.slot.tolist(), set(ahead.tolist())
        out: list[Match | None] = []
        pending: list[int] = []
        for i, part in enumerate(parts):
            if chars[i] < MIN_KEY_CHARS:
                out.append(None)
                continue
            if known[i] >= 0:
                found = Match(self._ref(known[i]), "exact", 1.0, 1.0)
            elif entangled[i]:
                self._add(pending, parts, fps, refs, s)
                pending = []
                found = self._answer(part, fps[i], s, slot[i])
            elif i in candidates:
                found = answers.get(i)
            else:
                found = None
            out.append(found)
            if found is None and refs is not None:
                pending.append(i)
        self._add(pending, parts, fps, refs, s)
        self._flush()
        return out

    def _fuzzy_many(self, keys: EncodedKeys, s: SignedBatch, positions: np.ndarray) -> dict[int, Match]:
        """What each key at ``positions`` copies in the index as it is (near or partial copies;
        absent: nothing), as ``_fuzzy`` of each would find, in a few calls for them all: the
        candidates of every key ranked at once, then verified a chunk of ``VERIFY_CHUNK`` at a
        time for the keys whose earlier chunks held no copy (most stop at their first)."""
        if not len(positions):
            return {}
        c = self._compiled
        js = s.slot[positions]
        owner, key, place = ranked_candidates(self.codes, s, js, np.frombuffer(self.n_anchors, dtype=np.int64), len(self.fps) + 1)
        mine_h, mine_off = s.shingles, s.shingle_offsets  # of every signed key: owner j's are set j
        query = np.searchsorted(js, owner)  # js ascends with positions
        chunk = place // VERIFY_CHUNK
        open_ = np.ones(len(positions), dtype=bool)  # keys with no copy in the chunks so far
        out: dict[int, Match] = {}
        for at in range(int(chunk.max()) + 1 if len(chunk) else 0):
            rows = np.flatnonzero((chunk == at) & open_[query])
            if not len(rows):
                break
            distinct, their = np.unique(key[rows], return_inverse=True)
            theirs_h, theirs_off = c.shingle_sets(*self._texts_utf8(distinct.tolist()), None, self.other_k, self.dense_k, self.config.seed)
            hashes = np.concatenate([mine_h, theirs_h])
            offsets = np.concatenate([mine_off, theirs_off[1:] + mine_off[-1]])
            inter = c.intersections(hashes, offsets, owner[rows], their.astype(np.int64) + len(mine_off) - 1)
            mine, theirs = np.diff(mine_off)[owner[rows]], np.diff(theirs_off)[their]
            found = best_copies(owner[rows], place[rows], mine, theirs, inter, self.config, self.rule)
            open_[np.searchsorted(js, found[0])] = False
            for j, k, near, jac, con in zip(found[0].tolist(), key[rows][found[1]].tolist(), *(x.tolist() for x in found[2:])):
                out[int(s.fuzzy[j])] = Match(self._ref(k), "near" if near else "contained", round(jac, 6), round(con, 6))
        return out

    def _answer(self, key: bytes, fp: bytes | None, s: "SignedBatch", j: int) -> Match | None:
        """What ``key`` (the signed key ``j`` of ``s``, -1: too short to sign) copies now: the
        key of its fingerprint ``fp`` (None: known to be new), else a near or partial copy."""
        if fp is not None:
            known = int(np.frombuffer(self.fps.lookup(fp), dtype=np.int64)[0])
            if known >= 0:
                return Match(self._ref(known), "exact", 1.0, 1.0)
        if j < 0:
            return None
        return self._fuzzy(key, int(s.sizes[j]), s.band_codes[j], s.anchors(j))

    def _add(self, positions: list[int], parts: list[bytes], fps: list[bytes], refs: list[str] | None, s: "SignedBatch") -> None:
        """Add the batch's keys at ``positions`` (new ones, in order) under their references."""
        if not positions:
            return
        kids = np.frombuffer(self.fps.add(b"".join(fps[i] for i in positions)), dtype=np.int64).tolist()
        for i, kid in zip(positions, kids):
            j = int(s.slot[i])
            self._new_texts[kid] = parts[i] if j >= 0 else b""
            self._new_refs[kid] = refs[i]
            self.sizes.append(int(s.sizes[j]) if j >= 0 else 0)
            anchor_codes = s.anchors(j) if j >= 0 else s.anchor_codes[:0]
            self.n_anchors.append(len(anchor_codes))
            if j >= 0:
                self.codes.add(np.concatenate([s.band_codes[j], anchor_codes]), kid)

    def _ranked(self, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The keys holding any of ``codes``, most codes first, then by id, with their counts."""
        keys, counts = self.codes.holders(np.ascontiguousarray(codes, dtype=np.uint64))
        keys, counts = np.frombuffer(keys, dtype=np.int64), np.frombuffer(counts, dtype=np.int64)
        order = np.lexsort((keys, -counts))
        return keys[order], counts[order]

    def _fuzzy(self, key: bytes, size: int, band_codes: np.ndarray, anchor_codes: np.ndarray) -> Match | None:
        keys, _ = self._ranked(band_codes)
        ordered = keys[:MAX_CANDIDATES].tolist()
        if len(anchor_codes):
            holders = np.frombuffer(self.codes.sizes(anchor_codes), dtype=np.int64)
            good = anchor_codes[holders <= ANCHOR_MAX_BUCKET]
            if len(good):
                keys, counts = self._ranked(good)
                n_anchors = np.frombuffer(self.n_anchors, dtype=np.int64)[keys] if len(keys) else np.zeros(0, np.int64)
                keep = counts >= ANCHOR_MIN_SHARE * np.minimum(len(anchor_codes), np.maximum(n_anchors, 1))
                seen = set(ordered)
                ordered += [k for k in keys[keep][:MAX_CANDIDATES].tolist() if k not in seen]
        return first_verified(lambda ids: self._verify(key, ids), ordered)

    def _verify(self, key: bytes, ids: list[int]) -> Match | None:
        """As ``KeyIndex._verify`` and ``best_copy``, on the scan's shingle sets (``key`` in UTF-8)."""
        c = self._compiled
        mine_h, mine_off = c.shingle_sets(key, np.array([0, len(key)], dtype=np.int64), None,
                                          self.other_k, self.dense_k, self.config.seed)
        theirs_h, theirs_off = c.shingle_sets(*self._texts_utf8(ids), None, self.other_k, self.dense_k, self.config.seed)
        hashes = np.concatenate([mine_h, theirs_h])
        offsets = np.concatenate([mine_off, theirs_off[1:] + mine_off[-1]])
        inter = c.intersections(hashes, offsets, np.zeros(len(ids), dtype=np.int64), np.arange(1, len(ids) + 1, dtype=np.int64))
        mine = int(mine_off[-1])
        best = best_scored(zip(ids, itertools.repeat(mine), np.diff(theirs_off).tolist(), inter.tolist()), self.config, self.rule)
        if best is None:
            return None
        k, relation, jac, con = best
        return Match(self._ref(k), relation, round(jac, 6), round(con, 6))


def key_index(config: ScanConfig):
    """The stream index ``dedup filter`` uses: the compiled one when the core is built."""
    from .. import compiled

    return CompiledKeyIndex(config) if compiled.available() else KeyIndex(config)
