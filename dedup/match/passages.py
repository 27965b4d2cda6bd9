"""Passages: runs of consecutive paragraphs copied together from one document into another.

Clusters say which paragraphs are copies of each other; a person asks which *sections* were
pasted. This stage, after clustering, aligns the clustered paragraphs of two documents and
keeps each run that follows the same order on both sides as one passage, as text-reuse tools
(passim, TextPAIR) report aligned passages.

Which documents are aligned. Every copy is paired with the document that holds its cluster's
canonical, so the pairs are at most the number of members (a cluster in 1,000 documents gives
999 pairs, never 500k): passages chain from the canonical's document, and two copies of the
same source are not aligned with each other. A pair of documents is aligned on every cluster
they share. A paragraph whose cluster recurs more than ``MAX_REPEATS`` times in one of the two
documents (a heading repeated on every section) is left out of that pair's alignment: it would
give repeats x repeats matches, and it is furniture, not the content of a passage.

How a run is found. The matches of a pair (paragraph i of one document, paragraph j of the
other, in the same cluster) are chained in document order: a match extends a chain ending at
most ``MAX_GAP`` paragraphs before it on both sides (a paragraph inserted, dropped or edited
beyond the threshold is a gap), the nearest one first. Within one document the source part
must end before the copy starts (a section repeated in the same page). Chains of at least
``MIN_PARAGRAPHS`` matches of as many clusters, copying at least ``MIN_DENSITY`` of the
paragraphs they span on each side, are passages (one paragraph repeated is a cluster, and two
copies a few paragraphs apart a coincidence), longest first; one that overlaps an accepted passage
on both sides is the same passage seen through a repeated paragraph and is dropped; one that
overlaps it on one side only is that run copied twice.

Which side is the source: the one holding more of the run's canonicals (the canonical policy
decides); a run where neither side holds one links two copies of a third document and is left
out, since that document's own passages already say it.

``find_passages`` is a pure function of the members: the local engine, updates and the Spark
engine call it on the stored clusters, so all three give the same table.
"""

from __future__ import annotations

import sqlite3
from collections import defaultdict
from operator import attrgetter
from typing import Iterable, NamedTuple

MAX_GAP = 3  # paragraphs that may be missing on either side between two matches of a run
MIN_PARAGRAPHS = 2  # matches that make a run a passage (one alone is a cluster)
MAX_REPEATS = 16  # occurrences of a cluster in one document above which it is not aligned
MIN_DENSITY = 0.5  # share of the paragraphs a run spans, on each side, that must be copies


class PassageMember(NamedTuple):
    """One clustered paragraph as the alignment needs it."""

    doc: int  # documents.id
    path: str  # documents.path: orders the documents the same way in a scan and after an update
    idx: int  # position in its document
    line_start: int
    line_end: int
    chars: int
    cluster: int
    canonical: bool  # the canonical of its cluster (or 1/0)
    similarity: float  # to its cluster's canonical


class Passage(NamedTuple):
    """A row of the passages table (without its id)."""

    source_doc_id: int
    source_line_start: int
    source_line_end: int
    copy_doc_id: int
    copy_line_start: int
    copy_line_end: int
    paragraphs: int  # copied paragraphs (matches of the run)
    characters: int  # their characters, copy side
    similarity: float  # character-weighted mean similarity of the matched paragraphs


def find_passages(members: Iterable[PassageMember]) -> list[tuple]:
    """The passages table's rows (id first, numbered from 1 in (source path, line, copy path,
    line) order) of the clustered paragraphs ``members``. Documents are ordered by path, so
    a scan and an update that numbers documents otherwise give the same passages."""
    members = list(members)
    clusters_of: dict[int, set[int]] = defaultdict(set)
    canonical_doc: dict[int, int] = {}
    order: dict[int, tuple[str, int]] = {}
    for m in members:  # positions, not names: this loop sees every member (75k for 100 MB)
        clusters_of[m[0]].add(m[6])
        if m[7]:
            canonical_doc[m[6]] = m[0]
        order[m[0]] = (m[1], m[0])
    pairs = set()
    for m in members:
        c = canonical_doc.get(m[6]) if not m[7] else None
        if c is not None:
            pairs.add((m[0], c) if order[m[0]] <= order[c] else (c, m[0]))
    # most pairs share one paragraph: a cluster, nothing to align; only the documents of the
    # others are indexed (one document with itself: when it holds two clusters, at least)
    aligned = [(a, b) for a, b in pairs if len(clusters_of[a] & clusters_of[b]) >= MIN_PARAGRAPHS]
    needed = {d for pair in aligned for d in pair}
    where: dict[tuple[int, int], list[PassageMember]] = defaultdict(list)
    for m in sorted((m for m in members if m[0] in needed), key=_by_place):
        where[m[6], m[0]].append(m)
    found: list[Passage] = []
    for a, b in aligned:
        shared = clusters_of[a] & clusters_of[b]
        if a == b:
            shared = {c for c in shared if len(where[c, a]) >= 2}
        if len(shared) >= MIN_PARAGRAPHS:
            found.extend(_passages(_chains(_matches(a, b, shared, where), a == b)))
    found.sort(key=lambda p: (order[p.source_doc_id], p.source_line_start, order[p.copy_doc_id], p.copy_line_start, p.source_line_end, p.copy_line_end))
    return [(i, *p) for i, p in enumerate(found, start=1)]


_by_place = attrgetter("doc", "idx")


def _matches(a: int, b: int, shared: set[int], where) -> list[tuple[PassageMember, PassageMember]]:
    """(paragraph of a, paragraph of b) in the same cluster, of the clusters they share, in
    document order; within one document (a == b) the earlier paragraph first."""
    out = []
    for c in shared:
        xs, ys = where[c, a], where[c, b]
        if len(xs) > MAX_REPEATS or len(ys) > MAX_REPEATS:
            continue
        out.extend((x, y) for x in xs for y in ys if a != b or x.idx < y.idx)
    out.sort(key=lambda xy: (xy[0].idx, xy[1].idx))
    return out


# how far back, on each side, the match a run continues from may be: the nearest first
_STEPS = sorted(((di, dj) for di in range(1, MAX_GAP + 2) for dj in range(1, MAX_GAP + 2)), key=lambda d: (d[0] + d[1], abs(d[0] - d[1])))


def _chains(matches: list[tuple[PassageMember, PassageMember]], same_doc: bool) -> list[list]:
    """Matches (sorted by position on both sides) chained into runs in the same order on both
    sides, with at most MAX_GAP paragraphs skipped on either side between two matches."""
    chains: list[list] = []
    ends: dict[tuple[int, int], int] = {}  # (i, j) of a chain's last match -> the chain
    for x, y in matches:
        chosen = None
        for di, dj in _STEPS:
            c = ends.get((x.idx - di, y.idx - dj))
            if c is not None and not (same_doc and x.idx >= chains[c][0][1].idx):
                chosen = c
                del ends[x.idx - di, y.idx - dj]
                break
        if chosen is None:
            chosen = len(chains)
            chains.append([])
        chains[chosen].append((x, y))
        ends.setdefault((x.idx, y.idx), chosen)
    return chains


def _passages(chains: list[list]) -> list[Passage]:
    """The chains long enough to be passages, without those that repeat an accepted one on both
    sides, each oriented from the side holding more canonicals."""
    accepted: list[tuple[tuple[int, int], tuple[int, int]]] = []
    out = []
    long_enough = (c for c in chains if len({x.cluster for x, _ in c}) >= MIN_PARAGRAPHS and _dense(c))
    for chain in sorted(long_enough, key=lambda c: (-len(c), c[0][0].idx, c[0][1].idx)):
        left, right = (chain[0][0].idx, chain[-1][0].idx), (chain[0][1].idx, chain[-1][1].idx)
        if any(_overlap(left, l2) and _overlap(right, r2) for l2, r2 in accepted):
            continue
        accepted.append((left, right))
        held_left, held_right = sum(x.canonical for x, _ in chain), sum(y.canonical for _, y in chain)
        if not held_left and not held_right:
            continue
        pairs = chain if held_left >= held_right else [(y, x) for x, y in chain]
        out.append(_passage(pairs))
    return out


def _dense(chain: list) -> bool:
    """At least MIN_DENSITY of the paragraphs the run spans are copied, on both sides: two
    copies a few paragraphs apart in both documents are a coincidence, not a section."""
    n = len(chain)
    return all(n >= MIN_DENSITY * (chain[-1][side].idx - chain[0][side].idx + 1) for side in (0, 1))


def _overlap(a: tuple[int, int], b: tuple[int, int]) -> bool:
    return a[0] <= b[1] and b[0] <= a[1]


def _passage(pairs: list[tuple[PassageMember, PassageMember]]) -> Passage:
    """The row of a run given as (source paragraph, copy paragraph) matches in order."""
    (s0, c0), (s1, c1) = pairs[0], pairs[-1]
    chars = sum(c.chars for _, c in pairs)
    weighted = sum(min(s.similarity, c.similarity) * c.chars for s, c in pairs)
    similarity = round(weighted / chars, 6) if chars else round(min(min(s.similarity, c.similarity) for s, c in pairs), 6)
    return Passage(s0.doc, s0.line_start, s1.line_end, c0.doc, c0.line_start, c1.line_end, len(pairs), chars, similarity)


# page furniture is left out: pages of one site share their head and tail lines, which are
# not a passage anyone copied
_MEMBERS_SQL = """
    SELECT p.doc_id, d.path, p.idx, p.line_start, p.line_end, p.char_end - p.char_start, m.cluster_id,
           m.relation = 'canonical', m.similarity
    FROM members m JOIN clusters c ON c.id = m.cluster_id JOIN paragraphs p ON p.id = m.paragraph_id
    JOIN documents d ON d.id = p.doc_id
    WHERE c.boilerplate = 0"""


def stored_members(conn: sqlite3.Connection, where: str = "") -> Iterable[PassageMember]:
    """The clustered paragraphs of a database but page furniture, as ``find_passages`` takes them
    (those ``where``, an SQL condition on ``p``, the paragraph, when given)."""
    return map(PassageMember._make, conn.execute(_MEMBERS_SQL + (f" AND {where}" if where else "")))


def refresh_passages(writer) -> int:
    """Replace the passages table of the database ``writer`` (store.Writer) is writing with the
    passages of its members as they stand; return how many there are."""
    conn = writer.db.conn
    rows = find_passages(stored_members(conn))
    conn.execute("DELETE FROM passages")
    writer.insert("passages", rows)
    return len(rows)
