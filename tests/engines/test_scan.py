"""Tests for dedup.scan: planted clusters, no drift, canonical policy, determinism, rescans,
the storage contract of DESIGN.md, and the seed corpus.

Truth comes from the planting (helpers.build_planted) and from exact Jaccard recomputed in the
test on ``dedup.text.normalize.normalize`` keys, never from a previous run's output.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import sqlite3
from pathlib import Path

import pytest

import dedup
from dedup.config import ScanConfig
from dedup.errors import CorpusError, DatabaseError
from dedup.match.lsh import candidate_probability
from dedup.pipeline import scan

from helpers import (
    ALPHABET,
    THRESHOLD,
    assert_no_drift,
    build_planted,
    is_partial_copy,
    jaccard,
    key,
    noise,
    query,
    read_clusters,
    shingles,
    spread,
    substitute,
    write_corpus,
)



# -- planted clusters --------------------------------------------------------------------------


@pytest.fixture
def planted_scan(tmp_path, planted):
    root = write_corpus(tmp_path / "corpus", planted.files)
    db = tmp_path / "out.db"
    result = scan(root, ScanConfig(), db)
    return planted, root, db, result


def test_planted_clusters_are_recovered_exactly(planted_scan):
    planted, _, db, _ = planted_scan
    clusters = read_clusters(db)
    assert {c.locations for c in clusters} == planted.expected_clusters()
    for c in clusters:
        assert c.size == len(c.members)


def test_paragraphs_outside_planted_groups_have_no_cluster(planted_scan):
    planted, _, db, _ = planted_scan
    planted_locs = {loc for members in planted.groups.values() for loc in members}
    rows = query(
        db, "SELECT d.path, p.line_start, p.cluster_id FROM paragraphs p JOIN documents d ON d.id = p.doc_id"
    )
    n_lines = sum(len(text.splitlines()) for text in planted.files.values())
    assert len(rows) == n_lines
    for path, line, cluster_id in rows:
        if (path, line) in planted_locs:
            assert cluster_id is not None, (path, line)
        else:
            assert cluster_id is None, (path, line)


@pytest.mark.parametrize("policy", ["default", "longest"])
def test_planted_relations_and_similarities(planted_scan, tmp_path, policy):
    planted, root, db, _ = planted_scan
    if policy != "default":
        db = tmp_path / f"{policy}.db"
        scan(root, ScanConfig(canonical=policy), db)
    assert ScanConfig().canonical == "first"  # the default policy this test expects
    by_location = {c.locations: c for c in read_clusters(db)}
    for group, members in planted.groups.items():
        cluster = by_location[frozenset(members)]
        relations = [m.relation for m in cluster.members]
        assert relations.count("canonical") == 1
        others = [m for m in cluster.members if m.relation != "canonical"]
        if planted.kinds[group] in ("exact", "latin"):
            # identical keys: every copy is exact, and (ties) the first in corpus order is canonical
            assert {m.relation for m in others} == {"exact"}
            assert all(m.similarity == 1.0 for m in others)
            assert (cluster.canonical.path, cluster.canonical.line) == min(members)
        else:
            assert {m.relation for m in others} == {"near"}
            assert all(THRESHOLD <= m.similarity < 1.0 for m in others)
            if policy == "longest":  # the unedited original is the unique longest member
                assert (cluster.canonical.path, cluster.canonical.line) == planted.canonical[group]
                assert cluster.canonical.text == planted.originals[group]
            else:  # first in corpus order, whether the original or an edited copy
                assert (cluster.canonical.path, cluster.canonical.line) == min(members)
    assert_no_drift(read_clusters(db))


def test_latin_variants_differ_in_text_but_share_one_key(planted_scan):
    planted, _, db, _ = planted_scan
    latin = [g for g, kind in planted.kinds.items() if kind == "latin"]
    assert latin
    by_location = {c.locations: c for c in read_clusters(db)}
    for group in latin:
        cluster = by_location[frozenset(planted.groups[group])]
        assert len({m.text for m in cluster.members}) == len(cluster.members)  # all texts differ
        assert len({key(m.text) for m in cluster.members}) == 1


def test_result_counts_match_planted_truth(planted_scan):
    planted, _, _, result = planted_scan
    assert result.counts["documents"] == len(planted.files)
    assert result.counts["clusters"] == len(planted.groups)
    assert result.counts["duplicate_paragraphs"] == sum(len(m) - 1 for m in planted.groups.values())
    assert result.skipped == []


# -- no drift ----------------------------------------------------------------------------------


def _chain(rng: random.Random, length: int = 200, edits: int = 12) -> tuple[str, str, str]:
    """A ~ B ~ C with B = A edited in its first half and C = B edited in its second half.

    Each substitution breaks the 3 shingles (3-grams of ideographs) that cover it, so with
    ``edits`` = 12 of 198 shingles J(A, B) = J(B, C) = 162/234 ~ 0.69 and J(A, C) = 126/270 ~ 0.47:
    the neighbours are copies at the default threshold 0.6 and the ends are not.
    """
    a = "".join(rng.choice(ALPHABET) for _ in range(length))
    b = substitute(rng, a, spread(rng, 0, length // 2 - 5, edits, gap=3))
    c = substitute(rng, b, spread(rng, length // 2 + 5, length, edits, gap=3))
    return a, b, c


@pytest.mark.parametrize("policy", ["longest", "first"])
@pytest.mark.parametrize("order", ["ABC", "CBA", "ACB", "CAB"])
def test_chain_never_puts_both_ends_in_one_cluster(tmp_path, policy, order):
    """B is never first in corpus order: as the canonical, B would rightly take A and C as its
    own copies. With A (or C) canonical, C (or A) is no copy of it and must stay out."""
    rng = random.Random(11)
    a, b, c = _chain(rng)
    assert jaccard(a, b) >= THRESHOLD and jaccard(b, c) >= THRESHOLD, "construction: neighbours are copies"
    assert jaccard(a, c) < THRESHOLD, "construction: the ends are not"
    assert not is_partial_copy(a, c), "construction: nor is one end a partial copy of the other"
    text = dict(zip("ABC", (a, b, c)))
    files = {f"{i}_{name}.txt": noise(rng) + "\n" + text[name] + "\n" + noise(rng) + "\n" for i, name in enumerate(order)}
    db = tmp_path / "chain.db"
    scan(write_corpus(tmp_path / "corpus", files), ScanConfig(canonical=policy), db)
    clusters = read_clusters(db)
    assert_no_drift(clusters)
    for cl in clusters:
        texts = {m.text for m in cl.members}
        assert not ({a, c} <= texts), f"A and C in one cluster ({policy}, order {order})"
    # the end that comes first in corpus order (all three have the same length) is the canonical,
    # and B is its copy; the other end is left alone
    first, last = (a, c) if order.index("A") < order.index("C") else (c, a)
    assert [{m.text for m in cl.members} for cl in clusters] == [{first, b}]
    assert clusters[0].canonical.text == first


def test_long_chain_every_member_verified_against_its_canonical(tmp_path):
    """Ten paragraphs, each a few edits away from the previous one: however the chain is cut into
    clusters, every member's stored similarity is its exact Jaccard to its canonical, at or above
    the default threshold. Four edits a link (of 238 3-gram shingles) keep neighbours near 0.9
    while the ends fall well below the threshold, so the chain must be cut."""
    rng = random.Random(5)
    chain = ["".join(rng.choice(ALPHABET) for _ in range(240))]
    for _ in range(9):
        prev = chain[-1]
        chain.append(substitute(rng, prev, spread(rng, 0, len(prev), 4)))
    assert jaccard(chain[0], chain[-1]) < THRESHOLD <= min(jaccard(x, y) for x, y in zip(chain, chain[1:]))
    assert not is_partial_copy(chain[0], chain[-1])
    order = list(range(len(chain)))
    rng.shuffle(order)
    files = {f"f{i:02d}.txt": chain[j] + "\n" + noise(rng) + "\n" for i, j in enumerate(order)}
    db = tmp_path / "long.db"
    scan(write_corpus(tmp_path / "corpus", files), ScanConfig(), db)
    clusters = read_clusters(db)
    assert clusters, "neighbouring links of the chain must give at least one cluster"
    assert_no_drift(clusters)
    seen = [m.text for cl in clusters for m in cl.members]
    assert len(seen) == len(set(seen))  # a paragraph is in at most one cluster


# -- canonical policy --------------------------------------------------------------------------


def _truncation_corpus(rng: random.Random) -> tuple[dict[str, str], str, list[str]]:
    full = "".join(rng.choice(ALPHABET) for _ in range(260))
    head = full[:235]  # a truncated copy: its shingles are a subset of the full version's
    tail = full[25:]
    assert jaccard(full, head) >= THRESHOLD and jaccard(full, tail) >= THRESHOLD
    # whichever of the three is canonical, the other two are its copies
    assert jaccard(head, tail) >= THRESHOLD
    files = {
        "a_early.txt": noise(rng) + "\n" + head + "\n",
        "b_middle.txt": full + "\n" + noise(rng) + "\n",
        "c_late.txt": noise(rng) + "\n" + noise(rng) + "\n" + tail + "\n",
    }
    return files, full, [head, full, tail]


def test_longest_never_makes_a_truncated_copy_canonical(tmp_path):
    files, full, copies = _truncation_corpus(random.Random(3))
    db = tmp_path / "longest.db"
    scan(write_corpus(tmp_path / "corpus", files), ScanConfig(canonical="longest"), db)
    [cluster] = read_clusters(db)
    assert {m.text for m in cluster.members} == set(copies)
    assert cluster.canonical.text == full
    assert cluster.canonical.path == "b_middle.txt"
    assert "longest" in cluster.reason and str(len(key(full))) in cluster.reason
    assert_no_drift([cluster])


def test_first_policy_takes_the_first_member_in_path_order(tmp_path):
    files, full, copies = _truncation_corpus(random.Random(3))
    db = tmp_path / "first.db"
    scan(write_corpus(tmp_path / "corpus", files), ScanConfig(canonical="first"), db)
    [cluster] = read_clusters(db)
    assert {m.text for m in cluster.members} == set(copies)
    first = min(cluster.members, key=lambda m: (m.path, m.line))
    assert cluster.canonical == first
    assert cluster.canonical.path == "a_early.txt"
    assert "first" in cluster.reason and "a_early.txt" in cluster.reason
    assert_no_drift([cluster])


def test_first_policy_orders_by_line_within_a_file(tmp_path):
    rng = random.Random(4)
    text = "".join(rng.choice(ALPHABET) for _ in range(200))
    shorter = text[:180]
    # the shorter copy comes first in the same file: `first` takes it, `longest` does not
    files = {"only.txt": noise(rng) + "\n" + shorter + "\n" + noise(rng) + "\n" + text + "\n"}
    root = write_corpus(tmp_path / "corpus", files)
    for policy, expected in (("first", (shorter, 2)), ("longest", (text, 4))):
        db = tmp_path / f"{policy}.db"
        scan(root, ScanConfig(canonical=policy), db)
        [cluster] = read_clusters(db)
        assert (cluster.canonical.text, cluster.canonical.line) == expected
        assert policy in cluster.reason


def test_first_policy_never_makes_a_fragment_canonical_of_its_whole(tmp_path):
    """A line broken mid-sentence (a short head, then the rest) comes first; the whole paragraph
    comes later. The rest is a near copy of the whole, and the whole is no partial copy of its
    own head: a ``contained`` member is a partial copy inside a longer paragraph (DESIGN.md),
    never longer than its canonical, and the rest must be clustered."""
    rng = random.Random(12)
    whole = "".join(rng.choice(ALPHABET) for _ in range(260))
    head, rest = whole[:30], whole[30:]
    assert is_partial_copy(head, whole), "construction: the head is a partial copy of the whole"
    assert jaccard(rest, whole) >= THRESHOLD, "construction: the rest is a near copy of the whole"
    assert jaccard(head, rest) == 0 and not is_partial_copy(head, rest)
    files = {"a.txt": noise(rng) + "\n" + head + "\n" + rest + "\n", "b.txt": noise(rng) + "\n" + whole + "\n"}
    db = tmp_path / "fragment.db"
    scan(write_corpus(tmp_path / "corpus", files), ScanConfig(), db)
    clusters = read_clusters(db)
    assert_no_drift(clusters)
    for c in clusters:
        for m in c.members:
            if m.relation == "contained":
                assert len(key(m.text)) < len(key(c.canonical.text)), f"{m.path}:{m.line} holds its canonical"
    assert any(rest in {m.text for m in c.members} for c in clusters), "the near copy of the whole is in no cluster"


def test_every_reason_is_non_empty_and_names_the_policy(tmp_path, planted):
    root = write_corpus(tmp_path / "corpus", planted.files)
    for policy in ("longest", "first"):
        db = tmp_path / f"{policy}.db"
        scan(root, ScanConfig(canonical=policy), db)
        clusters = read_clusters(db)
        assert clusters
        if policy == "longest":  # with `first` an edited copy may be canonical and split a group
            assert len(clusters) == len(planted.groups)
        for c in clusters:
            assert c.reason.strip() and policy in c.reason.lower()


def test_longest_reason_states_the_lengths(planted_scan, tmp_path):
    """The reason's numbers are the canonical's key length and the runner-up's (or the ties)."""
    planted, root, _, _ = planted_scan
    db = tmp_path / "longest.db"
    scan(root, ScanConfig(canonical="longest"), db)
    clusters = read_clusters(db)
    assert len(clusters) == len(planted.groups)
    for c in clusters:
        clen = len(key(c.canonical.text))
        others = [len(key(m.text)) for m in c.members if m is not c.canonical]
        assert clen >= max(others)
        assert f"{clen} normalized characters" in c.reason
        ties = others.count(clen)
        if ties:
            assert f"tied with {ties} other" in c.reason
        else:
            assert f"next longest member has {max(others)}" in c.reason


# -- determinism -------------------------------------------------------------------------------


def _signature(db: Path) -> set:
    """Clusters as (multiset of member texts, canonical text, {relation: count}): path-free."""
    out = set()
    for c in read_clusters(db):
        relations = tuple(sorted(m.relation for m in c.members))
        out.add((tuple(sorted(m.text for m in c.members)), c.canonical.text, relations))
    return out


def _located(db: Path) -> set:
    return {(c.locations, (c.canonical.path, c.canonical.line), c.reason) for c in read_clusters(db)}


def test_same_corpus_written_in_another_order_gives_the_same_clusters(tmp_path):
    planted = build_planted(seed=21)
    forward = write_corpus(tmp_path / "forward", planted.files)
    backward = write_corpus(tmp_path / "backward", dict(reversed(list(planted.files.items()))))
    scan(forward, ScanConfig(), tmp_path / "f.db")
    scan(backward, ScanConfig(), tmp_path / "b.db", force=True)
    assert _located(tmp_path / "f.db") == _located(tmp_path / "b.db")
    assert {c.locations for c in read_clusters(tmp_path / "f.db")} == planted.expected_clusters()


def test_renamed_files_give_the_same_clusters_and_canonicals(tmp_path):
    """Renaming reverses path order; under ``longest`` canonicals here never hang on a tie (near
    copies are shorter than their original, exact copies are identical), so clusters and
    canonicals must not move. (Under the default ``first`` the order decides, by design.)"""
    planted = build_planted(seed=22, latin=False)
    names = sorted(planted.files)
    mapping = {n: f"{chr(ord('z') - i)}_{i}.txt" for i, n in enumerate(names)}
    renamed = planted.renamed(mapping)
    assert sorted(mapping.values()) == [mapping[n] for n in reversed(names)]  # order really flips
    config = ScanConfig(canonical="longest")
    scan(write_corpus(tmp_path / "one", planted.files), config, tmp_path / "one.db")
    scan(write_corpus(tmp_path / "two", renamed.files), config, tmp_path / "two.db")
    assert _signature(tmp_path / "one.db") == _signature(tmp_path / "two.db")
    assert {c.locations for c in read_clusters(tmp_path / "two.db")} == renamed.expected_clusters()
    for group, loc in renamed.canonical.items():
        [c] = [c for c in read_clusters(tmp_path / "two.db") if c.locations == frozenset(renamed.groups[group])]
        assert (c.canonical.path, c.canonical.line) == loc


def test_workers_do_not_change_the_result(tmp_path, planted):
    root = write_corpus(tmp_path / "corpus", planted.files)
    scan(root, ScanConfig(workers=1), tmp_path / "w1.db")
    scan(root, ScanConfig(workers=2), tmp_path / "w2.db")
    assert _located(tmp_path / "w1.db") == _located(tmp_path / "w2.db")


# -- rescans and the target database -----------------------------------------------------------

TABLES = ("documents", "paragraphs", "clusters", "members", "runs")


def _counts(db: Path) -> dict[str, int]:
    return {t: query(db, f"SELECT count(*) FROM {t}")[0][0] for t in TABLES}


def test_rescanning_the_same_corpus_updates_or_replaces_the_result(tmp_path, planted):
    root = write_corpus(tmp_path / "corpus", planted.files)
    db = tmp_path / "out.db"
    scan(root, ScanConfig(), db)
    first, clusters = _counts(db), _located(db)
    scan(root, ScanConfig(), db)  # an update that finds nothing changed: a second run, same result
    assert _counts(db) == {**first, "runs": 2}
    assert first["runs"] == 1 and first["clusters"] == len(planted.groups)
    assert _located(db) == clusters
    scan(root, ScanConfig(), db, full=True)  # a full scan replaces the database
    assert _counts(db) == first and _located(db) == clusters
    assert not list(tmp_path.glob(".dedup-*")), "temporary files left beside the database"


def test_another_corpus_into_the_same_db_needs_force(tmp_path, planted):
    one = write_corpus(tmp_path / "one", planted.files)
    other = build_planted(seed=99, n_files=2)
    two = write_corpus(tmp_path / "two", other.files)
    db = tmp_path / "out.db"
    scan(one, ScanConfig(), db)
    before = db.read_bytes()
    with pytest.raises(DatabaseError, match="--force"):
        scan(two, ScanConfig(), db)
    assert db.read_bytes() == before
    scan(two, ScanConfig(), db, force=True)
    assert _counts(db)["documents"] == 2
    assert {c.locations for c in read_clusters(db)} == other.expected_clusters()
    assert query(db, "SELECT root FROM runs")[0][0] == str(two.resolve())


@pytest.mark.parametrize("kind", ["text", "sqlite"])
def test_a_file_that_is_not_a_dedup_db_is_never_overwritten(tmp_path, planted, kind):
    root = write_corpus(tmp_path / "corpus", planted.files)
    target = tmp_path / "precious.db"
    if kind == "text":
        target.write_text("my notes, not a database\n", encoding="utf-8")
    else:
        conn = sqlite3.connect(target)
        conn.execute("CREATE TABLE paragraphs (x)")
        conn.commit()
        conn.close()
    before = target.read_bytes()
    for force in (False, True):
        with pytest.raises(DatabaseError, match="not a dedup database"):
            scan(root, ScanConfig(), target, force=force)
        assert target.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["corpus", "precious.db"]


def test_a_failed_scan_leaves_the_previous_database_as_it_was(tmp_path, planted):
    root = write_corpus(tmp_path / "corpus", planted.files)
    db = tmp_path / "out.db"
    scan(root, ScanConfig(), db)
    before = db.read_bytes()
    (root / "zz_latin1.txt").write_bytes("Caf\u00e9 na\u00efve r\u00e9sum\u00e9, tr\u00e8s \u00e9l\u00e9gant.\n".encode("latin-1"))
    with pytest.raises(CorpusError, match="zz_latin1.txt"):
        scan(root, ScanConfig(), db)
    assert db.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["corpus", "out.db"]


def test_db_path_that_is_a_folder_is_refused(tmp_path, planted):
    root = write_corpus(tmp_path / "corpus", planted.files)
    (tmp_path / "dbdir").mkdir()
    with pytest.raises(DatabaseError, match="folder"):
        scan(root, ScanConfig(), tmp_path / "dbdir")
    assert list((tmp_path / "dbdir").iterdir()) == []


@pytest.mark.parametrize("skip_bad", [False, True])
def test_unlistable_folder_stops_the_scan_unless_skip_bad(tmp_path, planted, monkeypatch, skip_bad):
    root = write_corpus(tmp_path / "corpus", planted.files)
    write_corpus(root / "locked", {"inside.txt": noise(random.Random(1)) + "\n"})
    real_scandir = os.scandir

    def scandir(path="."):
        if os.fspath(path).endswith("locked"):
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    skipped = []
    if not skip_bad:
        with pytest.raises(CorpusError, match="locked/.*--skip-bad"):
            scan(root, ScanConfig(), tmp_path / "out.db")
        assert not (tmp_path / "out.db").exists()
        return
    result = scan(root, ScanConfig(), tmp_path / "out.db", skip_bad=True, on_skip=skipped.append)
    assert [s.path for s in skipped] == ["locked/"]
    assert result.counts["documents"] == len(planted.files)
    assert {c.locations for c in read_clusters(tmp_path / "out.db")} == planted.expected_clusters()


# -- storage contract --------------------------------------------------------------------------

CONTRACT = {
    "documents": {"id", "path"},
    "paragraphs": {"id", "doc_id", "idx", "line_start", "line_end", "char_start", "char_end", "text", "cluster_id"},
    "clusters": {"id", "canonical_id", "size", "n_documents", "reason"},
    "members": {"paragraph_id", "cluster_id", "similarity", "relation"},
    "runs": {"id", "config", "version", "started", "finished"},
}


@pytest.fixture
def mixed_scan(tmp_path, planted):
    """The planted corpus plus files that exercise offsets: CRLF, GB18030, indentation, a
    hard-wrapped file in blank-line blocks, a subfolder."""
    rng = random.Random(8)
    files: dict[str, str | bytes] = dict(planted.files)
    crlf = [noise(rng, 20, 60) for _ in range(4)]
    files["sub/crlf.txt"] = ("\r\n".join(crlf) + "\r\n").encode("utf-8")
    gbk = ["同志们:", "今天我们召开全县疫情防控工作调度会,主要任务是总结前一阶段工作。", "", "  谢谢大家。  "]
    files["sub/gbk.txt"] = "\n".join(gbk).encode("gb18030")
    # hard-wrapped: paragraphs of 75-90 ideographs cut every 30 (60 columns) into three lines
    wrapped = "\n\n".join("\n".join(t[i : i + 30] for i in range(0, len(t), 30)) for t in (noise(rng, 75, 90) for _ in range(4)))
    files["wrapped.md"] = "\n\n" + wrapped + "\n"
    files["indent.txt"] = "   " + noise(rng) + "  \n\n\t" + noise(rng) + "\n"
    root = write_corpus(tmp_path / "corpus", files)
    db = tmp_path / "out.db"
    result = scan(root, ScanConfig(), db)
    encodings = {"sub/crlf.txt": "utf-8", "sub/gbk.txt": "gb18030"}
    return root, db, result, encodings


def test_contract_tables_and_columns_exist(mixed_scan):
    _, db, _, _ = mixed_scan
    for table, columns in CONTRACT.items():
        have = {row[1] for row in query(db, f"PRAGMA table_info({table})")}
        assert columns <= have, f"{table} lacks {columns - have}"


def test_paragraph_text_offsets_and_lines_match_the_file(mixed_scan):
    root, db, _, encodings = mixed_scan
    docs = dict(query(db, "SELECT id, path FROM documents"))
    assert sorted(docs.values()) == sorted(
        p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()
    )
    assert all("\\" not in p and not p.startswith("/") for p in docs.values())
    texts = {}
    for doc_id, path in docs.items():
        raw = (root / path).read_bytes().decode(encodings.get(path, "utf-8"))
        texts[doc_id] = raw.replace("\r\n", "\n")
    rows = query(db, "SELECT doc_id, idx, line_start, line_end, char_start, char_end, text FROM paragraphs ORDER BY doc_id, idx")
    expected_idx: dict[int, int] = {}
    for doc_id, idx, line_start, line_end, char_start, char_end, text in rows:
        doc = texts[doc_id]
        assert idx == expected_idx.get(doc_id, 0)
        expected_idx[doc_id] = idx + 1
        assert doc[char_start:char_end] == text
        assert text == text.strip() and text
        lines = doc.split("\n")
        assert 1 <= line_start <= line_end <= len(lines)
        assert "\n".join(lines[line_start - 1 : line_end]).strip() == text
        assert doc.count("\n", 0, char_start) + 1 == line_start
    # every non-blank line is inside exactly one paragraph
    for doc_id, doc in texts.items():
        covered = [
            n for _, _, ls, le, *_ in (r for r in rows if r[0] == doc_id) for n in range(ls, le + 1)
        ]
        content = [n for n, line in enumerate(doc.split("\n"), start=1) if line.strip()]
        assert sorted(covered) == content, docs[doc_id]
    wrapped_id = next(i for i, p in docs.items() if p == "wrapped.md")
    spans = [(ls, le) for d, _, ls, le, *_ in rows if d == wrapped_id]
    assert spans == [(3, 5), (7, 9), (11, 13), (15, 17)]  # blocks of three lines after two blanks


def test_clusters_members_and_paragraphs_agree(mixed_scan):
    _, db, _, _ = mixed_scan
    clusters = read_clusters(db)
    assert clusters
    for c in clusters:
        assert c.size == len(c.members) >= 2
        assert c.n_documents == len({m.path for m in c.members})
    member_rows = query(db, "SELECT paragraph_id, cluster_id FROM members")
    para_rows = query(db, "SELECT id, cluster_id FROM paragraphs WHERE cluster_id IS NOT NULL")
    assert sorted(member_rows) == sorted(para_rows)
    canon = query(db, "SELECT c.id, m.relation, m.similarity FROM clusters c JOIN members m ON m.paragraph_id = c.canonical_id")
    assert all(rel == "canonical" and sim == 1.0 for _, rel, sim in canon)
    assert len(canon) == len(clusters)
    assert query(db, "SELECT DISTINCT relation FROM members WHERE relation NOT IN ('canonical','exact','near','contained')") == []
    # no partial copies in this corpus: every member is at least a near copy of its canonical
    assert query(db, "SELECT count(*) FROM members WHERE similarity < ? OR similarity > 1", [THRESHOLD])[0][0] == 0


def test_runs_row_records_config_version_times_counts_timings(mixed_scan):
    root, db, result, _ = mixed_scan
    [(config, version, started, finished, counts, timings)] = query(
        db, "SELECT config, version, started, finished, counts, timings FROM runs"
    )
    config = json.loads(config)
    defaults = ScanConfig()
    assert config["threshold"] == defaults.threshold and config["num_perm"] == defaults.num_perm
    assert config["shingle_size"] is None and config["canonical"] == ScanConfig().canonical
    assert config["normalize"] == list(defaults.steps)
    assert version == dedup.__version__
    t0, t1 = dt.datetime.fromisoformat(started), dt.datetime.fromisoformat(finished)
    assert t0.tzinfo is not None and t0 <= t1 <= dt.datetime.now(dt.timezone.utc)
    counts = json.loads(counts)
    assert counts["documents"] == query(db, "SELECT count(*) FROM documents")[0][0] == len(list(root.rglob("*.*")))
    assert counts["paragraphs"] == query(db, "SELECT count(*) FROM paragraphs")[0][0]
    assert counts["clusters"] == query(db, "SELECT count(*) FROM clusters")[0][0]
    assert counts["duplicate_paragraphs"] == query(db, "SELECT count(*) FROM members WHERE relation != 'canonical'")[0][0]
    assert counts == result.counts
    timings = json.loads(timings)
    assert {"read", "sign", "candidates", "verify", "cluster", "store"} <= set(timings)
    assert all(isinstance(v, (int, float)) and v >= 0 for v in timings.values())


def test_scan_records_a_non_default_config(tmp_path, planted):
    root = write_corpus(tmp_path / "corpus", planted.files)
    db = tmp_path / "out.db"
    config = ScanConfig(threshold=0.9, num_perm=64, bands=16, canonical="first", min_chars=12)
    scan(root, config, db)
    stored = json.loads(query(db, "SELECT config FROM runs")[0][0])
    assert {k: stored[k] for k in ("threshold", "num_perm", "bands", "canonical", "min_chars")} == {
        "threshold": 0.9, "num_perm": 64, "bands": 16, "canonical": "first", "min_chars": 12,
    }
    assert_no_drift(read_clusters(db), threshold=0.9)


# -- the seed corpus ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def seeds_db(tmp_path_factory, seeds):
    db = tmp_path_factory.mktemp("seeds") / "seeds.db"
    scan(seeds, ScanConfig(), db)
    return db


def _section(paragraphs: list[tuple[int, int, str]], start: int) -> list[tuple[int, int, str]]:
    """From paragraph ``start`` up to (not including) the next "...讲话优质篇N" heading."""
    out = []
    for row in paragraphs[start:]:
        if "讲话优质篇" in row[2] and out:
            break
        out.append(row)
    return out


def test_seed_four_nets_block_is_clustered_across_both_sections(seeds_db):
    [(doc_id,)] = query(seeds_db, "SELECT id FROM documents WHERE path LIKE '000\\_%' ESCAPE '\\'")
    paragraphs = query(seeds_db, "SELECT id, cluster_id, text FROM paragraphs WHERE doc_id = ? ORDER BY idx", [doc_id])
    starts = [i for i, (_, _, t) in enumerate(paragraphs) if t.startswith("疫情防控关键在“外防输入、内防反弹”")]
    assert len(starts) == 2, "the block opens twice in seed 000 (篇三 and 篇五)"
    first, second = _section(paragraphs, starts[0]), _section(paragraphs, starts[1])
    for marker in ("(一)在“外防输入”环节", "1.第一张防护网", "4.第四张防护网", "(二)在“内防反弹”环节"):
        assert any(t.startswith(marker) for _, _, t in first), marker
        assert any(t.startswith(marker) for _, _, t in second), marker
    assert len(first) >= 15
    second_ids = {pid for pid, _, _ in second}
    clusters = {c.id: c for c in read_clusters(seeds_db)}
    for pid, cluster_id, text in first:
        assert cluster_id is not None, f"not clustered: {text[:30]}"
        cluster = clusters[cluster_id]
        ids = {m.paragraph_id for m in cluster.members}
        assert pid in ids and ids & second_ids, f"no copy in the second section: {text[:30]}"
        assert [m.relation for m in cluster.members].count("canonical") == 1


def test_seed_clusters_join_only_real_copies(seeds_db):
    clusters = read_clusters(seeds_db)
    assert len(clusters) >= 20
    assert_no_drift(clusters)
    assert {m.path[:3] for c in clusters for m in c.members} >= {"000", "001", "003"}


RECALL_J = 0.7  # a pair this similar is a candidate with probability > 1 - 1/4,000 (asserted)


@pytest.fixture(scope="module")
def seeds_longest_db(tmp_path_factory, seeds):
    db = tmp_path_factory.mktemp("seeds_longest") / "seeds.db"
    scan(seeds, ScanConfig(canonical="longest"), db)
    return db


def test_seed_exact_repeats_share_a_cluster(seeds_db):
    """Recall against brute force: every two paragraphs with equal keys share a cluster."""
    rows = query(seeds_db, "SELECT id, cluster_id, text FROM paragraphs")
    cluster_of = {pid: cid for pid, cid, _ in rows}
    by_key: dict[str, set] = {}
    for pid, _, text in rows:
        k = key(text)
        if len(k) >= 2:
            by_key.setdefault(k, set()).add(pid)
    repeated = [ids for ids in by_key.values() if len(ids) > 1]
    assert len(repeated) >= 20
    for ids in repeated:
        assert len({cluster_of[i] for i in ids}) == 1 and cluster_of[min(ids)] is not None, ids


@pytest.mark.parametrize(
    "policy",
    ["first", "longest"],
)
def test_seed_copies_are_all_found(request, policy):
    """Recall against brute force: every two paragraphs with exact shingle Jaccard >= RECALL_J
    (LSH misses such a pair < 1 in 4,000) are clustered, under the default policy and the other.

    Under ``first`` this needs fragments never to be canonical: seed 003's line 32 (the second
    half of a line broken mid-sentence; its first half, line 30, is a fragment) has J = 0.81 to
    the whole paragraph at line 84, which must not sit in the cluster of the line-30 fragment.
    """
    assert ScanConfig().canonical == "first"  # seeds_db is the default scan
    db = request.getfixturevalue("seeds_db" if policy == "first" else "seeds_longest_db")
    assert THRESHOLD <= RECALL_J and 1 - candidate_probability(RECALL_J, *ScanConfig().lsh_bands()) < 1 / 4000
    rows = query(db, "SELECT id, cluster_id, text FROM paragraphs")
    keys = {pid: key(text) for pid, _, text in rows}
    cluster_of = {pid: cid for pid, cid, _ in rows}
    sets = {pid: shingles(k) for pid, k in keys.items() if len(k) >= 10}
    index: dict[str, set] = {}
    for pid, s in sets.items():
        for g in s:
            index.setdefault(g, set()).add(pid)
    near = 0
    for pid, s in sets.items():
        for other in set().union(*(index[g] for g in s)):
            if other > pid and keys[other] != keys[pid]:
                j = len(s & sets[other]) / len(s | sets[other])
                if j >= RECALL_J:
                    near += 1
                    assert cluster_of[pid] is not None and cluster_of[other] is not None, (pid, other, j)
    assert near >= 5  # seed 003 repeats seed 001 in traditional script with pinyin junk


def test_a_killed_scan_leaves_nothing_the_next_scan_does_not_remove(tmp_path, planted, monkeypatch):
    """A scan killed outright leaves its temporary database and key file behind; the next scan
    of the same target removes both, and a finished scan leaves only the database."""
    from dedup.store import keystore

    root = write_corpus(tmp_path / "corpus", planted.files)
    out = tmp_path / "out"
    out.mkdir()
    (out / ".dedup-x.db-123.tmp").write_bytes(b"left by a killed scan")
    real_close = keystore.KeyStore.close
    monkeypatch.setattr(keystore.KeyStore, "close", lambda self: self._file.close())  # as if killed
    scan(root, ScanConfig(), out / "x.db")
    assert any(".dedup-x.db-keys-" in p.name for p in out.iterdir()), "the key file stays after a kill"
    monkeypatch.setattr(keystore.KeyStore, "close", real_close)
    scan(root, ScanConfig(), out / "x.db")
    assert sorted(p.name for p in out.iterdir()) == ["x.db"]
