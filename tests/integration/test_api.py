"""The public Python API: ``import dedup`` gives scan/add/remove/open_scan/deduplicate, and the
in-memory call finds what a scan of the same texts finds."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pytest

import dedup
from helpers import SEEDS

LICENSES = sorted(Path("/usr/share/common-licenses").glob("*"))


def corpus_texts() -> list[str]:
    """The seeds and, where the machine has them, licence texts nobody here wrote, with copies
    that were cut and edited."""
    texts = [p.read_text(encoding="utf-8") for p in sorted(Path(SEEDS).glob("*.txt"))]
    for path in LICENSES[:6]:
        text = path.read_text(encoding="utf-8", errors="replace")
        texts.append(text)
        paragraphs = [p for p in text.split("\n\n") if len(p) > 200]
        if paragraphs:
            texts.append("\n\n".join(p.replace(" the ", " a ", 1)[: int(len(p) * 0.8)] for p in paragraphs[:5]))
    return texts


def scanned_as_files(tmp_path: Path, texts: list[str]) -> dict:
    folder = tmp_path / "corpus"
    folder.mkdir()
    names = [f"t{i:03d}.txt" for i in range(len(texts))]
    for name, text in zip(names, texts):
        (folder / name).write_text(text, encoding="utf-8")
    dedup.scan(folder, db=tmp_path / "s.db", workers=1)
    conn = sqlite3.connect(tmp_path / "s.db")
    rows = conn.execute(
        "SELECT d.path, p.idx, m.relation, round(m.similarity, 6), round(m.containment, 6), cd.path, cp.idx "
        "FROM members m JOIN paragraphs p ON p.id = m.paragraph_id JOIN documents d ON d.id = p.doc_id "
        "JOIN clusters c ON c.id = m.cluster_id JOIN paragraphs cp ON cp.id = c.canonical_id JOIN documents cd ON cd.id = cp.doc_id"
    ).fetchall()
    return {(path, idx): (rel, sim, con, cpath, cidx) for path, idx, rel, sim, con, cpath, cidx in rows}


def test_deduplicate_finds_what_a_scan_of_the_same_texts_finds(tmp_path):
    texts = corpus_texts()
    expected = scanned_as_files(tmp_path, texts)
    ids = [f"t{i:03d}.txt" for i in range(len(texts))]
    found = dedup.deduplicate(texts, ids=ids, workers=1)
    got = {
        (p.id, p.paragraph): (p.member.relation, round(p.member.similarity, 6), round(p.member.containment, 6),
                              ids[p.member.canonical_text], p.member.canonical_paragraph)
        for p in found.paragraphs if p.member is not None
    }  # fmt: skip
    assert got == expected
    assert len(expected) > 100 and any(v[0] == "contained" for v in expected.values())
    assert found.counts["clusters"] == len({(v[3], v[4]) for v in expected.values()})


def test_deduplicate_results_read_as_clusters_records_and_shares():
    base = "The quick brown fox jumps over the lazy dog while the farmer watches from the gate."
    texts = [base, "Something else entirely, about ships and the sea and the long voyage home.", base.replace("quick", "quiet")]
    found = dedup.deduplicate(texts, threshold=0.6)
    (members,) = found.clusters().values()
    assert [p.text for p in members] == [0, 2] and members[0].member.relation == "canonical"
    assert members[1].is_copy and members[1].member.canonical_text == 0
    assert found.copied_share() == [0.0, 0.0, 1.0]
    records = found.records()
    assert [r["cluster"] is not None for r in records] == [True, False, True]
    assert records[2]["relation"] == "near" and 0.6 <= records[2]["similarity"] < 1


def test_deduplicate_takes_any_iterable_and_checks_its_input():
    assert dedup.deduplicate(iter([])).paragraphs == []
    assert len(dedup.deduplicate(t for t in ["a b c d e f g h i j k l", "x"]).paragraphs) == 2
    with pytest.raises(dedup.ConfigError, match="text 1 is a int"):
        dedup.deduplicate(["a", 3])
    with pytest.raises(dedup.ConfigError, match="ids repeat"):
        dedup.deduplicate(["a", "b"], ids=["x", "x"])
    with pytest.raises(dedup.ConfigError, match="2 ids for 3 texts"):
        dedup.deduplicate(["a", "b", "c"], ids=["x", "y"])
    with pytest.raises(dedup.ConfigError, match="unknown scan option 'treshold'"):
        dedup.deduplicate(["a"], treshold=0.5)


def test_scan_add_remove_and_open_scan(tmp_path):
    folder = tmp_path / "c"
    folder.mkdir()
    for src in sorted(Path(SEEDS).glob("*.txt"))[:3]:
        (folder / src.name).write_bytes(src.read_bytes())
    db = tmp_path / "d.db"
    result = dedup.scan(folder, db=db, workers=1)
    assert result.counts["documents"] == 3
    new = folder / "copy.txt"
    new.write_bytes(sorted(Path(SEEDS).glob("*.txt"))[0].read_bytes())
    assert dedup.add(db, [new])["documents_added"] == 1
    tables = dedup.open_scan(db)
    assert tables["documents"].count == 4
    assert dedup.remove(db, ["copy.txt"])["files_deleted"] == 1
    assert dedup.open_scan(db)["documents"].count == 3
    with pytest.raises(dedup.DatabaseError):
        dedup.open_scan(tmp_path / "missing.db")


def test_the_readme_example_runs():
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    block = re.search(r"## Python API.*?```python\n(.*?)```", readme, re.S)
    assert block, "README has a Python API section with a python example"
    namespace: dict = {}
    exec(compile(block.group(1), "README.md", "exec"), namespace)
    assert namespace["found"].counts["clusters"] >= 1


def test_import_dedup_lists_its_api_and_refuses_other_names():
    assert {"scan", "deduplicate", "ScanConfig", "DedupError"} <= set(dir(dedup))
    with pytest.raises(AttributeError):
        dedup.no_such_name  # noqa: B018
