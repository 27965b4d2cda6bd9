"""dedup clean and dedup export: round trips, byte-for-byte copies, safety, stable columns."""

from __future__ import annotations

import csv
import gzip
import io
import json
import shutil
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from dedup.apps.clean import CleanError, check_output, clean_corpus, line_spans, remove_lines
from dedup.apps.cli import cli
from dedup.config import ScanConfig
from dedup.apps.export import COLUMNS, QUERIES, columns, export
from dedup.pipeline import scan

SEEDS = Path(__file__).resolve().parents[2] / "data" / "seeds"
SPEECH = [
    "各级党组织要切实履行疫情防控主体责任，坚决守住外防输入内防反弹的底线。",
    "今年以来我市经济运行总体平稳，工业生产稳中有进，消费市场逐步回暖。",
    "要加强基层党组织建设，把党员干部的积极性充分调动起来，形成工作合力。",
    "全面推进乡村振兴，巩固拓展脱贫攻坚成果，让农民群众的日子越过越红火。",
]


def one(db: Path, sql: str):
    conn = sqlite3.connect(db)
    try:
        return conn.execute(sql).fetchone()[0]
    finally:
        conn.close()


def non_canonical(db: Path) -> int:
    return one(db, "SELECT count(*) FROM members WHERE relation != 'canonical'")


# -- cutting lines -------------------------------------------------------------------------------


@given(st.lists(st.sampled_from(["a", "bb", "", "中文", " x "]), max_size=12), st.lists(st.sampled_from(["\n", "\r\n", "\r"]), min_size=12, max_size=12), st.data())
@settings(max_examples=300, deadline=None)
def test_remove_lines_keeps_every_other_line_exactly(words, endings, data):
    text = "".join(w + e for w, e in zip(words, endings))
    n = len(line_spans(text))
    dropped = data.draw(st.sets(st.integers(1, max(n, 1))))
    kept = [text[a:b] for i, (a, b) in enumerate(line_spans(text), start=1) if i not in dropped]
    expected = "".join(kept)
    if text and not text.endswith(("\n", "\r")) and n in dropped:  # it ended without a line end: still does
        expected = expected[:-2] if expected.endswith("\r\n") else expected[:-1] if expected.endswith(("\r", "\n")) else expected
    assert remove_lines(text, [(i, i) for i in dropped]) == expected
    assert remove_lines(text.encode("utf-8"), [(i, i) for i in dropped]) == expected.encode("utf-8")


# -- the round trip on the seeds ------------------------------------------------------------------


@pytest.fixture(scope="module")
def seeds_scan(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("seeds")
    corpus = tmp / "corpus"
    shutil.copytree(SEEDS, corpus)
    db = tmp / "seeds.db"
    scan(corpus, ScanConfig(workers=1), db)
    return corpus, db


def test_clean_round_trip_leaves_no_duplicate_and_removes_exactly_the_copies(seeds_scan, tmp_path):
    corpus, db = seeds_scan
    before = {p: p.read_bytes() for p in corpus.rglob("*") if p.is_file()}
    result = clean_corpus(corpus, tmp_path / "out", db)
    assert result.removed == non_canonical(db) > 100
    assert {p: p.read_bytes() for p in corpus.rglob("*") if p.is_file()} == before  # input untouched
    manifest = [json.loads(line) for line in (tmp_path / "out" / ".dedup-manifest.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(manifest) == result.removed and all(m["removed"] for m in manifest)
    rescan = tmp_path / "again.db"
    scan(tmp_path / "out", ScanConfig(workers=1), rescan)
    assert one(rescan, "SELECT count(*) FROM clusters WHERE size > 1") == 0
    assert one(rescan, "SELECT count(*) FROM paragraphs") == one(db, "SELECT count(*) FROM paragraphs") - result.removed


def test_untouched_lines_are_byte_for_byte_and_encoding_is_kept(tmp_path):
    corpus = tmp_path / "c"
    (corpus / "sub").mkdir(parents=True)
    original = "\r\n".join(SPEECH) + "\r\n"
    (corpus / "a.txt").write_bytes(original.encode("gb18030"))
    copy = f"前言\n{SPEECH[1]}\n结尾的一句话，与别处不同。\n"
    (corpus / "sub" / "b.txt").write_bytes(b"\xff\xfe" + copy.encode("utf-16-le"))
    (corpus / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n\0\0")
    db = tmp_path / "d.db"
    scan(corpus, ScanConfig(workers=1), db)
    clean_corpus(corpus, tmp_path / "out", db)
    assert (tmp_path / "out" / "a.txt").read_bytes() == original.encode("gb18030")
    expected = "前言\n结尾的一句话，与别处不同。\n"
    assert (tmp_path / "out" / "sub" / "b.txt").read_bytes() == b"\xff\xfe" + expected.encode("utf-16-le")
    assert (tmp_path / "out" / "logo.png").read_bytes() == b"\x89PNG\r\n\x1a\n\0\0"


def test_keep_first_keeps_the_first_whole_copy_in_corpus_order(tmp_path):
    """Under --canonical longest the canonical is the longer edited copy in 2.txt; --keep first
    keeps 1.txt's instead. A fragment (0.txt) is never what is kept, whatever its place."""
    corpus = tmp_path / "c"
    corpus.mkdir()
    longer = SPEECH[0].replace("，", "，全面，")
    (corpus / "0.txt").write_text(SPEECH[0][:18] + "\n", encoding="utf-8")
    (corpus / "1.txt").write_text(SPEECH[0] + "\n", encoding="utf-8")
    (corpus / "2.txt").write_text(longer + "\n", encoding="utf-8")
    db = tmp_path / "d.db"
    scan(corpus, ScanConfig(workers=1, canonical="longest"), db)
    clean_corpus(corpus, tmp_path / "canon", db)
    clean_corpus(corpus, tmp_path / "first", db, keep="first")
    read = lambda folder, name: (tmp_path / folder / name).read_text(encoding="utf-8")  # noqa: E731
    assert [read("canon", n) for n in ("0.txt", "1.txt", "2.txt")] == ["", "", longer + "\n"]
    assert [read("first", n) for n in ("0.txt", "1.txt", "2.txt")] == ["", SPEECH[0] + "\n", ""]


def test_jsonl_records_are_rewritten_or_copied_and_none_is_lost(tmp_path):
    corpus = tmp_path / "c"
    corpus.mkdir()
    lines = [
        json.dumps({"id": "a", "text": f"{SPEECH[0]}\n{SPEECH[1]}", "url": "http://a"}, ensure_ascii=False),
        '{"id":"b",  "text":"' + SPEECH[2] + '"}',  # odd spacing: must survive byte for byte
        json.dumps({"id": "c", "url": "http://c", "text": f"{SPEECH[1]}\r\n{SPEECH[3]}"}, ensure_ascii=False),
        json.dumps({"id": "d", "text": SPEECH[0]}, ensure_ascii=False),
    ]
    data = ("\n".join(lines) + "\n").encode("utf-8")
    (corpus / "x.jsonl.gz").write_bytes(gzip.compress(data))
    db = tmp_path / "d.db"
    scan(corpus, ScanConfig(workers=1), db)
    result = clean_corpus(corpus, tmp_path / "out", db)
    out = gzip.decompress((tmp_path / "out" / "x.jsonl.gz").read_bytes()).decode("utf-8").split("\n")
    assert out[0] == lines[0] and out[1] == lines[1]
    assert json.loads(out[2]) == {"id": "c", "url": "http://c", "text": SPEECH[3]}
    assert list(json.loads(out[2])) == ["id", "url", "text"]  # field order kept
    assert json.loads(out[3]) == {"id": "d", "text": ""}  # emptied, not lost
    assert result.records_rewritten == 2 and result.removed == 2
    marked = clean_corpus(corpus, tmp_path / "marked", db, mark=True)
    out = gzip.decompress((tmp_path / "marked" / "x.jsonl.gz").read_bytes()).decode("utf-8").split("\n")
    record = json.loads(out[2])
    assert record["text"] == f"{SPEECH[1]}\r\n{SPEECH[3]}"
    assert [(m["line_start"], m["kept_document"], m["kept_line_start"]) for m in record["dedup_duplicates"]] == [(1, "a", 2)]
    assert marked.removed == 0 and marked.listed == 2


@pytest.mark.parametrize("where", ["same", "inside", "around"])
def test_output_folder_must_be_outside_the_corpus(tmp_path, where):
    corpus = tmp_path / "c"
    corpus.mkdir()
    out = {"same": corpus, "inside": corpus / "clean", "around": tmp_path}[where]
    with pytest.raises(CleanError, match="choose an output folder outside it"):
        check_output(corpus, out, force=True)


def test_clean_cli_refuses_non_empty_output_and_changed_corpus(tmp_path):
    corpus = tmp_path / "c"
    corpus.mkdir()
    (corpus / "a.txt").write_text(SPEECH[0] + "\n" + SPEECH[0] + "\n", encoding="utf-8")
    out = tmp_path / "out"
    out.mkdir()
    (out / "old.txt").write_text("x")
    runner = CliRunner()
    result = runner.invoke(cli, ["clean", str(corpus), "--out", str(out), "-q"])
    assert result.exit_code == 1 and "is not empty; choose an empty folder, or pass --force" in result.output
    db = tmp_path / "d.db"
    scan(corpus, ScanConfig(workers=1), db)
    (corpus / "a.txt").write_text(SPEECH[0] + "\n", encoding="utf-8")
    result = runner.invoke(cli, ["clean", str(corpus), "--out", str(out), "--db", str(db), "--force", "-q"])
    assert result.exit_code == 1 and "a.txt changed or went away since the scan" in result.output
    assert not (out / "a.txt").exists()


def test_clean_refuses_when_the_file_holding_the_kept_copy_changed(tmp_path):
    corpus = tmp_path / "c"
    corpus.mkdir()
    (corpus / "a.txt").write_text(SPEECH[0] + "\n", encoding="utf-8")
    (corpus / "b.txt").write_text(SPEECH[1] + "\n" + SPEECH[0] + "\n", encoding="utf-8")
    db = tmp_path / "d.db"
    scan(corpus, ScanConfig(workers=1), db)
    (corpus / "a.txt").unlink()  # the canonical's file: cleaning b.txt now would lose the text
    with pytest.raises(CleanError, match="a.txt changed or went away since the scan"):
        clean_corpus(corpus, tmp_path / "out", db)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_manifest_may_not_land_in_the_corpus_and_bom_survives(tmp_path):
    corpus = tmp_path / "c"
    corpus.mkdir()
    (corpus / "a.txt").write_text(SPEECH[0] + "\n", encoding="utf-8")
    (corpus / "b.txt").write_bytes("\ufeff".encode("utf-8") + (SPEECH[0] + "\n" + SPEECH[1] + "\n").encode("utf-8"))
    db = tmp_path / "d.db"
    scan(corpus, ScanConfig(workers=1), db)
    with pytest.raises(CleanError, match="inside the corpus"):
        clean_corpus(corpus, tmp_path / "out", db, manifest=corpus / "a.txt")
    assert (corpus / "a.txt").read_text(encoding="utf-8") == SPEECH[0] + "\n"
    clean_corpus(corpus, tmp_path / "out", db)
    assert (tmp_path / "out" / "b.txt").read_bytes() == b"\xef\xbb\xbf" + (SPEECH[1] + "\n").encode("utf-8")


def test_clean_cli_scans_first_without_db(tmp_path):
    corpus = tmp_path / "c"
    corpus.mkdir()
    (corpus / "a.txt").write_text(f"{SPEECH[0]}\n{SPEECH[1]}\n{SPEECH[0]}\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["clean", str(corpus), "--out", str(tmp_path / "out"), "--workers", "1"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "out" / "a.txt").read_text(encoding="utf-8") == f"{SPEECH[0]}\n{SPEECH[1]}\n"
    assert "1 duplicate paragraph removed; 1 file rewritten" in result.output


# -- export ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("table", list(QUERIES))
def test_export_views_have_exactly_the_stable_columns(seeds_scan, table):
    from dedup.store.writer import open_existing

    _, db = seeds_scan
    assert columns(open_existing(db).conn, table) == COLUMNS[table]


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "parquet"])
def test_export_formats_agree(seeds_scan, tmp_path, fmt):
    _, db = seeds_scan
    out = tmp_path / f"pairs.{fmt}"
    n = export(db, "pairs", fmt, out)
    assert n == non_canonical(db)
    if fmt == "jsonl":
        rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    elif fmt == "csv":
        rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"))))
    else:
        import pyarrow.parquet as pq

        rows = pq.read_table(out).to_pylist()
    assert len(rows) == n and list(rows[0]) == COLUMNS["pairs"]
    assert {int(r["paragraph_id"]) for r in rows} == {int(r["paragraph_id"]) for r in rows if r["relation"] != "canonical"}
    assert not list(tmp_path.glob(".*.tmp"))


def test_export_cli_to_stdout_and_errors(seeds_scan, tmp_path):
    _, db = seeds_scan
    runner = CliRunner()
    result = runner.invoke(cli, ["export", str(db), "--table", "clusters"])
    assert result.exit_code == 0
    first = json.loads(result.output.splitlines()[0])
    assert first["cluster_id"] == 1 and list(first) == COLUMNS["clusters"]
    result = runner.invoke(cli, ["export", str(db), "--format", "parquet"])
    assert result.exit_code == 1 and "pass --out FILE.parquet" in result.output
    result = runner.invoke(cli, ["export", str(db), "--table", "nope"])
    assert result.exit_code == 2
    result = runner.invoke(cli, ["export", str(tmp_path / "missing.db")])
    assert result.exit_code == 1 and "no such database" in result.output
