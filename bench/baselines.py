"""The tools dedup is compared with, written the way their users write them.

Every baseline reads the same paragraphs (dedup's reader and splitter), so the comparison is
about finding copies, not about reading files. Each returns a ``Clustering``: a cluster label
per paragraph (None: no copy) and, per cluster, the member kept as canonical (the first in
corpus order, which is what such scripts keep).

* ``exact``      a hash of the stripped paragraph text: exact copies only.
* ``datasketch`` the plain script: one ``MinHash`` per paragraph, ``update_batch`` over the
                 paragraph's character 5-grams, ``MinHashLSH`` at the threshold, and connected
                 components of what the index returns (no verification).
* ``rensa``      the same pipeline on rensa's ``RMinHash`` + ``RMinHashLSH`` (Rust).
* ``datasketch-keys``, ``rensa-keys``  the same two pipelines on dedup's shingles: each
                 paragraph normalized with ``dedup.text.normalize`` (in the script's one process, as
                 a user would call it) and cut into the n-grams dedup uses (3 for Han, kana and
                 Hangul keys, 5 otherwise). Like for like with dedup's matching, minus its
                 verification, containment and clustering.

``rensa-min`` (bench/rensa_min.py) is not here: it is the whole minimal script, reading the
files itself (one paragraph a line), so it does not start from these paragraphs.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

from dedup.sources.dispatch import iter_documents
from dedup.match.lsh import optimal_bands
from dedup.text.paragraphs import split_paragraphs

SHINGLE = 5
NUM_PERM = 128


@dataclass(frozen=True)
class Para:
    path: str
    line_start: int
    line_end: int
    text: str


@dataclass
class Clustering:
    paragraphs: list[Para]
    labels: list[int | None]

    def prediction(self):
        """As ``bench.score.Prediction``: every line of a paragraph carries its label."""
        from bench.score import Prediction

        labels, canonicals, seen = {}, set(), set()
        for i, (p, label) in enumerate(zip(self.paragraphs, self.labels)):
            lab = label if label is not None else -(i + 1)
            first = label is not None and label not in seen
            if label is not None:
                seen.add(label)
            for line in range(p.line_start, p.line_end + 1):
                labels[(p.path, line)] = lab
                if first:
                    canonicals.add((p.path, line))
        return Prediction(labels, frozenset(canonicals))


def read_paragraphs(root: str | Path) -> list[Para]:
    """The paragraphs dedup would see, in corpus order."""
    out = []
    for doc in iter_documents(root, skip_bad=True):
        for p in split_paragraphs(doc.text):
            out.append(Para(doc.path, p.line_start, p.line_end, p.text))
    return out


def _components(n: int, pairs: Iterator[tuple[int, int]]) -> list[int | None]:
    parent = list(range(n))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    linked = [False] * n
    for a, b in pairs:
        linked[a] = linked[b] = True
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    return [find(i) if linked[i] else None for i in range(n)]


def _shingles(text: str) -> list[str]:
    t = "".join(text.lower().split())
    return list({t[i : i + SHINGLE] for i in range(len(t) - SHINGLE + 1)}) or [t]


def _key_shingles() -> Callable[[str], list[str]]:
    """dedup's shingles of a paragraph: its normalized key cut into dedup's n-grams."""
    from dedup.config import ScanConfig
    from dedup.compiled import make_normalizer
    from dedup.match.signatures import is_dense

    normalizer = make_normalizer()
    dense, other = ScanConfig().shingle_sizes()

    def shingles(text: str) -> list[str]:
        key = normalizer(text)
        n = dense if is_dense(key) else other
        return list({key[i : i + n] for i in range(len(key) - n + 1)}) or [key]

    return shingles


def exact(paragraphs: list[Para], threshold: float) -> Clustering:
    """Exact copies of the stripped text."""
    first: dict[bytes, int] = {}
    pairs = []
    for i, p in enumerate(paragraphs):
        h = hashlib.blake2b(p.text.strip().encode("utf-8"), digest_size=16).digest()
        if h in first:
            pairs.append((first[h], i))
        else:
            first[h] = i
    return Clustering(paragraphs, _components(len(paragraphs), iter(pairs)))


def datasketch(paragraphs: list[Para], threshold: float, shingles: Callable[[str], list[str]] = _shingles) -> Clustering:
    """The plain datasketch script (see the module docstring)."""
    from datasketch import MinHash, MinHashLSH

    lsh = MinHashLSH(threshold=threshold, num_perm=NUM_PERM)
    hashes = []
    for i, p in enumerate(paragraphs):
        m = MinHash(num_perm=NUM_PERM)
        m.update_batch([s.encode("utf-8") for s in shingles(p.text)])
        lsh.insert(i, m)
        hashes.append(m)
    pairs = ((i, j) for i, m in enumerate(hashes) for j in lsh.query(m) if j != i)
    return Clustering(paragraphs, _components(len(paragraphs), pairs))


def rensa(paragraphs: list[Para], threshold: float, shingles: Callable[[str], list[str]] = _shingles) -> Clustering:
    """The same pipeline on rensa's RMinHash and RMinHashLSH."""
    from rensa import RMinHash, RMinHashLSH

    bands, _ = optimal_bands(threshold, NUM_PERM)
    while NUM_PERM % bands:
        bands -= 1
    lsh = RMinHashLSH(threshold=threshold, num_perm=NUM_PERM, num_bands=bands)
    hashes = []
    for i, p in enumerate(paragraphs):
        m = RMinHash(num_perm=NUM_PERM, seed=42)
        m.update(shingles(p.text))
        lsh.insert(i, m)
        hashes.append(m)
    pairs = ((i, j) for i, m in enumerate(hashes) for j in lsh.query(m) if j != i)
    return Clustering(paragraphs, _components(len(paragraphs), pairs))


BASELINES: dict[str, Callable[[list[Para], float], Clustering]] = {
    "exact": exact,
    "datasketch": datasketch,
    "rensa": rensa,
    "datasketch-keys": lambda paragraphs, threshold: datasketch(paragraphs, threshold, _key_shingles()),
    "rensa-keys": lambda paragraphs, threshold: rensa(paragraphs, threshold, _key_shingles()),
}
