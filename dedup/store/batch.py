"""A batch of keys looked up in the compiled stream index (``index.CompiledKeyIndex``) at once.

``dedup filter`` looks every paragraph of a batch of records up in the index of the stream so
far, in order, each new paragraph added before the next is looked up. Key by key that is a dozen
numpy and core calls a paragraph; here the batch is signed in one call, and every key whose answer
cannot depend on the keys added before it in the batch is answered in a few whole-batch calls:
its candidates ranked (``ranked_candidates``) and verified (``best_copies``) as
``CompiledKeyIndex._fuzzy`` ranks and verifies one key's. Which keys those are is decided by
``SignedBatch.entangled``: a key that shares a fingerprint or a band code with an earlier key of
the batch, or anchors that could make the earlier one a partial-copy candidate or a stock phrase,
is looked up alone in its turn.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..config import MIN_KEY_CHARS, ScanConfig
from ..match.lsh import ANCHOR_GAP, ANCHOR_MAX_BUCKET, ANCHOR_MIN_SHARE, ANCHOR_MOD
from ..text.fingerprint import NO_FINGERPRINT, fingerprint_utf8

MAX_CANDIDATES = 64  # as index.MAX_CANDIDATES (which imports it from here)
VERIFY_CHUNK = 16  # as index.VERIFY_CHUNK


@dataclass(frozen=True)
class EncodedKeys:
    """A batch of keys as one UTF-8 buffer, as the compiled core makes and reads them: key i is
    ``data[ends[i - 1]:ends[i]]`` (from 0 for the first), ``chars[i]`` characters long."""

    data: bytes
    ends: np.ndarray  # int64
    chars: np.ndarray  # int64

    @classmethod
    def of(cls, keys: list[str]) -> "EncodedKeys":
        from ..compiled import encode_keys  # plain numpy: there without the core too

        data, offsets = encode_keys(keys)
        return cls(data, offsets[1:], np.fromiter(map(len, keys), dtype=np.int64, count=len(keys)))

    def __len__(self) -> int:
        return len(self.ends)

    def offsets(self) -> np.ndarray:
        """int64 offsets, one more than keys: key i is ``data[offsets[i]:offsets[i + 1]]``."""
        return np.concatenate([np.zeros(1, np.int64), np.asarray(self.ends, dtype=np.int64)])

    def utf8(self) -> list[bytes]:
        bounds = self.offsets().tolist()
        return [self.data[a:b] for a, b in zip(bounds, bounds[1:])]

    def texts(self) -> list[str]:
        return [part.decode("utf-8") for part in self.utf8()]

    def take(self, positions: list[int]) -> "EncodedKeys":
        """The keys at ``positions``, in that order."""
        parts = self.utf8()
        picked = [parts[i] for i in positions]
        ends = np.cumsum(np.fromiter(map(len, picked), dtype=np.int64, count=len(picked)))
        return EncodedKeys(b"".join(picked), ends.astype(np.int64), np.asarray(self.chars, dtype=np.int64)[np.asarray(positions, dtype=np.int64)])


@dataclass(frozen=True)
class SignedBatch:
    """A batch of keys signed for ``CompiledKeyIndex``: ``fuzzy`` the positions of the keys
    long enough to sign (signed key j is key ``fuzzy[j]``; ``slot`` maps back, -1 for none),
    their set sizes, band codes (j, band) and sorted distinct anchor codes (signed key j's are
    ``anchor_codes[anchor_starts[j]:anchor_starts[j + 1]]``, ``anchor_owner`` their j), the
    16-byte fingerprints of all keys, one after another (``NO_FINGERPRINT`` for one too short),
    and the signed keys' shingle sets, what verification compares (signed key j's are
    ``shingles[shingle_offsets[j]:shingle_offsets[j + 1]]``)."""

    fuzzy: np.ndarray
    slot: np.ndarray
    sizes: np.ndarray
    band_codes: np.ndarray
    anchor_codes: np.ndarray
    anchor_starts: np.ndarray
    anchor_owner: np.ndarray
    fps: bytes
    shingles: np.ndarray
    shingle_offsets: np.ndarray

    def anchors(self, j: int) -> np.ndarray:
        return self.anchor_codes[self.anchor_starts[j] : self.anchor_starts[j + 1]]

    def n_anchors(self) -> np.ndarray:
        return np.diff(self.anchor_starts)

    def codes(self) -> tuple[np.ndarray, np.ndarray]:
        """(every band code then every anchor code of the batch, the signed key holding it)."""
        n, bands = self.band_codes.shape if self.band_codes.ndim == 2 else (0, 0)
        return np.concatenate([self.band_codes.ravel(), self.anchor_codes]), np.concatenate([np.repeat(np.arange(n), bands), self.anchor_owner])

    def entangled(self, held: np.ndarray) -> np.ndarray:
        """Which keys (by position) may get another answer for the keys the batch adds before
        them: those sharing their fingerprint or a band code with an earlier key, and those whose anchors an earlier key could change (``anchor_entangled``).
        ``held``: how many keys of the index hold each of ``codes()`` as the batch begins."""
        n = len(self.slot)
        out = np.zeros(n, dtype=bool)
        fp = np.frombuffer(self.fps, dtype=np.uint64).reshape(n, 2)
        order = np.lexsort((np.arange(n), fp[:, 1], fp[:, 0]))
        out[order[1:][(fp[order[1:]] == fp[order[:-1]]).all(axis=1)]] = True
        n_band = self.band_codes.size
        codes, owners = self.band_codes.ravel(), self.codes()[1][:n_band]
        order = np.lexsort((owners, codes))
        out[self.fuzzy[owners[order[1:]][codes[order[1:]] == codes[order[:-1]]]]] = True
        out[self.fuzzy[self.anchor_entangled(held[n_band:])]] = True
        return out

    def anchor_entangled(self, held: np.ndarray) -> np.ndarray:
        """The signed keys whose anchor lookup earlier keys of the batch may change (``held``: the
        index's holders of each anchor code): an anchor that earlier keys could push past
        ``ANCHOR_MAX_BUCKET`` (a stock phrase from then on), or an earlier key sharing enough of
        the anchors still under it to pass ``ANCHOR_MIN_SHARE`` (a partial-copy candidate)."""
        order = np.lexsort((self.anchor_owner, self.anchor_codes))
        code, owner, old = self.anchor_codes[order], self.anchor_owner[order], held[order]
        at = np.arange(len(code))
        first = np.maximum.accumulate(np.where(np.r_[True, code[1:] != code[:-1]] if len(code) else np.zeros(0, bool), at, 0))
        before = at - first  # keys of the batch holding the code ahead of this one
        out = np.zeros(len(self.fuzzy), dtype=bool)
        out[owner[(old <= ANCHOR_MAX_BUCKET) & (old + before > ANCHOR_MAX_BUCKET)]] = True
        later = at[(before > 0) & (old + before <= ANCHOR_MAX_BUCKET)]
        reps = before[later]
        rows = np.repeat(later, reps)
        earlier = first[rows] + (np.arange(len(rows)) - np.repeat(np.cumsum(reps) - reps, reps))
        pair = owner[earlier] * len(self.fuzzy) + owner[rows]
        pairs, shared = np.unique(pair, return_counts=True)
        j, i = pairs // max(len(self.fuzzy), 1), pairs % max(len(self.fuzzy), 1)
        n = self.n_anchors()
        out[i[shared >= ANCHOR_MIN_SHARE * np.minimum(n[i], np.maximum(n[j], 1))]] = True
        return out

    def with_candidates(self, held: np.ndarray) -> np.ndarray:
        """Which keys (by position) have a candidate in the index as the batch begins (``held``
        as for ``entangled``): a key holding one of their band codes, or one of their anchor
        codes that is no stock phrase."""
        hit = held > 0
        n_band = self.band_codes.size
        hit[n_band:] &= held[n_band:] <= ANCHOR_MAX_BUCKET
        out = np.zeros(len(self.slot), dtype=bool)
        out[self.fuzzy[self.codes()[1][hit]]] = True
        return out


def sign_batch(keys: EncodedKeys, config: ScanConfig) -> SignedBatch:
    """The batch's keys long enough to sign, signed in one call to the core (as
    ``index.sign_for_lookup`` signs them), and every key's fingerprint. It needs no index: the
    filter's reader signs a batch before the index looks it up."""
    from .. import compiled

    bands, rows = config.lsh_bands()
    dense_k, other_k = config.shingle_sizes()
    chars = np.asarray(keys.chars)
    fuzzy = np.flatnonzero(chars >= max(config.min_chars, MIN_KEY_CHARS)).astype(np.int64)
    sizes, band_hashes, owner, values = compiled.sign(
        keys.data, keys.offsets(), fuzzy, other_k, dense_k, config.seed, config.num_perm, bands, rows,
        ANCHOR_MOD if config.containment > 0 else 0, ANCHOR_GAP,
    )
    band_codes = (np.arange(bands, dtype=np.uint64) << np.uint64(32)) | band_hashes.astype(np.uint64)
    # each key's distinct anchors, sorted: one sort of (owner, value) for the batch
    both = np.unique((owner.astype(np.uint64) << np.uint64(32)) | values.astype(np.uint64))
    anchor_owner = (both >> np.uint64(32)).astype(np.int64)
    anchor_codes = (both & np.uint64(0xFFFFFFFF)) | (np.uint64(bands) << np.uint64(32))
    slot = np.full(len(keys), -1, dtype=np.int64)
    slot[fuzzy] = np.arange(len(fuzzy))
    starts = np.searchsorted(anchor_owner, np.arange(len(fuzzy) + 1))
    fps = b"".join(fingerprint_utf8(p) if c >= MIN_KEY_CHARS else NO_FINGERPRINT for p, c in zip(keys.utf8(), chars.tolist()))
    shingles, shingle_offsets = compiled.shingle_sets(keys.data, keys.offsets(), fuzzy, other_k, dense_k, config.seed)
    return SignedBatch(fuzzy, slot, sizes, band_codes, anchor_codes, starts, anchor_owner, fps, shingles, shingle_offsets)


def _ranked(index, codes: np.ndarray, owners: np.ndarray, n_keys: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(owner, key, count) of every key of ``index`` (a ``CodeIndex``) holding a code of an owner,
    sorted by owner, then most codes first, then by key; as ``CompiledKeyIndex._ranked`` of each
    owner's codes."""
    o, k = index.holder_pairs(np.ascontiguousarray(codes, dtype=np.uint64), np.ascontiguousarray(owners, dtype=np.int64))
    both, counts = np.unique(np.frombuffer(o, dtype=np.int64) * n_keys + np.frombuffer(k, dtype=np.int64), return_counts=True)
    owner, key = both // n_keys, both % n_keys
    order = np.lexsort((key, -counts, owner))
    return owner[order], key[order], counts[order]


def _rank(owner: np.ndarray) -> np.ndarray:
    """Each row's place among the rows of its owner (rows sorted by owner)."""
    at = np.arange(len(owner))
    return at - np.searchsorted(owner, owner, side="left")


def ranked_candidates(index, s: SignedBatch, js: np.ndarray, n_anchors: np.ndarray, n_keys: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(owner j, candidate key, place) of the signed keys ``js``, each owner's candidates in the
    order ``CompiledKeyIndex._fuzzy`` verifies them: the ``MAX_CANDIDATES`` sharing the most band
    codes, then up to as many sharing enough anchors that are no stock phrases (``n_anchors``: the
    anchors of every indexed key), less those already listed."""
    bands = s.band_codes.shape[1]
    b_owner, b_key, _ = _ranked(index, s.band_codes[js].ravel(), np.repeat(js, bands), n_keys)
    keep = _rank(b_owner) < MAX_CANDIDATES
    b_owner, b_key = b_owner[keep], b_key[keep]
    picked = np.isin(s.anchor_owner, js)
    codes, owners = s.anchor_codes[picked], s.anchor_owner[picked]
    good = np.frombuffer(index.sizes(np.ascontiguousarray(codes, dtype=np.uint64)), dtype=np.int64) <= ANCHOR_MAX_BUCKET
    a_owner, a_key, a_count = _ranked(index, codes[good], owners[good], n_keys)
    mine = s.n_anchors()[a_owner]
    keep = a_count >= ANCHOR_MIN_SHARE * np.minimum(mine, np.maximum(n_anchors[a_key], 1))
    a_owner, a_key = a_owner[keep], a_key[keep]
    keep = _rank(a_owner) < MAX_CANDIDATES
    a_owner, a_key = a_owner[keep], a_key[keep]
    fresh = ~np.isin(a_owner * n_keys + a_key, b_owner * n_keys + b_key)
    a_owner, a_key = a_owner[fresh], a_key[fresh]
    owner = np.concatenate([b_owner, a_owner])
    key = np.concatenate([b_key, a_key])
    band_first = np.concatenate([np.zeros(len(b_owner), np.int64), np.ones(len(a_owner), np.int64)])
    order = np.lexsort((np.arange(len(owner)), band_first, owner))  # stable: each list keeps its order
    owner, key = owner[order], key[order]
    return owner, key, _rank(owner)


def best_copies(owner: np.ndarray, place: np.ndarray, mine: np.ndarray, theirs: np.ndarray, inter: np.ndarray, config, rule):
    """For each owner with a copy: (owner, row of the copy, near?, Jaccard, containment), as
    ``index.first_verified`` over ``best_scored`` picks it: the first chunk of ``VERIFY_CHUNK``
    candidates holding a copy, its best (near before partial, then the higher Jaccard or
    containment), the first of equals. Rows: a candidate each, owners' rows in their order."""
    union, smaller = mine + theirs - inter, np.minimum(mine, theirs)
    jac = np.divide(inter, union, out=np.ones(len(inter)), where=union > 0)
    con = np.divide(inter, smaller, out=np.ones(len(inter)), where=smaller > 0)
    ok = rule.judge(jac, con, mine, theirs)
    near = jac >= config.threshold - 1e-12
    valid = np.flatnonzero(ok & (near | (mine <= theirs)))
    score = np.where(near, jac, con)[valid]
    order = valid[np.lexsort((place[valid], -score, ~near[valid], place[valid] // VERIFY_CHUNK, owner[valid]))]
    firsts = order[np.r_[True, owner[order][1:] != owner[order][:-1]]] if len(order) else order
    return owner[firsts], firsts, near[firsts], jac[firsts], con[firsts]
