"""Appends (engines/delta.py): documents added last in corpus order, at the cost of the
documents, end exactly where a full scan of the same documents in the same order ends."""

from __future__ import annotations

import hashlib
import random
import sqlite3
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given
from hypothesis import strategies as st

from helpers import derandomized, noise, scan_result, substitute
from dedup.config import ScanConfig
from dedup.engines.delta import append, load_live
from dedup.engines.update import stored_run
from dedup.pipeline import scan
from dedup.run import Run
from dedup.sources.corpus import Document

API = "\U0010ffffapi/"  # the service's sources: after every file name


def _live(db: Path):
    _, config = stored_run(db, workers=1)
    conn = sqlite3.connect(db)
    try:
        return load_live(conn, config)
    finally:
        conn.close()


def _documents(names_texts: list[tuple[str, str]], first: int) -> list[Document]:
    """Documents as the service makes them, stored under ``name`` (their path) in order."""
    out = []
    for i, (name, text) in enumerate(names_texts, start=first):
        data = text.encode("utf-8")
        out.append(Document(name, text, "utf-8", len(data), hashlib.sha1(data).hexdigest(), source=f"{API}{i:012d}/{name}"))
    return out


def _check_appends(tmp_path: Path, corpus: Path, batches: list[list[tuple[str, str]]], config: ScanConfig, merge_every: int = 0) -> None:
    """Scan ``corpus``, append the batches one by one (named files at the corpus root, sorting
    after it) and after each compare with a full scan of the corpus with the files written."""
    db = tmp_path / "live.db"
    scan(corpus, config, db, full=True)
    live = _live(db)
    n = 0
    for step, batch in enumerate(batches):
        live, counts = append(db, live, _documents(batch, n + 1), Run())
        n += len(batch)
        if merge_every and step % merge_every == merge_every - 1:
            assert live.merge_if_due(at=0)
        for name, text in batch:
            (corpus / name).write_text(text, encoding="utf-8")
        full = tmp_path / f"full-{step}.db"
        scan(corpus, config, full, full=True)
        assert scan_result(db) == scan_result(full), f"step {step}"
        assert _live(db).n_candidates == live.n_candidates


@pytest.mark.parametrize("policy, seed", [("first", 1), ("longest", 2), ("earliest", 3)])
def test_appends_to_a_generated_dump_stay_a_full_scan(tmp_path, policy, seed):
    """Generated documents (copies, edits, partial copies of each other), half scanned and the
    rest appended in batches of 1 to 4, with merges of the buckets mid-sequence."""
    from bench.generate import generate

    generate(tmp_path / "dump", n_docs=50, seed=seed)
    docs = sorted((tmp_path / "dump" / "docs").rglob("*.txt"))
    rng = random.Random(seed)
    rng.shuffle(docs)
    corpus = tmp_path / "c"
    for path in docs[:25]:
        target = corpus / path.relative_to(tmp_path / "dump" / "docs")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    rest = [(f"zz-{i:03d}.txt", p.read_text(encoding="utf-8")) for i, p in enumerate(docs[25:])]
    batches = []
    while rest:
        k = rng.randint(1, 4)
        batches.append(rest[:k])
        rest = rest[k:]
    _check_appends(tmp_path, corpus, batches, ScanConfig(workers=1, canonical=policy), merge_every=3)


def test_a_stock_phrase_bucket_that_overflows_drops_its_pairs_as_a_full_scan(tmp_path):
    """Paragraphs sharing one stock sentence: the anchor bucket passes ANCHOR_MAX_BUCKET in
    the middle of the appends, and the pairs it alone made stop being candidates."""
    rng = random.Random(5)
    stock = noise(rng, 40, 40)

    def paragraph() -> str:
        return noise(rng, 5, 40) + stock + noise(rng, 5, 60)

    corpus = tmp_path / "c"
    corpus.mkdir()
    for i in range(12):
        (corpus / f"a{i:02d}.txt").write_text("\n".join(paragraph() for _ in range(4)) + "\n", encoding="utf-8")
    batches = [[(f"zz-{s}-{j}.txt", "\n".join(paragraph() for _ in range(2)) + "\n" + noise(rng) + "\n") for j in range(2)] for s in range(4)]
    _check_appends(tmp_path, corpus, batches, ScanConfig(workers=1))


def test_appends_that_join_and_part_the_halves_of_a_broken_line_stay_a_full_scan(tmp_path):
    """The joined rule (match/joined.py) is not local to the new keys: the source of an old
    broken line arrives (old halves join a new key), then a copy of one half alone (that half
    has a copy of its own and leaves the joined pair); and a broken copy arrives after its source."""
    from texts import NOTICE_ASIDE, NOTICE_FIRST_HALF, NOTICE_LINE, NOTICE_SECOND_HALF

    broken = f"A header line of the second package.\n{NOTICE_FIRST_HALF}\n{NOTICE_SECOND_HALF} {NOTICE_ASIDE}\nThe end of it.\n"
    source = f"The first package.\n{NOTICE_LINE}\n"
    half = f"Quoted alone:\n{NOTICE_FIRST_HALF.replace('free', 'libre')}\n"
    config = ScanConfig(workers=1)
    for name, start, batches in [
        ("old halves", {"b.txt": broken}, [[("zz-1.txt", source)], [("zz-2.txt", half)]]),
        ("new halves", {"a.txt": source}, [[("zz-1.txt", broken)]]),
    ]:
        corpus = tmp_path / name
        corpus.mkdir()
        for file, text in start.items():
            (corpus / file).write_text(text, encoding="utf-8")
        _check_appends(tmp_path / f"{name}-dbs", corpus, batches, config)
        db = tmp_path / f"{name}-dbs" / "live.db"
        with sqlite3.connect(db) as conn:  # a test that could fail: the halves were joined to the source
            contained = conn.execute(
                "SELECT count(*) FROM members m JOIN paragraphs p ON p.id = m.paragraph_id JOIN documents d ON d.id = p.doc_id "
                "WHERE d.path IN ('b.txt', 'zz-1.txt') AND m.relation = 'contained'"
            ).fetchone()[0]
        assert contained >= 1, name


def _broken_line_documents(rng: random.Random, sources: list[str], n: int) -> list[str]:
    """Documents of 2-4 lines: copies of the sources, broken copies (a source over two lines,
    each with an aside at times, which takes it under the containment rule on its own), one
    half of a source edited, new text."""

    def aside(half: str) -> str:
        return half + noise(rng, len(half) // 4, len(half) // 3) if rng.random() < 0.7 else half

    docs = []
    for _ in range(n):
        lines = []
        for _ in range(rng.randint(2, 4)):
            source, kind = rng.choice(sources), rng.random()
            cut = rng.randint(len(source) // 3, 2 * len(source) // 3)
            if kind < 0.25:
                lines.append(source)
            elif kind < 0.65:
                lines += [aside(source[:cut]), aside(source[cut:])]
            elif kind < 0.85:
                half = source[:cut] if rng.random() < 0.5 else source[cut:]
                lines.append(aside(substitute(rng, half, [len(half) // 2])))
            else:
                lines.append(noise(rng, 40, 120))
        docs.append("\n".join(lines) + "\n")
    return docs


@given(st.integers(0, 10**6))
@derandomized(10, HealthCheck.function_scoped_fixture)
def test_random_appends_of_broken_lines_stay_a_full_scan(tmp_path, seed):
    """Random sequences of appends whose documents break, copy and edit the same few sources:
    the joined rule's pairs (judged again only where an append touches them,
    engines/joined_live.py) end where a full scan of the same documents ends."""
    rng = random.Random(seed)
    sources = [noise(rng, 80, 160) for _ in range(4)]
    root = Path(tempfile.mkdtemp(dir=tmp_path))
    corpus = root / "c"
    corpus.mkdir()
    for i, text in enumerate(_broken_line_documents(rng, sources, 3)):
        (corpus / f"a{i}.txt").write_text(text, encoding="utf-8")
    later = _broken_line_documents(rng, sources, 6)
    batches, i = [], 0
    while i < len(later):
        k = rng.randint(1, 2)
        batches.append([(f"zz-{j:02d}.txt", later[j]) for j in range(i, min(i + k, len(later)))])
        i += k
    _check_appends(root, corpus, batches, ScanConfig(workers=1))
