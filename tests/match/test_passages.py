"""Passages: runs of paragraphs copied together. The alignment as a pure function (gaps,
reordering, a run copied twice, a run repeated inside one document, the bound on document
pairs), then on the seeds, and what show, export, the views and the report make of them."""

from __future__ import annotations

import csv
import io
import json
import re

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import query, scanned_seeds, unmark
from dedup.apps.cli import cli
from dedup.match.passages import MAX_GAP, MIN_DENSITY, MIN_PARAGRAPHS, PassageMember, find_passages

# -- the alignment on documents made of cluster ids ---------------------------------------------


def members(docs: list[list[int | None]], similarity: float = 1.0) -> list[PassageMember]:
    """Documents given as the cluster id of each paragraph (None: unique), one line each; the
    canonical of a cluster is its first paragraph in document order."""
    out, seen = [], set()
    for d, doc in enumerate(docs, start=1):
        for idx, cluster in enumerate(doc):
            if cluster is None:
                continue
            out.append(PassageMember(d, f"d{d:03d}.txt", idx, idx + 1, idx + 1, 10, cluster, cluster not in seen,
                                     1.0 if cluster not in seen else similarity))
            seen.add(cluster)
    return out


def spans(docs, similarity: float = 1.0) -> list[tuple]:
    """(source doc, first line, last line, copy doc, first line, last line, paragraphs) of every passage."""
    return [row[1:8] for row in find_passages(members(docs, similarity))]


def fresh(start: int, n: int) -> list[int]:
    return list(range(start, start + n))


def test_a_run_with_a_paragraph_inserted_dropped_and_changed_is_one_passage():
    source = fresh(1, 8)
    # 3 inserted (unique), 5 dropped, 7 changed beyond the threshold (another cluster)
    copy = [None, 1, 2, 3, None, 4, 6, 99, 8, None]
    assert spans([source, copy]) == [(1, 1, 8, 2, 2, 9, 6)]


def test_a_gap_wider_than_max_gap_splits_the_run():
    copy = [1, 2, 3] + [None] * (MAX_GAP + 1) + [4, 5, 6]
    assert spans([fresh(1, 6), copy]) == [(1, 1, 3, 2, 1, 3, 3), (1, 4, 6, 2, 3 + MAX_GAP + 2, 3 + MAX_GAP + 4, 3)]


def test_reordered_sections_are_two_passages_each_in_order():
    source = fresh(1, 10)
    copy = [6, 7, 8, 9, 10, None, 1, 2, 3, 4, 5]
    assert sorted(spans([source, copy])) == [(1, 1, 5, 2, 7, 11, 5), (1, 6, 10, 2, 1, 5, 5)]


def test_a_run_copied_twice_into_one_document_is_two_passages_from_the_same_source():
    source = [None] + fresh(1, 4) + [None]
    copy = fresh(1, 4) + [None] * 5 + fresh(1, 4)
    assert spans([source, copy]) == [(1, 2, 5, 2, 1, 4, 4), (1, 2, 5, 2, 10, 13, 4)]


def test_a_run_repeated_inside_one_document_goes_from_the_first_to_the_second():
    doc = fresh(1, 5) + [None, 50, None] + fresh(1, 5) + [60]
    assert spans([doc]) == [(1, 1, 5, 1, 9, 13, 5)]


def test_one_paragraph_repeated_on_consecutive_lines_is_a_cluster_not_a_passage():
    assert spans([[7, 7, 7, 7, 7, None, 8]]) == []


def test_two_copies_of_a_third_document_are_aligned_with_it_not_with_each_other():
    source, copy = fresh(1, 4), [None] + fresh(1, 4)
    assert spans([source, copy, copy]) == [(1, 1, 4, 2, 2, 5, 4), (1, 1, 4, 3, 2, 5, 4)]


def test_a_cluster_in_a_thousand_documents_gives_a_passage_a_copy():
    """Chained from the canonical's document: 999 passages, not one per pair of documents."""
    docs = [[1, 2, None]] + [[None, 1, 2]] * 999
    rows = spans(docs)
    assert len(rows) == 999 and {r[0] for r in rows} == {1}


def test_the_source_is_the_side_holding_the_canonicals():
    """Document 2 holds the first occurrences, so it is the source, whatever the ids."""
    rows = find_passages(
        [m._replace(canonical=not m.canonical) for m in members([fresh(1, 3), fresh(1, 3)])]
    )
    assert [r[1:4] + r[4:7] for r in rows] == [(2, 1, 3, 1, 1, 3)]


def test_scattered_shared_paragraphs_make_no_passage():
    """Two long documents sharing a paragraph every MAX_GAP + 2 lines: clusters, no passage."""
    step = MAX_GAP + 2
    a = [c if i % step == 0 else None for i, c in enumerate(fresh(1, 200))]
    b = [c if i % step == 0 else None for i, c in enumerate(fresh(1, 200))]
    b = b[step:] + b[:step]  # the same paragraphs, one step out of place: never two in a row
    assert len(members([a, b])) == 80 and spans([a, b]) == []


def test_similarity_is_the_character_weighted_similarity_of_the_copies():
    rows = find_passages(members([fresh(1, 3), fresh(1, 3)], similarity=0.8))
    assert [r[9] for r in rows] == [0.8] and rows[0][8] == 30


@settings(max_examples=150, deadline=None)
@given(
    n=st.integers(3, 30),
    data=st.data(),
)
def test_a_planted_run_is_found_whole_whatever_the_gaps(n, data):
    """A source of n paragraphs; the copy holds a slice of it with gaps of at most MAX_GAP
    paragraphs inserted or dropped between copied ones, inside unrelated text: exactly one
    passage, from the first to the last copied paragraph on both sides, unless the gaps take
    more than MIN_DENSITY of the run."""
    start = data.draw(st.integers(0, n - 2))
    end = data.draw(st.integers(start + 1, n - 1))
    copy, kept, i = [None] * data.draw(st.integers(0, 5)), [], start
    while i <= end:
        copy.append(i + 1)
        kept.append((i, len(copy) - 1))
        copy += [None] * data.draw(st.integers(0, MAX_GAP))
        i += 1 + (data.draw(st.integers(0, MAX_GAP)) if i < end - 1 else 0)
    if kept[-1][0] != end:  # the last paragraph of the slice is copied too
        copy.append(end + 1)
        kept.append((end, len(copy) - 1))
    copy += [None] * data.draw(st.integers(0, 5))
    rows = spans([fresh(1, n), copy])
    (first_s, first_c), (last_s, last_c) = kept[0], kept[-1]
    if len(kept) < MIN_DENSITY * max(last_s - first_s + 1, last_c - first_c + 1):
        assert rows == []  # more gap than copy: a coincidence, not a section
    else:
        assert rows == [(1, first_s + 1, last_s + 1, 2, first_c + 1, last_c + 1, len(kept))]


# -- the seeds -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def seeds_db(tmp_path_factory, seeds):
    _, db = scanned_seeds(tmp_path_factory.mktemp("passages"), sorted(seeds.glob("*.txt")))
    return db


def _passages(db) -> list[tuple]:
    return query(db, """SELECT ps.id, sd.path, ps.source_line_start, ps.source_line_end, cd.path, ps.copy_line_start,
                               ps.copy_line_end, ps.paragraphs FROM passages ps
                        JOIN documents sd ON sd.id = ps.source_doc_id JOIN documents cd ON cd.id = ps.copy_doc_id""")


def _covers(rows, source: str, s: tuple[int, int], copy: str, c: tuple[int, int]) -> bool:
    return any(
        sp.startswith(source) and cp.startswith(copy) and s1 <= s[0] and s[1] <= s2 and c1 <= c[0] and c[1] <= c2
        for _, sp, s1, s2, cp, c1, c2, _ in rows
    )


def test_seeds_give_the_repeated_section_and_the_sections_retyped_in_traditional_script(seeds_db):
    rows = _passages(seeds_db)
    assert _covers(rows, "000_", (93, 125), "000_", (167, 199))  # 四张防护网, 篇三 -> 篇五
    assert _covers(rows, "001_", (53, 58), "003_", (236, 241))
    assert _covers(rows, "001_", (64, 68), "003_", (139, 144))


def test_no_seed_passage_swallows_a_document(seeds_db):
    lines = dict(query(seeds_db, "SELECT d.path, max(p.line_end) FROM documents d JOIN paragraphs p ON p.doc_id = d.id GROUP BY d.id"))
    for _, sp, s1, s2, cp, c1, c2, n in _passages(seeds_db):
        assert n >= MIN_PARAGRAPHS
        assert s2 - s1 < lines[sp] / 3 and c2 - c1 < lines[cp] / 3, (sp, s1, s2, cp, c1, c2)
        if sp == cp:
            assert s2 < c1 or c2 < s1  # a section repeated in one page never overlaps itself


def test_views_read_without_joins(seeds_db):
    copies = query(seeds_db, "SELECT count(*), count(DISTINCT copy_path) FROM copies")[0]
    assert copies[0] == query(seeds_db, "SELECT count(*) FROM members WHERE relation != 'canonical'")[0][0] > 0
    row = query(seeds_db, "SELECT source_path, source_line_start, copy_text FROM passages_text ORDER BY characters DESC LIMIT 1")[0]
    first_line = query(seeds_db, """SELECT p.text FROM passages ps JOIN paragraphs p ON p.doc_id = ps.copy_doc_id
                                    AND p.line_start = ps.copy_line_start ORDER BY ps.characters DESC LIMIT 1""")[0][0]
    assert row[2].split("\n")[0] == first_line


def test_show_passage_prints_both_sides_with_the_copy_as_its_differences(seeds_db):
    pid, sp, s1, s2, cp, c1, c2, n = max(_passages(seeds_db), key=lambda r: (r[7], r[0]))
    out = CliRunner().invoke(cli, ["show", str(seeds_db), "--passage", str(pid), "--no-color"])
    assert out.exit_code == 0, out.output
    assert f"source {sp}:{s1}-{s2}" in out.output and f"copy   {cp}:{c1}-{c2}" in out.output
    copy_texts = [t for (t,) in query(seeds_db, """SELECT p.text FROM paragraphs p JOIN documents d ON d.id = p.doc_id
        WHERE d.path = ? AND p.line_start >= ? AND p.line_end <= ? ORDER BY p.idx""", (cp, c1, c2))]
    shown = unmark(out.output)
    assert all(t in shown for t in copy_texts)  # every copy paragraph can be read back from its diff
    assert len(re.findall(r"^\s+\d+(-\d+)? -> \d+", out.output, re.M)) >= n


def test_show_an_unknown_passage_says_which_exist(seeds_db):
    out = CliRunner().invoke(cli, ["show", str(seeds_db), "--passage", "100000"])
    assert out.exit_code == 1 and "no passage 100000" in out.output and "passages 1 to" in out.output


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_export_passages(seeds_db, fmt):
    out = CliRunner().invoke(cli, ["export", str(seeds_db), "--table", "passages", "--format", fmt])
    assert out.exit_code == 0, out.output
    rows = [json.loads(line) for line in out.stdout.splitlines()] if fmt == "jsonl" else list(csv.DictReader(io.StringIO(out.stdout)))
    stored = _passages(seeds_db)
    assert len(rows) == len(stored) > 0
    first = rows[0]
    assert (first["source_document"], int(first["source_line_start"]), first["copy_document"], int(first["copy_line_end"])) == (
        stored[0][1], stored[0][2], stored[0][4], stored[0][6])
    assert first["copy_text"].count("\n") >= int(first["paragraphs"]) - 1


def test_report_shows_the_largest_passages_and_points_at_them_from_the_documents(seeds_db, tmp_path):
    out = tmp_path / "r.html"
    assert CliRunner().invoke(cli, ["report", str(seeds_db), "--out", str(out)]).exit_code == 0
    page = out.read_text(encoding="utf-8")
    largest = query(seeds_db, "SELECT id FROM passages ORDER BY characters DESC, paragraphs DESC, id LIMIT 3")
    for (pid,) in largest:
        assert f'id="ps{pid}"' in page and f'href="#ps{pid}"' in page
    assert 'href="#passages"' in page and "Passages</h2>" in page


# -- generated dumps: copied runs with truth, and their scoring ----------------------------------


@pytest.fixture(scope="module")
def dump(tmp_path_factory):
    from bench.generate import generate

    out = tmp_path_factory.mktemp("dump") / "d"
    generate(out, n_docs=300, seed=5)
    return out


def test_a_copied_run_copies_its_source_lines_in_order(dump):
    from bench.score import load_passages, load_truth

    truth, runs = load_truth(dump / "truth.jsonl"), load_passages(dump / "passages.jsonl")
    assert len(runs) > 30
    for (sp, s1, s2), (cp, c1, c2) in runs:
        source = [truth[(sp, n)].source for n in range(s1, s2 + 1)]
        copied = [truth[(cp, n)] for n in range(c1, c2 + 1)]
        assert copied[0].copy and copied[-1].copy and copied[0].source == source[0] and copied[-1].source == source[-1]
        # the copies follow the source's order; what else is there is a fresh paragraph put in
        at = 0
        for r in copied:
            if r.copy:
                at = source.index(r.source, at)  # ValueError: out of order
            else:
                assert not r.mutations

        assert (sp, s2) < (cp, c1) or sp != cp  # a run repeated in its own page comes after its source


def test_no_copied_runs_without_the_rate(tmp_path):
    from bench.generate import generate

    stats = generate(tmp_path / "d", n_docs=30, seed=5, run_rate=0)
    assert stats.copied_runs == 0 and (tmp_path / "d" / "passages.jsonl").read_text() == ""


def test_passage_scores_count_right_wrong_and_transitive_links():
    from bench.score import passage_scores

    runs = [(("a", 1, 5), ("b", 10, 14)), (("b", 10, 14), ("c", 1, 5))]  # c copies b's copy of a
    assert passage_scores(runs, [r for r in runs])["passage_precision"] == 1.0
    # a -> c links the original to the copy of its copy: right, and it finds the run b -> c
    found = passage_scores(runs, [runs[0], (("a", 1, 5), ("c", 1, 5))])
    assert (found["passage_precision"], found["passage_recall"]) == (1.0, 1.0)
    wrong = passage_scores(runs, [runs[0], (("a", 1, 5), ("d", 1, 5)), (("a", 20, 30), ("b", 10, 14))])
    assert wrong["passage_precision"] == 1 / 3 and wrong["passage_recall"] == 0.5


def test_passages_of_a_generated_dump_match_its_copied_runs(dump, tmp_path):
    from bench.score import load_passages, load_truth, passage_scores, predicted_passages
    from dedup.config import ScanConfig
    from dedup.pipeline import scan

    db = tmp_path / "d.db"
    scan(dump / "docs", ScanConfig(workers=1), db)
    found = passage_scores(load_passages(dump / "passages.jsonl"), predicted_passages(db), load_truth(dump / "truth.jsonl"))
    assert found["passage_precision"] >= 0.95 and found["passage_recall"] >= 0.95, found
    assert found["run_precision"] >= 0.85, found  # the rest: paragraphs copied one by one that follow each other
