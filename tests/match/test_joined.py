"""Broken lines judged together (match/joined.py): the rule on real licence text, its guards,
and a scan that puts both halves of a broken paragraph with their source."""

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from helpers import derandomized, query, write_corpus
from dedup.config import ScanConfig
from dedup.match.joined import joined_triples, judge_joined, neighbour_pairs, with_joined
from dedup.match.signatures import shingle_hashes
from dedup.match.verify import ShingleSets
from dedup.pipeline import scan
from dedup.text.normalize import normalize
from texts import NOTICE_ASIDE as ASIDE, NOTICE_FIRST_HALF as FIRST_HALF, NOTICE_LINE as SOURCE, NOTICE_SECOND_HALF as SECOND_HALF

RULE = ScanConfig().match_rule()
# clauses 1 and 2 of a BSD licence: neighbours, each like clause 2 of another wording
CLAUSE_1 = "1. Redistributions of source code must retain the above copyright notice, this list of conditions and the following disclaimer."
CLAUSE_2 = "2. Redistributions in binary form must reproduce the above copyright notice, this list of conditions and the following disclaimer in the documentation."
CLAUSE_2_OTHER = "2. Redistributions in binary form must reproduce the copyright notice, this list of conditions and the following disclaimer in the documentation and/or other materials."
UNRELATED = "Files: debian/* Copyright: 2011 Werner Fink and the Debian maintainers of the package"


def judged(first: str, second: str, other: str) -> set[tuple[int, int]]:
    """The pairs (by position: 0 first, 1 second, 2 other) the joined rule accepts."""
    sets = ShingleSets.from_shingles(*shingle_hashes([normalize(t) for t in (first, second, other)], 5, dense_k=3))
    accepted, _, _ = judge_joined(RULE, sets.score, sets.sizes, np.array([[0, 1, 2]]))
    return {tuple(p) for p in accepted.tolist()}


def test_both_halves_of_a_broken_line_are_copies_of_the_whole():
    with_aside = SECOND_HALF + " " + ASIDE
    assert not RULE.accepts(*_sizes(FIRST_HALF, SOURCE))[0]  # 76% of it in the source
    assert not RULE.accepts(*_sizes(with_aside, SOURCE))[0]  # 76% too
    assert judged(FIRST_HALF, with_aside, SOURCE) == {(0, 2), (1, 2)}
    assert judged(FIRST_HALF, SECOND_HALF, SOURCE) == {(0, 2), (1, 2)}


def test_two_versions_of_one_text_are_not_two_halves():
    # both clauses are mostly inside the other wording of clause 2, and they share most of it
    assert judged(CLAUSE_1, CLAUSE_2, CLAUSE_2_OTHER) == set()


def test_a_whole_copy_does_not_bring_its_unrelated_neighbour():
    assert judged(SOURCE, UNRELATED, SOURCE.replace("free", "libre")) == set()


def test_the_source_inside_a_longer_union_is_not_enough():
    # a copy and a line that holds half of itself in the source: together they hold the source,
    # but they are no more of a copy than the copy alone
    assert judged(SOURCE, "you can redistribute it under the terms of our own licence", SOURCE.replace("free", "libre")) == set()


def _sizes(a: str, b: str) -> tuple[int, int, int]:
    sets = ShingleSets.from_shingles(*shingle_hashes([normalize(a), normalize(b)], 5, dense_k=3))
    inter = int(round(sets.score(np.array([0]), np.array([1]))[1][0] * min(sets.sizes)))
    return int(sets.sizes[0]), int(sets.sizes[1]), inter


def judged_by_sizes(first: int, second: int, other: int, in_other: tuple[int, int], between_halves: int) -> bool:
    """The joined rule on set sizes and intersections: (|A & O|, |B & O|) and |A & B|."""
    inter = {(0, 2): in_other[0], (1, 2): in_other[1], (0, 1): between_halves}
    sizes = np.array([first, second, other])

    def score(a, b):
        i = np.array([inter[p] for p in zip(a.tolist(), b.tolist())], dtype=float)
        return i / (sizes[a] + sizes[b] - i), i / np.minimum(sizes[a], sizes[b])

    return len(judge_joined(RULE, score, sizes, np.array([[0, 1, 2]]))[0]) == 2


def test_each_guard_of_the_joined_rule_can_reject_on_its_own():
    assert judged_by_sizes(40, 40, 80, (38, 36), 2)  # the union a near copy (0.84)
    assert not judged_by_sizes(40, 40, 80, (38, 36), 12)  # the halves share 30% of one: two versions
    assert judged_by_sizes(30, 30, 45, (28, 15), 0)
    assert not judged_by_sizes(30, 30, 45, (28, 14), 0)  # the second half holds 47% of itself in O
    # O inside a longer union (96% of it), the union's Jaccard 0.55: no
    assert not judged_by_sizes(45, 40, 50, (28, 20), 0)
    assert judged_by_sizes(45, 40, 100, (44, 38), 0)  # a near copy of O (0.80)
    assert judged_by_sizes(15, 15, 100, (15, 14), 0)  # inside O (97%), Jaccard 0.29


def test_triples_come_from_the_candidates_of_either_half():
    neighbours = np.array([[0, 1], [2, 3]])
    pairs = np.array([[1, 4], [2, 5], [3, 6]])
    sizes = np.array([10, 10, 10, 10, 30, 30, 30])
    triples = joined_triples(neighbours, pairs, np.array([1.0, 0.3, 1.0]), sizes)
    # key 2 holds only 0.3 of itself in 5: no triple from that candidate
    assert triples.tolist() == [[0, 1, 4], [2, 3, 6]]


@given(st.lists(st.tuples(st.integers(-1, 6), st.integers(1, 3)), max_size=40))
@derandomized(100)
def test_neighbour_pairs_are_the_consecutive_paragraphs_of_one_document(rows):
    rows = sorted(rows, key=lambda r: r[1])  # corpus order: a document's paragraphs together
    nodes, docs = np.array([r[0] for r in rows], dtype=np.int64), np.array([r[1] for r in rows])
    expected = {(a, b) for (a, da), (b, db) in zip(rows, rows[1:]) if da == db and a >= 0 and b >= 0 and a != b}
    assert {tuple(p) for p in neighbour_pairs(nodes, docs).tolist()} == expected


def test_with_joined_accepts_the_joined_pairs_either_way_round():
    def nothing(a, b):
        return np.zeros(len(a), dtype=bool), np.zeros(len(a)), np.zeros(len(a))

    match = with_joined(nothing, np.array([[1, 3]]), 5)
    assert match(np.array([3, 1, 2]), np.array([1, 3, 3]))[0].tolist() == [True, True, False]


def test_a_scan_puts_both_halves_of_a_broken_paragraph_with_its_source(tmp_path):
    files = {
        "a.txt": f"Copyright notice of the first package.\n{SOURCE}\n",
        "b.txt": f"Another header line of another package here.\n{FIRST_HALF}\n{SECOND_HALF} {ASIDE}\nThe end of the file is here.\n",
    }
    root = write_corpus(tmp_path / "c", files)
    scan(root, ScanConfig(workers=1, split="lines"), tmp_path / "x.db")
    rows = query(tmp_path / "x.db", "SELECT d.path, p.line_start, m.relation FROM paragraphs p JOIN documents d ON d.id = p.doc_id "
                                    "LEFT JOIN members m ON m.paragraph_id = p.id ORDER BY d.path, p.line_start")
    assert rows == [("a.txt", 1, None), ("a.txt", 2, "canonical"), ("b.txt", 1, None), ("b.txt", 2, "contained"),
                    ("b.txt", 3, "contained"), ("b.txt", 4, None)]
    # with the containment rule off, partial copies are off, joined halves with them
    scan(root, ScanConfig(workers=1, split="lines", containment=0), tmp_path / "y.db")
    assert query(tmp_path / "y.db", "SELECT count(*) FROM members") == [(0,)]
