"""The benchmark's ground truth: the generated dump (bench/generate.py) and its scoring (bench/score.py)."""

from __future__ import annotations

import difflib
import doctest
import itertools
import json
import random
import re
import sqlite3
from collections import Counter, defaultdict
from pathlib import Path

import opencc
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bench import generate as gen
from bench import score as sc

ROOT = Path(__file__).resolve().parents[2]
SEEDS = ROOT / "data" / "seeds"
T2S = opencc.OpenCC("t2s")


def read_dump(out: Path) -> dict[str, bytes]:
    """Every file of a dump, relative path -> bytes."""
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


def load_records(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "truth.jsonl").read_text(encoding="utf-8").splitlines()]


class Dump:
    """A generated dump with its truth and line texts, read back from disk."""

    def __init__(self, out: Path, stats: gen.GenerateStats) -> None:
        self.out = out
        self.stats = stats
        self.records = load_records(out)
        self.runs = [json.loads(line) for line in (out / "passages.jsonl").read_text(encoding="utf-8").splitlines()]
        self.docs: dict[str, list[str]] = {}
        for p in sorted((out / "docs").rglob("*.txt")):
            rel = p.relative_to(out / "docs").as_posix()
            self.docs[rel] = p.read_text(encoding="utf-8").split("\n")

    def text(self, r: dict) -> str:
        return self.docs[r["path"]][r["line"] - 1]

    def originals(self) -> dict[str, str]:
        return {r["source"]: self.text(r) for r in self.records if not r["copy"]}

    def copies(self) -> list[tuple[dict, str]]:
        """Each copy as (record of its first line, its text with a split line joined back)."""
        out = []
        records = self.records
        i = 0
        while i < len(records):
            r = records[i]
            if r["copy"] and "split" in r["mutations"]:
                out.append((r, self.text(r) + self.text(records[i + 1])))
                i += 2
                continue
            if r["copy"] and "wrap" in r["mutations"]:
                j = i + 1  # the lines of one wrapped copy: same source and mutations, line after line
                while j < len(records) and records[j]["copy"] and (records[j]["source"], records[j]["mutations"], records[j]["path"], records[j]["line"]) == (r["source"], r["mutations"], r["path"], records[j - 1]["line"] + 1):
                    j += 1
                out.append((r, "".join(self.text(x) for x in records[i:j])))
                i = j
                continue
            if r["copy"]:
                out.append((r, self.text(r)))
            i += 1
        return out


@pytest.fixture(scope="module")
def dump(tmp_path_factory) -> Dump:
    out = tmp_path_factory.mktemp("dump") / "d"
    stats = gen.generate(out, n_docs=200, seed=3, seeds_dir=SEEDS, wrap=True)
    return Dump(out, stats)


@pytest.fixture(scope="module")
def pool() -> gen.SourcePool:
    return gen.SourcePool(SEEDS, seed=1)


# --------------------------------------------------------------------------------------------
# Generation


def test_same_seed_gives_identical_bytes_another_seed_does_not(tmp_path):
    gen.generate(tmp_path / "a", n_docs=40, seed=1, seeds_dir=SEEDS)
    gen.generate(tmp_path / "b", n_docs=40, seed=1, seeds_dir=SEEDS)
    gen.generate(tmp_path / "c", n_docs=40, seed=2, seeds_dir=SEEDS)
    a, b, c = (read_dump(tmp_path / x) for x in "abc")
    assert a == b
    assert "truth.jsonl" in a and "generate.json" in a and "docs/s07/d000/000039.txt" in a
    assert a["truth.jsonl"] != c["truth.jsonl"]
    assert a["docs/s00/d000/000000.txt"] != c["docs/s00/d000/000000.txt"]


def test_truth_covers_every_line_and_nothing_else(dump):
    keys = [(r["path"], r["line"]) for r in dump.records]
    assert len(keys) == len(set(keys))
    lines = set()
    for path, doc_lines in dump.docs.items():
        assert doc_lines[-1] == "", "every document ends with a newline"
        for number, line in enumerate(doc_lines[:-1], start=1):
            assert line.strip() == line != "", f"{path}:{number} is blank or padded"
            assert len(line.splitlines()) == 1
            lines.add((path, number))
    assert set(keys) == lines
    assert keys == sorted(keys), "the truth is in file order"
    assert len(dump.docs) == 200 == dump.stats.documents


def test_every_source_appears_first_as_an_unmutated_original(dump):
    first: dict[str, int] = {}
    for i, r in enumerate(dump.records):
        if not r["copy"]:
            assert r["source"] not in first, "one first appearance per source"
            assert r["mutations"] == [] and r["partial"] is False
            first[r["source"]] = i
    for i, r in enumerate(dump.records):
        assert r["source"] in first, f"copy of {r['source']} has no original"
        assert first[r["source"]] <= i
        assert re.fullmatch(r"seed:\d{3}:\d+|new:\d+|boilerplate:\d+", r["source"])


def test_originals_hold_their_source_text(dump, pool):
    seed_lines = {f"{i:03d}": p.read_text(encoding="utf-8").split("\n") for i, p in enumerate(pool.files)}
    dump_pool = gen.SourcePool(SEEDS, seed=3)
    kinds = Counter()
    for source, text in dump.originals().items():
        kind, _, rest = source.partition(":")
        kinds[kind] += 1
        if kind == "seed":
            f, line = rest.split(":")
            assert seed_lines[f][int(line) - 1].strip() == text
        elif kind == "new":
            assert dump_pool.new_paragraph(int(rest)) == text
        else:
            assert gen.BOILERPLATES[int(rest)] == text
    assert kinds["seed"] > 100 and kinds["new"] > 100 and kinds["boilerplate"] >= 3


def test_reuse_rate_and_counts_match_generate_json(dump):
    meta = json.loads((dump.out / "generate.json").read_text(encoding="utf-8"))
    counts = meta["counts"]
    records = dump.records
    assert meta["seed"] == 3 and meta["params"]["reuse"] == 0.3
    assert counts["lines"] == len(records)
    boilerplate = lambda r: r["source"].startswith("boilerplate:")  # noqa: E731
    assert counts["originals"] == sum(not r["copy"] and not boilerplate(r) for r in records)
    assert counts["copies"] == len([r for r, _ in dump.copies() if not boilerplate(r)])
    # the reuse rate is that of the paragraphs outside copied runs (a run is copies by design)
    pasted = {(run["copy_path"], n) for run in dump.runs for n in range(run["copy_lines"][0], run["copy_lines"][1] + 1)}
    outside = [r for r, _ in dump.copies() if (r["path"], r["line"]) not in pasted]
    paragraphs = len(outside) + sum(not r["copy"] and (r["path"], r["line"]) not in pasted for r in records) - counts["boilerplate_lines"]
    assert 0.25 < sum(not boilerplate(r) for r in outside) / paragraphs < 0.35
    assert counts["copied_runs"] == len(dump.runs) > 0
    assert counts["bytes"] == sum(len(b) for p, b in read_dump(dump.out).items() if p.startswith("docs/"))
    # appearances per source: a line broken in two is one appearance
    sizes = Counter(r["source"] for r in records if not r["copy"])
    sizes.update(r["source"] for r, _ in dump.copies())
    assert counts["largest_source"] == max(n for s, n in sizes.items() if not s.startswith("boilerplate:"))


def test_every_mutation_happens_and_partial_marks_truncation_and_splits(dump):
    copies = dump.copies()
    seen = Counter(m for r, _ in copies for m in r["mutations"])
    assert set(seen) == set(gen.MUTATIONS)
    assert Counter(len(r["mutations"]) for r, _ in copies).keys() == {0, 1, 2}
    for r in dump.records:
        assert r["partial"] == bool(gen.PARTIAL_MUTATIONS & set(r["mutations"]))
        assert [m for m in gen.MUTATIONS if m in r["mutations"]] == r["mutations"], "recorded in order"


def _only(dump, mutation):
    originals = dump.originals()
    found = [(originals[r["source"]], text) for r, text in dump.copies() if r["mutations"] == [mutation]]
    assert found, f"no copy with only {mutation}"
    return found


def test_exact_copies_are_exact(dump):
    originals = dump.originals()
    exact = [(originals[r["source"]], t) for r, t in dump.copies() if not r["mutations"]]
    assert exact and all(o == t for o, t in exact)


def test_script_copies_are_traditional_with_pinyin_junk(dump):
    pairs = _only(dump, "script")
    assert all(T2S.convert(copy) != copy for _, copy in pairs), "a script copy holds traditional characters"
    plain = lambda text: T2S.convert(gen.PINYIN_JUNK_RE.sub("", text))  # noqa: E731 (seed 003 has junk too)
    assert all(plain(copy) == plain(original) for original, copy in pairs)
    assert any(gen.PINYIN_JUNK_RE.search(copy) for _, copy in pairs), "some carry 關(guān)-style junk"


def test_truncated_copies_are_shorter_prefixes(dump):
    for original, copy in _only(dump, "truncate"):
        assert original.startswith(copy)
        assert 0.45 * len(original) <= len(copy) < len(original)


def test_split_copies_join_back_into_the_original(dump):
    for original, joined in _only(dump, "split"):
        assert joined.replace(" ", "") == original.replace(" ", "")
    recs = dump.records
    for a, b in zip(recs, recs[1:]):
        if a["copy"] and "split" in a["mutations"] and a["source"] == b["source"]:
            assert a["path"] == b["path"] and b["line"] == a["line"] + 1


def test_wrapped_copies_are_lines_of_one_width_that_join_back(dump):
    for original, joined in _only(dump, "wrap"):
        assert joined.replace(" ", "") == original.replace(" ", "")
    widths = [len(dump.text(r)) for r in dump.records if r["copy"] and r["mutations"] == ["wrap"]]
    assert widths and max(widths) <= gen.WRAP_WIDTHS[1]


def test_wrap_is_drawn_only_when_asked_for():
    text = "一是甲，甲甲甲甲。二是乙，乙乙乙乙。三是丙，丙丙丙丙。" * 4
    drawn = {m for s in range(300) for m in gen.mutate(text, random.Random(s), 2)[1]}
    assert "wrap" not in drawn and "split" in drawn
    assert "wrap" in {m for s in range(300) for m in gen.mutate(text, random.Random(s), 2, wrap=True)[1]}


def test_dropped_copies_are_the_original_less_one_sentence(dump):
    for original, copy in _only(dump, "drop"):
        pieces = gen._pieces(original)
        assert any(copy == "".join(pieces[:i] + pieces[i + 1 :]).strip() for i in range(len(pieces)))


def test_punct_placeholder_renumber_and_edit_copies(dump):
    half = str.maketrans(gen.FULL_PUNCT, gen.HALF_PUNCT)
    for original, copy in _only(dump, "punct"):
        assert copy != original and copy.translate(half) == original.translate(half)
    for original, copy in _only(dump, "placeholder"):
        assert copy != original and any(p in copy for p in gen.PLACEHOLDERS)
    numerals = re.compile("[一二三四五六七八九十]+")
    for original, copy in _only(dump, "renumber"):
        assert copy != original and numerals.sub("#", copy) == numerals.sub("#", original)
    for original, copy in _only(dump, "edit"):
        assert copy != original and abs(len(copy) - len(original)) <= 0.03 * len(original) + 1
        assert difflib.SequenceMatcher(None, original, copy).ratio() > 0.9


def test_reordered_copies_hold_the_same_sentences_in_another_order(dump):
    for original, copy in _only(dump, "reorder"):
        assert copy != original and sorted(copy) == sorted(original)
        assert any(copy == "".join(p[:i] + p[i + 1 : i + 2] + p[i : i + 1] + p[i + 2 :]) for p in [gen._pieces(original)] for i in range(len(p) - 1))


def test_inserted_copies_hold_the_original_around_a_foreign_sentence(dump, pool):
    sources = [gen.similarity_key(t) for t in [p.text for p in pool.seeds] + [pool.new_paragraph(n) for n in range(1500)]]
    for original, copy in _only(dump, "insert"):
        matcher = difflib.SequenceMatcher(None, original, copy, autojunk=False)
        inserted = [copy[j1:j2] for op, _, _, j1, j2 in matcher.get_opcodes() if op != "equal"]
        assert len(copy) - len(original) == sum(map(len, inserted)) and 8 <= len(copy) - len(original) <= 40
        # the foreign text is in no source: a detector linking it to one would be right to
        foreign = gen.shingles(gen.similarity_key("".join(inserted)))
        assert all(len(foreign & gen.shingles(s)) < len(foreign) for s in sources if s)


def test_foreign_sentences_vary_and_end_a_sentence(pool):
    rng = random.Random(3)
    sentences = [gen.foreign_sentence(pool, rng) for _ in range(200)]
    assert len(set(sentences)) > 190
    assert all(8 <= len(s) <= 40 and s[-1] in "。！？!?" for s in sentences)


def test_sources_are_far_from_each_other(pool):
    """No two sources are near-duplicates, nor one mostly inside another, or a correct detector
    would be scored wrong."""
    texts = [p.text for p in pool.seeds] + [pool.new_paragraph(n) for n in range(1500)]
    texts += gen.BOILERPLATES
    sets = [gen.shingles(gen.similarity_key(t)) for t in texts]
    index = defaultdict(list)
    worst_jaccard = worst_containment = 0.0
    for i, s in enumerate(sets):
        for j, inter in Counter(j for sh in s for j in index[sh]).items():
            worst_jaccard = max(worst_jaccard, inter / (len(s) + len(sets[j]) - inter))
            worst_containment = max(worst_containment, inter / min(len(s), len(sets[j])))
        for sh in s:
            index[sh].append(i)
    assert worst_jaccard < 0.3
    assert worst_containment < 0.5


def test_seed_pool_drops_junk_and_near_duplicate_seeds(pool):
    texts = [p.text for p in pool.seeds]
    assert not any(gen.is_junk_line(t) or "小编" in t or "乱码" in t for t in texts)
    assert all(len(t) >= gen.MIN_SEED_CHARS for t in texts)
    assert len(texts) < pool.n_candidates, "the seeds repeat blocks; the pool keeps one of each"
    assert [p.source for p in pool.seeds] == sorted(
        (p.source for p in pool.seeds), key=lambda s: tuple(map(int, s.split(":")[1:]))
    )


def test_size_target_stops_at_the_first_document_past_it(tmp_path):
    stats = gen.generate(tmp_path / "s", target_bytes=150_000, seed=5, seeds_dir=SEEDS)
    sizes = [p.stat().st_size for p in sorted((tmp_path / "s" / "docs").rglob("*.txt"))]
    assert sum(sizes) == stats.bytes >= 150_000
    assert sum(sizes) - sizes[-1] < 150_000
    both = gen.generate(tmp_path / "t", n_docs=3, target_bytes=10**9, seeds_dir=SEEDS)
    assert both.documents == 3


def test_refuses_a_folder_that_is_not_empty_unless_it_is_a_dump_and_forced(tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    with pytest.raises(gen.GenerateError, match="not empty"):
        gen.generate(other, n_docs=2, seeds_dir=SEEDS)
    with pytest.raises(gen.GenerateError, match="not a dump"):
        gen.generate(other, n_docs=2, seeds_dir=SEEDS, force=True)
    assert (other / "notes.txt").read_text() == "mine"
    gen.generate(tmp_path / "d", n_docs=4, seeds_dir=SEEDS)
    gen.generate(tmp_path / "d", n_docs=2, seeds_dir=SEEDS, force=True)
    names = sorted(p.name for p in (tmp_path / "d" / "docs").rglob("*.txt"))
    assert names == ["000000.txt", "000001.txt"]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({}, "how big"),
        ({"n_docs": 0}, "at least 1"),
        ({"n_docs": 5, "reuse": 1.5}, "reuse must be between 0 and 1"),
        ({"n_docs": 5, "seeds_dir": "/nonexistent/seeds"}, "--seeds-dir"),
    ],
)
def test_bad_parameters_say_what_to_fix(tmp_path, kwargs, message):
    kwargs.setdefault("seeds_dir", SEEDS)
    with pytest.raises(gen.GenerateError, match=re.escape(message)):
        gen.generate(tmp_path / "x", **kwargs)


def test_cli(tmp_path, capsys):
    out = str(tmp_path / "cli")
    assert gen.main(["--out", out, "--docs", "5", "--seeds-dir", str(SEEDS)]) == 0
    assert "wrote 5 documents" in capsys.readouterr().out
    assert gen.main(["--out", out, "--docs", "5", "--seeds-dir", str(SEEDS)]) == 1
    assert "Error: " in capsys.readouterr().err
    assert gen.main(["--out", out, "--size", "20KB", "--seeds-dir", str(SEEDS), "--force"]) == 0
    with pytest.raises(SystemExit) as e:
        gen.main(["--out", out])
    assert e.value.code == 2 and "--docs N, --size SIZE" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        gen.main(["--out", out, "--size", "lots"])
    assert e.value.code == 2 and "not a size" in capsys.readouterr().err


def test_mutations_leave_inapplicable_text_alone():
    rng = random.Random(0)
    assert gen.renumber("没有编号的段落", rng) == "没有编号的段落"
    assert gen.swap_placeholders("没有占位符的段落", rng) == "没有占位符的段落"
    assert gen.break_line("短", rng) == ["短"]
    lines, muts = gen.mutate("没有编号也没有占位符的一个段落", rng, n_mutations=2)
    assert muts and "placeholder" not in muts and "renumber" not in muts


def test_doctests():
    for module in (gen, sc):
        result = doctest.testmod(module)
        assert result.failed == 0 and result.attempted > 0


# --------------------------------------------------------------------------------------------
# Scoring


def write_truth(path: Path, rows: list[tuple[str, int, str, bool]]) -> Path:
    with path.open("w", encoding="utf-8") as f:
        for p, line, source, copy in rows:
            record = {"path": p, "line": line, "source": source, "copy": copy, "mutations": []}
            f.write(json.dumps(record) + "\n")
    return path


def test_perfect_prediction_scores_one(dump):
    truth = sc.load_truth(dump.out / "truth.jsonl")
    result = sc.score(dump.out / "truth.jsonl", {k: r.source for k, r in truth.items()})
    for name in ("pair_", "bcubed_", "copy_"):
        for m in ("precision", "recall", "f1"):
            assert result[name + m] == 1.0, name + m
    assert result["ari"] == 1.0
    assert set(result["found_by_mutation"].values()) == {1.0}
    assert result["lines_scored"] == len(truth) == result["lines_truth"]


def test_boilerplate_flag_is_scored_on_furniture_lines_only(dump):
    truth = sc.load_truth(dump.out / "truth.jsonl")
    furniture = frozenset(k for k, r in truth.items() if r.source.startswith("boilerplate:"))
    labels = {k: r.source for k, r in truth.items()}
    perfect = sc.score(dump.out / "truth.jsonl", sc.Prediction(labels, frozenset(), furniture))
    assert perfect["boilerplate_precision"] == perfect["boilerplate_recall"] == 1.0
    assert perfect["boilerplate_furniture_lines"] == len(furniture) > 0
    assert perfect["content_lines_scored"] == len(truth) - len(furniture)
    # flagging every line finds all the furniture at the precision of its share of the lines
    everything = sc.score(dump.out / "truth.jsonl", sc.Prediction(labels, frozenset(), frozenset(truth)))
    assert everything["boilerplate_recall"] == 1.0
    assert everything["boilerplate_precision"] == pytest.approx(len(furniture) / len(truth))
    # a prediction without a flag (the baselines) has no boilerplate score
    assert "boilerplate_precision" not in sc.score(dump.out / "truth.jsonl", labels)


def test_sites_each_with_their_furniture_at_head_between_sections_and_tail(dump):
    by_page: dict[str, list[dict]] = defaultdict(list)
    for r in dump.records:
        by_page[r["path"]].append(r)
    sites = {path.split("/")[0] for path in by_page}
    assert sites == {f"s{k:02d}" for k in range(8)}
    sizes = Counter(path.split("/")[0] for path in by_page)
    assert sizes["s00"] > sizes["s07"] > 0, "a few big sites, a tail of small ones"
    for path, records in by_page.items():
        site = int(path.split("/")[0][1:])
        own = {gen.furniture_index(site, role): role for role in gen.FURNITURE_ROLES}
        kinds = [r["source"].partition(":") for r in records]
        content = [i for i, (kind, _, _) in enumerate(kinds) if kind != "boilerplate"]
        for i, (kind, _, k) in enumerate(kinds):
            if kind != "boilerplate" or int(k) < len(gen.PREFIXES):
                continue
            assert int(k) in own, f"{path} holds furniture of another site"
            role = own[int(k)]
            if role in gen.HEAD_ROLES:
                assert i < content[0], f"{path}:{i + 1} {role} after content"
            elif role in gen.TAIL_ROLES:
                assert i > content[-1], f"{path}:{i + 1} {role} before content"
            else:
                assert kinds[i - 1][0] != "boilerplate" != kinds[i + 1][0], f"{path}:{i + 1} separator not between content"


def test_flat_layout_writes_the_same_pages_without_site_folders(tmp_path):
    gen.generate(tmp_path / "sites", n_docs=30, seed=4, seeds_dir=SEEDS)
    gen.generate(tmp_path / "flat", n_docs=30, seed=4, seeds_dir=SEEDS, site_folders=False)
    sites, flat = read_dump(tmp_path / "sites"), read_dump(tmp_path / "flat")
    pages = lambda dump: [v for k, v in sorted(dump.items(), key=lambda kv: kv[0].rsplit("/", 1)[-1]) if k.startswith("docs/")]  # noqa: E731
    assert pages(sites) == pages(flat)
    assert all(k.startswith("docs/d000/") for k in flat if k.startswith("docs/"))


def test_all_singletons_find_no_pair_and_no_copy(dump):
    truth = sc.load_truth(dump.out / "truth.jsonl")
    result = sc.score(dump.out / "truth.jsonl", dict.fromkeys(truth))
    assert result["pair_recall"] == 0.0 and result["pair_precision"] == 1.0 and result["pair_f1"] == 0.0
    assert result["bcubed_precision"] == 1.0 and result["bcubed_recall"] < 1.0
    assert result["copy_recall"] == 0.0 and result["predicted_copies"] == 0
    assert abs(result["ari"]) < 1e-12


def test_random_labelling_has_ari_near_zero():
    rng = random.Random(0)
    truth = [rng.randrange(50) for _ in range(5000)]
    pred = [rng.randrange(50) for _ in range(5000)]
    assert abs(sc.adjusted_rand_index(sc.contingency(truth, pred))) < 0.01


def test_hand_computed_example():
    # items    1 2 3 4 5 6
    # truth    A A A A B B      true clusters {1,2,3,4} {5,6}:   a = 4, 2
    # pred     x x y y y z      pred clusters {1,2} {3,4,5} {6}:  b = 2, 3, 1
    # cells    n(A,x)=2  n(A,y)=2  n(B,y)=1  n(B,z)=1,  n = 6
    #
    # pairs:   TP = C(2,2)+C(2,2)+0+0 = 2;  predicted = C(2,2)+C(3,2)+0 = 4;  true = C(4,2)+C(2,2) = 7
    #          P = 2/4 = 1/2,  R = 2/7,  F1 = 2(1/2)(2/7)/(1/2+2/7) = (2/7)/(11/14) = 4/11
    # B-cubed: P = (1/6)(2²/2 + 2²/3 + 1²/3 + 1²/1) = (1/6)(14/3) = 7/9
    #          R = (1/6)(2²/4 + 2²/4 + 1²/2 + 1²/2) = (1/6)(3)    = 1/2
    #          F1 = 2(7/9)(1/2)/(7/9+1/2) = (7/9)/(23/18) = 14/23
    # ARI:     C(6,2) = 15, expected = 7*4/15 = 28/15, max = (7+4)/2 = 11/2
    #          (2 - 28/15) / (11/2 - 28/15) = (2/15) / (109/30) = 4/109
    c = sc.contingency(list("AAAABB"), list("xxyyyz"))
    pairs = sc.pair_scores(c)
    assert (pairs["true_positive_pairs"], pairs["predicted_pairs"], pairs["true_pairs"]) == (2, 4, 7)
    assert pairs["precision"] == pytest.approx(1 / 2)
    assert pairs["recall"] == pytest.approx(2 / 7)
    assert pairs["f1"] == pytest.approx(4 / 11)
    b3 = sc.bcubed(c)
    assert b3["precision"] == pytest.approx(7 / 9)
    assert b3["recall"] == pytest.approx(1 / 2)
    assert b3["f1"] == pytest.approx(14 / 23)
    assert sc.adjusted_rand_index(c) == pytest.approx(4 / 109)


def test_copy_decisions_by_hand():
    # truth copy:  F T T F T       pred: {0,1,2} canonical 0, {3,4} canonical 4
    # predicted copies: 1, 2, 3  -> right: 1, 2 -> precision 2/3; true copies 1, 2, 4 -> recall 2/3
    result = sc.copy_decisions(
        [False, True, True, False, True], ["a", "a", "a", "b", "b"], [True, False, False, False, True]
    )
    assert result["precision"] == pytest.approx(2 / 3) and result["recall"] == pytest.approx(2 / 3)
    # a singleton, or a label alone among the scored lines, is never a copy
    assert sc.copy_decisions([True, True], [None, "x"], [False, False])["predicted_copies"] == 0


def test_score_uses_lines_in_both_and_first_line_as_default_canonical(tmp_path):
    truth = write_truth(
        tmp_path / "truth.jsonl",
        [("d000/000000.txt", 1, "s1", False), ("d000/000000.txt", 2, "s2", False),
         ("d000/000001.txt", 1, "s1", True), ("d000/000001.txt", 2, "s2", True)],
    )  # fmt: skip
    predicted = {
        ("d000/000000.txt", 1): 7, ("d000/000001.txt", 1): 7,
        ("d000/000001.txt", 2): None, ("elsewhere.txt", 1): 7,
    }  # fmt: skip
    result = sc.score(truth, predicted)
    assert result["lines_scored"] == 3 and result["lines_truth"] == 4
    assert result["pair_precision"] == 1.0 and result["pair_recall"] == 1.0
    assert result["copy_precision"] == 1.0 and result["copy_recall"] == 1 / 2
    # canonical given: the copy chosen as canonical makes the original look like a copy
    result = sc.score(truth, predicted, canonical={("d000/000001.txt", 1)})
    assert result["copy_precision"] == 0.0
    with pytest.raises(sc.ScoreError, match="scan the dump's docs folder"):
        sc.score(truth, {("x.txt", 1): 1})


def make_db(path: Path, rows, clusters) -> Path:
    """A database with the storage contract's columns: rows (doc path, line_start, line_end,
    cluster id or None), clusters {id: index of the canonical row}."""
    db = sqlite3.connect(path)
    db.executescript(
        """
        CREATE TABLE documents (id INTEGER PRIMARY KEY, path TEXT);
        CREATE TABLE paragraphs (id INTEGER PRIMARY KEY, doc_id INTEGER, idx INTEGER,
            line_start INTEGER, line_end INTEGER, text TEXT, cluster_id INTEGER);
        CREATE TABLE clusters (id INTEGER PRIMARY KEY, canonical_id INTEGER, size INTEGER);
        """
    )
    doc_ids: dict[str, int] = {}
    for i, (doc, start, end, cluster) in enumerate(rows, start=1):
        doc_id = doc_ids.setdefault(doc, len(doc_ids) + 1)
        db.execute("INSERT OR IGNORE INTO documents VALUES (?, ?)", (doc_id, doc))
        db.execute("INSERT INTO paragraphs VALUES (?, ?, 0, ?, ?, '', ?)", (i, doc_id, start, end, cluster))
    for cid, row in clusters.items():
        db.execute("INSERT INTO clusters VALUES (?, ?, 2)", (cid, row + 1))
    db.commit()
    db.close()
    return path


def test_predicted_from_db_and_score_cli(tmp_path, capsys):
    truth = write_truth(
        tmp_path / "truth.jsonl",
        [("d000/000000.txt", 1, "s1", False), ("d000/000000.txt", 2, "s2", False),
         ("d000/000001.txt", 1, "s1", True), ("d000/000001.txt", 2, "s1", True),
         ("d000/000001.txt", 3, "s3", False)],
    )  # fmt: skip
    # the second document's first paragraph spans lines 1-2 (a line broken in two)
    db = make_db(
        tmp_path / "dedup.db",
        [("d000/000000.txt", 1, 1, 5), ("d000/000000.txt", 2, 2, None),
         ("d000/000001.txt", 1, 2, 5), ("d000/000001.txt", 3, 3, None)],
        {5: 2},
    )  # fmt: skip
    pred = sc.predicted_from_db(db)
    assert pred.labels == {
        ("d000/000000.txt", 1): 5, ("d000/000000.txt", 2): -2,
        ("d000/000001.txt", 1): 5, ("d000/000001.txt", 2): 5, ("d000/000001.txt", 3): -4,
    }  # fmt: skip
    assert pred.canonicals == {("d000/000001.txt", 1), ("d000/000001.txt", 2)}
    result = sc.score(truth, pred)
    assert result["pair_f1"] == 1.0 and result["ari"] == 1.0
    assert result["copy_recall"] == 0.0, "the db chose a copy as canonical"
    assert sc.main(["--truth", str(truth), "--db", str(db)]) == 0
    assert json.loads(capsys.readouterr().out)["pair_f1"] == 1.0
    assert sc.main(["--truth", str(truth), "--db", str(tmp_path / "missing.db")]) == 1
    assert "run dedup scan" in capsys.readouterr().err


def test_score_aligns_paths_of_a_scan_rooted_above_the_docs_folder(tmp_path):
    truth = write_truth(
        tmp_path / "truth.jsonl", [("d000/000000.txt", 1, "s", False), ("d000/000001.txt", 1, "s", True)]
    )
    result = sc.score(truth, {("docs/d000/000000.txt", 1): 1, ("docs/d000/000001.txt", 1): 1})
    assert result["lines_scored"] == 2 and result["pair_f1"] == 1.0


labellings = st.integers(min_value=0, max_value=40).flatmap(
    lambda n: st.tuples(
        st.lists(st.one_of(st.none(), st.integers(0, 6)), min_size=n, max_size=n),
        st.lists(st.one_of(st.none(), st.integers(0, 6)), min_size=n, max_size=n),
    )
)


@settings(max_examples=300, deadline=None)
@given(labellings)
def test_metric_properties(pair):
    truth, pred = pair
    c, swapped = sc.contingency(truth, pred), sc.contingency(pred, truth)
    p, q = sc.pair_scores(c), sc.pair_scores(swapped)
    b, b_swapped = sc.bcubed(c), sc.bcubed(swapped)
    for scores in (p, b):
        assert all(0.0 <= scores[m] <= 1.0 for m in ("precision", "recall", "f1"))
    # swapping truth and prediction swaps precision and recall and keeps F1
    assert (p["precision"], p["recall"]) == (q["recall"], q["precision"])
    assert p["f1"] == pytest.approx(q["f1"])
    assert b["precision"] == pytest.approx(b_swapped["recall"])
    assert b["recall"] == pytest.approx(b_swapped["precision"])
    ari = sc.adjusted_rand_index(c)
    assert ari <= 1.0 + 1e-12
    assert ari == pytest.approx(sc.adjusted_rand_index(swapped))
    # the combinatorics agree with enumerating every pair
    dt, dp = sc._dense(truth), sc._dense(pred)
    tp = sum(dt[i] == dt[j] and dp[i] == dp[j] for i, j in itertools.combinations(range(len(dt)), 2))
    assert p["true_positive_pairs"] == tp
    # a labelling scored against itself is perfect
    same = sc.contingency(truth, truth)
    assert sc.pair_scores(same)["f1"] == 1.0
    assert sc.bcubed(same)["f1"] == pytest.approx(1.0)
    assert sc.adjusted_rand_index(same) == pytest.approx(1.0)
