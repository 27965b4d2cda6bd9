"""Parquet, CSV and TSV inputs on the local engine: the same clusters as JSONL, metadata, record
numbers, bad input, clean back into the same format, export, report and show.

The texts are paragraphs of the licences every Debian system ships (/usr/share/common-licenses),
cut into records, with some paragraphs copied into other records as they are or edited, so the
clusters are real ones.
"""

from __future__ import annotations

import csv
import datetime as dt
import decimal
import io
import json
import re
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from helpers import derandomized, rows
from dedup.sources import tabular
from dedup.apps.cli import cli
from dedup.apps.clean import clean_corpus
from dedup.config import ScanConfig
from dedup.sources.records import RecordFields
from dedup.engines.local import corpus_jobs
from dedup.pipeline import scan
from dedup.sources.tabular import CsvBatch, ParquetBatch, cell_spans, csv_batches, parquet_batches, read_table

LICENCES = Path("/usr/share/common-licenses")
COLUMNS = ["id", "text", "licence", "n"]


def licence_paragraphs() -> list[str]:
    """Blank-line paragraphs of four licences, as one line each, of a dozen words or more."""
    out = []
    for name in ("GPL-3", "Apache-2.0", "MPL-2.0", "LGPL-2.1"):
        text = (LICENCES / name).read_text(encoding="utf-8")
        out += [" ".join(block.split()) for block in re.split(r"\n\s*\n", text) if len(block.split()) >= 12]
    return out


def make_records() -> list[dict]:
    """Records of three paragraphs each, then records copying (exactly, or with a word changed)
    paragraphs of earlier ones; a few hold what CSV must quote (quotes, delimiters, CRLF)."""
    paragraphs = licence_paragraphs()[:150]
    records = [
        {"id": f"lic-{i // 3}", "text": "\n\n".join(paragraphs[i : i + 3]), "licence": "original", "n": i}
        for i in range(0, len(paragraphs), 3)
    ]
    for j in range(12):
        source = records[j * 3]["text"].split("\n\n")
        edited = source[1].replace(" the ", " this ", 1)
        text = f"{source[0]}\r\n\r\n{edited}" if j % 2 else f'"Quoted", she wrote; then\ta tab.\n\n{source[0]}'
        records.append({"id": f"copy-{j}", "text": text, "licence": "copy, edited", "n": 1000 + j})
    return records


RECORDS = make_records()


def write_jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return path


def write_parquet(path: Path, records: list[dict], row_group_size: int = 7, **options) -> Path:
    pq.write_table(pa.Table.from_pylist(records), path, row_group_size=row_group_size, **options)
    return path


def write_csv(path: Path, records: list[dict], delimiter: str = ",", **options) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, COLUMNS, delimiter=delimiter, **options)
        writer.writeheader()
        writer.writerows(records)
    return path


TABLES = {
    "documents": "SELECT id, path, n_paragraphs, n_chars FROM documents ORDER BY id",
    "paragraphs": "SELECT id, doc_id, idx, line_start, line_end, char_start, char_end, text, cluster_id FROM paragraphs ORDER BY id",
    "clusters": "SELECT * FROM clusters ORDER BY id",
    "members": "SELECT * FROM members ORDER BY paragraph_id",
}


def tables(db: Path) -> dict[str, list[tuple]]:
    return {name: rows(db, sql) for name, sql in TABLES.items()}


def invoke(*args: str):
    return CliRunner().invoke(cli, [str(a) for a in args])


def error_line(result) -> str:
    """The one line a failed command printed (and that there was no traceback)."""
    assert "Traceback" not in result.output, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    return lines[0]


# -- the same clusters whatever the format ---------------------------------------------------


@pytest.fixture(scope="module")
def jsonl_scan(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("jsonl")
    path = write_jsonl(tmp / "records.jsonl", RECORDS)
    scan(path, ScanConfig(workers=1), tmp / "jsonl.db")
    return tmp / "jsonl.db"


def test_the_records_make_real_clusters(jsonl_scan):
    relations = {r for (r,) in rows(jsonl_scan, "SELECT DISTINCT relation FROM members")}
    assert {"canonical", "exact", "near"} <= relations
    assert rows(jsonl_scan, "SELECT count(*) FROM clusters WHERE n_documents >= 2")[0][0] >= 12


def shards(folder: Path) -> Path:
    """Two Parquet shards and the files a writer leaves beside them, which no scan reads."""
    folder.mkdir()
    half = len(RECORDS) // 2
    write_parquet(folder / "part-00000.parquet", RECORDS[:half])
    write_parquet(folder / "part-00001.parquet", RECORDS[half:], compression="zstd")
    (folder / "_SUCCESS").write_bytes(b"")
    (folder / ".part-00000.parquet.crc").write_bytes(b"\x00\x01")
    (folder / "schema.json").write_text("{}")
    return folder


WRITERS = {
    "parquet": lambda tmp: write_parquet(tmp / "records.parquet", RECORDS),
    "one row group": lambda tmp: write_parquet(tmp / "records.parquet", RECORDS, row_group_size=10_000),
    "shards": lambda tmp: shards(tmp / "shards"),
    "csv": lambda tmp: write_csv(tmp / "records.csv", RECORDS),
    "tsv": lambda tmp: write_csv(tmp / "records.tsv", RECORDS, delimiter="\t"),
    "csv; quoted": lambda tmp: write_csv(tmp / "records.csv", RECORDS, delimiter=";", quoting=csv.QUOTE_ALL, lineterminator="\n"),
}


@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize("kind", list(WRITERS))
def test_same_tables_as_the_same_records_in_jsonl(jsonl_scan, tmp_path, monkeypatch, kind, workers):
    """Clusters, members, documents (ids and paths) and paragraphs are those of the JSONL,
    cut into many batches (a few records each) and read by one or two workers."""
    monkeypatch.setattr(tabular, "BATCH_BYTES", 3000)
    corpus = WRITERS[kind](tmp_path)
    result = scan(corpus, ScanConfig(workers=workers), tmp_path / "t.db")
    assert result.counts["documents"] == len(RECORDS)
    assert tables(tmp_path / "t.db") == tables(jsonl_scan)


def test_a_big_file_is_cut_into_many_jobs_in_order(tmp_path, monkeypatch):
    """One shard feeds every worker: its row groups, and a row group bigger than a batch, are
    cut into batches numbered on from one another; so is a CSV file."""
    monkeypatch.setattr(tabular, "BATCH_BYTES", 4000)
    one_group = write_parquet(tmp_path / "one.parquet", RECORDS, row_group_size=10_000)
    assert pq.ParquetFile(one_group).metadata.num_row_groups == 1
    for path in (one_group, write_csv(tmp_path / "one.csv", RECORDS)):
        jobs = list(corpus_jobs([path], tmp_path, ScanConfig()))
        assert len(jobs) >= 10 and all(isinstance(j, (ParquetBatch, CsvBatch)) for j in jobs)
        docs = [d for job in jobs for d in job.documents(RecordFields())]
        assert [d.path for d in docs] == [r["id"] for r in RECORDS]
    firsts = [j.first_row for j in corpus_jobs([one_group], tmp_path, ScanConfig())]
    assert firsts[0] == 1 and firsts == sorted(set(firsts))


def test_a_row_group_is_read_a_batch_at_a_time(tmp_path):
    path = write_parquet(tmp_path / "one.parquet", RECORDS, row_group_size=10_000)
    sizes = [len(b.data) for b in parquet_batches(path, "one.parquet", RecordFields(), batch_bytes=10_000)]
    assert len(sizes) >= 4 and max(sizes) < 30_000


# -- record numbers, ids, metadata -------------------------------------------------------------


def test_record_is_the_parquet_row_and_the_csv_line(tmp_path):
    records = [{"text": "first row\nof two lines"}, {"text": "second"}, {"text": "third"}]
    write_parquet(tmp_path / "t.parquet", records, row_group_size=2)
    with open(tmp_path / "t.csv", "w", newline="") as f:  # header, a two-line cell, a blank line
        f.write('text\r\n"first row\nof two lines"\r\n\r\nsecond\r\nthird\r\n')
    parquet = [(d.path, d.record) for d in read_table(tmp_path / "t.parquet", "t.parquet")]
    assert parquet == [("t.parquet:1", 1), ("t.parquet:2", 2), ("t.parquet:3", 3)]
    assert [(d.path, d.record) for d in read_table(tmp_path / "t.csv", "t.csv")] == [("t.csv:2", 2), ("t.csv:5", 5), ("t.csv:6", 6)]


def test_parquet_values_become_json_in_meta(tmp_path):
    table = pa.table({
        "text": ["one text", "another text"],
        "id": pa.array([7, 8], pa.int64()),
        "crawled": pa.array([1614844800123456789, None], pa.timestamp("ns")),
        "zoned": pa.array([1614844800, 1614844800], pa.timestamp("s", tz="Asia/Shanghai")),
        "day": pa.array([dt.date(2021, 3, 4), None]),
        "price": pa.array([decimal.Decimal("12.50"), None], pa.decimal128(10, 2)),
        "blob": [b"\xff\x00", b"ok"],
        "tags": [["a", "b"], []],
        "where": [{"host": "x.cn", "port": 80}, None],
        "headers": pa.array([[("lang", "zh")], None], pa.map_(pa.string(), pa.string())),
        "score": [float("nan"), 1.5],
        "took": pa.array([1500, None], pa.duration("ms")),
        "site": pa.array(["x.cn", "x.cn"]).dictionary_encode(),
    })
    pq.write_table(table, tmp_path / "t.parquet")
    first, second = read_table(tmp_path / "t.parquet", "t.parquet")
    assert first.path == "7" and first.text == "one text"
    assert json.loads(first.meta) == {
        "id": 7, "crawled": "2021-03-04T08:00:00.123456789", "zoned": "2021-03-04T16:00:00+08:00", "day": "2021-03-04",
        "price": "12.50", "blob": "/wA=", "tags": ["a", "b"], "where": {"host": "x.cn", "port": 80},
        "headers": {"lang": "zh"}, "took": 1.5, "site": "x.cn",  # NaN is null: left out
    }
    # a null is a missing field, as the Spark engine reads a dataset
    assert json.loads(second.meta) == {"id": 8, "zoned": "2021-03-04T16:00:00+08:00", "blob": "b2s=", "tags": [], "score": 1.5, "site": "x.cn"}


def test_a_timestamp_column_dates_records_for_earliest(tmp_path):
    base = RECORDS[0]["text"]
    table = pa.table({"text": [base, base], "id": ["late", "early"], "at": pa.array([1700000000, 1600000000], pa.timestamp("s", tz="UTC"))})
    pq.write_table(table, tmp_path / "t.parquet")
    scan(tmp_path / "t.parquet", ScanConfig(workers=1, canonical="earliest", date_field="at"), tmp_path / "t.db")
    assert rows(tmp_path / "t.db", "SELECT d.path, d.date FROM clusters c JOIN paragraphs p ON p.id = c.canonical_id JOIN documents d ON d.id = p.doc_id LIMIT 1") == [
        ("early", "2020-09-13T12:26:40+00:00")
    ]


def test_csv_cells_stay_strings_and_the_delimiter_is_found(tmp_path):
    (tmp_path / "t.csv").write_bytes("\ufeffid;text;note\r\n1;Hello, world;\r\n2;\"a;b\";x\r\n".encode("utf-8"))
    docs = list(read_table(tmp_path / "t.csv", "t.csv"))
    assert [(d.path, d.text, json.loads(d.meta)) for d in docs] == [("1", "Hello, world", {"id": "1", "note": ""}), ("2", "a;b", {"id": "2", "note": "x"})]


# -- bad input: one line naming the file and the fix, or skipped under --skip-bad ----------------


def test_a_corrupt_parquet_file_is_one_error_or_skipped(tmp_path):
    corpus = tmp_path / "c"
    corpus.mkdir()
    write_parquet(corpus / "good.parquet", RECORDS[:5])
    (corpus / "bad.parquet").write_bytes(b"PAR1 this is not a parquet file at all PAR1")
    result = invoke("scan", corpus, "--db", tmp_path / "x.db")
    assert result.exit_code == 1
    assert re.fullmatch(r"Error: bad\.parquet: not a readable Parquet file \(.+\); repair or replace it, or pass --skip-bad to skip such files", error_line(result))
    result = invoke("scan", corpus, "--db", tmp_path / "x.db", "--skip-bad", "-q")
    assert result.exit_code == 0 and "warning: bad.parquet: not a readable Parquet file" in result.output
    assert rows(tmp_path / "x.db", "SELECT count(*) FROM documents") == [(5,)]


def test_a_parquet_file_cut_short_is_one_error(tmp_path):
    data = write_parquet(tmp_path / "t.parquet", RECORDS).read_bytes()
    (tmp_path / "t.parquet").write_bytes(data[: len(data) // 2])
    result = invoke("scan", tmp_path / "t.parquet", "--db", tmp_path / "x.db")
    assert result.exit_code == 1 and error_line(result).startswith("Error: t.parquet: not a readable Parquet file (")


def test_no_text_column_names_the_columns_and_the_option(tmp_path):
    write_csv(tmp_path / "t.csv", RECORDS[:3])
    result = invoke("scan", tmp_path / "t.csv", "--db", tmp_path / "x.db", "--text-field", "body")
    assert result.exit_code == 1
    assert error_line(result) == (
        "Error: t.csv: no 'body' column (its columns: 'id', 'text', 'licence', 'n'); "
        "name the text column with --text-field, or pass --skip-bad to skip such files"
    )
    write_parquet(tmp_path / "t.parquet", RECORDS[:3])
    result = invoke("scan", tmp_path / "t.parquet", "--db", tmp_path / "x.db", "--text-field", "n")
    assert error_line(result) == "Error: t.parquet: column 'n' holds int64, not text; name the text column with --text-field, or pass --skip-bad to skip such files"


def test_a_csv_row_with_a_broken_quote_names_its_line(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text('id,text\n1,"fine"\n2,"broken" here\n3,"also fine"\n4,short\n5,"never closed\n6,x\n', encoding="utf-8")
    result = invoke("scan", path, "--db", tmp_path / "x.db")
    assert result.exit_code == 1
    assert error_line(result) == "Error: t.csv:3: broken quoting (',' expected after '\"'); fix the row, or pass --skip-bad to skip such rows"
    result = invoke("scan", path, "--db", tmp_path / "x.db", "--skip-bad", "-q")
    assert result.exit_code == 0
    assert "warning: t.csv:3: broken quoting" in result.output
    assert "warning: t.csv:6: a quote opened in this row never closes (the file ends inside it); fix the row" in result.output
    assert rows(tmp_path / "x.db", "SELECT path FROM documents ORDER BY id") == [("1",), ("3",), ("4",)]
    assert len(json.loads(rows(tmp_path / "x.db", "SELECT skipped FROM runs")[0][0])) == 2


def test_a_row_with_too_many_cells_and_a_row_not_utf8(tmp_path):
    (tmp_path / "t.csv").write_bytes(b"id,text\n1,a,b\n2,caf\xe9\n3,ok\n")
    result = invoke("scan", tmp_path / "t.csv", "--db", tmp_path / "x.db", "--skip-bad", "-q")
    assert "warning: t.csv:2: 3 cells where the header has 2; fix the row" in result.output
    assert "warning: t.csv:3: not UTF-8; convert the file to UTF-8 (iconv -f WINDOWS-1252 -t UTF-8" in result.output
    assert rows(tmp_path / "x.db", "SELECT path FROM documents") == [("3",)]


def test_a_null_text_is_a_record_without_its_text(tmp_path):
    pq.write_table(pa.table({"id": ["a", "b", "c"], "text": [RECORDS[0]["text"], None, RECORDS[0]["text"]]}), tmp_path / "t.parquet")
    result = invoke("scan", tmp_path / "t.parquet", "--db", tmp_path / "x.db")
    assert error_line(result) == "Error: t.parquet:2: 'text' is null; fill it, name another text column with --text-field, or pass --skip-bad to skip such rows"
    result = invoke("scan", tmp_path / "t.parquet", "--db", tmp_path / "x.db", "--skip-bad", "-q")
    assert result.exit_code == 0 and rows(tmp_path / "x.db", "SELECT path FROM documents") == [("a",), ("c",)]


def test_parquet_without_pyarrow_names_the_pip_command(tmp_path, monkeypatch):
    corpus = tmp_path / "c"
    corpus.mkdir()
    write_parquet(corpus / "a.parquet", RECORDS[:3])
    write_csv(corpus / "b.csv", RECORDS[3:6])
    for name in ("pyarrow", "pyarrow.parquet"):
        monkeypatch.setitem(sys.modules, name, None)  # import fails as if it were not installed
    result = invoke("scan", corpus, "--db", tmp_path / "x.db", "--workers", "1")
    assert result.exit_code == 1
    assert error_line(result) == "Error: a.parquet: reading Parquet needs pyarrow: pip install 'dedup[parquet]', or pass --skip-bad to skip such files"
    result = invoke("scan", corpus, "--db", tmp_path / "x.db", "--workers", "1", "--skip-bad", "-q")
    assert result.exit_code == 0 and "warning: a.parquet: reading Parquet needs pyarrow" in result.output
    assert rows(tmp_path / "x.db", "SELECT count(*) FROM documents") == [(3,)]  # CSV needs no pyarrow


def test_binary_and_empty_tables(tmp_path):
    corpus = tmp_path / "c"
    corpus.mkdir()
    (corpus / "blob.csv").write_bytes(b"\x00\x01\x02" * 10)
    (corpus / "empty.csv").write_bytes(b"")
    write_csv(corpus / "real.csv", RECORDS[:2])
    result = invoke("scan", corpus, "--db", tmp_path / "x.db", "-q")
    assert result.exit_code == 0 and "warning: blob.csv: binary file (NUL bytes), skipped" in result.output


edits = st.lists(st.tuples(st.integers(0, 20_000), st.integers(0, 12), st.binary(max_size=12)), min_size=1, max_size=4)


@given(kind=st.sampled_from(["csv", "tsv", "parquet"]), cuts=edits)
@derandomized(60)
def test_damaged_tables_never_give_a_traceback(tmp_path_factory, kind, cuts):
    """Bytes overwritten, cut or inserted anywhere: exit 0, or exit 1 with one Error line that
    names the file and a fix; with --skip-bad, exit 0."""
    tmp = tmp_path_factory.mktemp("fuzz")
    path = tmp / f"t.{kind}"
    if kind == "parquet":
        write_parquet(path, RECORDS[:30], row_group_size=10, compression="none")
    else:
        write_csv(path, RECORDS[:30], delimiter="\t" if kind == "tsv" else ",")
    data = bytearray(path.read_bytes())
    for at, removed, junk in cuts:  # bytes removed at a place, others put in theirs
        at %= len(data) + 1
        data[at : at + removed] = junk
    path.write_bytes(bytes(data))
    for options, db in (([], "x.db"), (["--skip-bad"], "y.db")):
        result = invoke("scan", path, "--db", tmp / db, "--workers", "1", "-q", *options)
        assert result.exit_code in (0, 1) and "Traceback" not in result.output, result.output
        assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
        *warnings, last = result.output.strip().splitlines() or [""]
        assert all(w.startswith("warning: t.") and "skip" in w for w in warnings), result.output
        if result.exit_code == 1:
            if options or warnings:  # every row or the whole file was skipped
                assert last.startswith("Error: no readable documents in"), result.output
            else:
                assert re.match(r"Error: t\.(csv|tsv|parquet)(:\d+)?: .*(fix|repair|convert|rename|name the)", last) and "--skip-bad" in last, last


# -- clean, export, report, show -----------------------------------------------------------------


def assert_clean_scan_again(folder: Path, tmp_path: Path) -> None:
    scan(folder, ScanConfig(workers=1), tmp_path / "again.db")
    assert rows(tmp_path / "again.db", "SELECT count(*) FROM members WHERE relation != 'canonical'") == [(0,)]


def test_clean_parquet_keeps_the_schema_and_every_other_column(tmp_path):
    corpus = tmp_path / "c"
    corpus.mkdir()
    table = pa.Table.from_pylist(RECORDS).replace_schema_metadata({b"huggingface": b'{"info": {"features": {}}}'})
    pq.write_table(table, corpus / "a.parquet", row_group_size=9, compression="zstd")
    scan(corpus, ScanConfig(workers=1), tmp_path / "db")
    result = clean_corpus(corpus, tmp_path / "out", tmp_path / "db")
    assert result.removed > 12 and result.rows_rewritten >= 12 and result.files_written == 1
    before, after = pq.ParquetFile(corpus / "a.parquet"), pq.ParquetFile(tmp_path / "out" / "a.parquet")
    assert after.schema_arrow.equals(before.schema_arrow, check_metadata=True)
    assert after.metadata.num_row_groups == before.metadata.num_row_groups
    assert after.metadata.row_group(0).column(1).compression == "ZSTD"
    old, new = before.read(), after.read()
    assert new.drop_columns(["text"]).equals(old.drop_columns(["text"]))
    changed = [(a, b) for a, b in zip(old["text"].to_pylist(), new["text"].to_pylist()) if a != b]
    assert len(changed) == result.rows_rewritten
    assert all(len(b) < len(a) for a, b in changed)
    assert not list(tmp_path.glob("out/.*.tmp"))  # written to a temporary name and moved
    assert_clean_scan_again(tmp_path / "out", tmp_path)


@pytest.mark.parametrize("delimiter, quoting, ending", [(",", csv.QUOTE_MINIMAL, "\r\n"), (";", csv.QUOTE_ALL, "\n"), ("\t", csv.QUOTE_MINIMAL, "\n")])
def test_clean_csv_changes_only_text_cells(tmp_path, delimiter, quoting, ending):
    corpus = tmp_path / "c"
    corpus.mkdir()
    name = "a.tsv" if delimiter == "\t" else "a.csv"
    write_csv(corpus / name, RECORDS, delimiter=delimiter, quoting=quoting, lineterminator=ending)
    scan(corpus, ScanConfig(workers=1), tmp_path / "db")
    result = clean_corpus(corpus, tmp_path / "out", tmp_path / "db")
    assert result.rows_rewritten >= 12
    old = (corpus / name).read_bytes()
    new = (tmp_path / "out" / name).read_bytes()
    assert new.split(ending.encode())[0] == old.split(ending.encode())[0]  # the header, byte for byte
    read = lambda data: list(csv.reader(io.StringIO(data.decode("utf-8"), newline=""), delimiter=delimiter))  # noqa: E731
    old_rows, new_rows = read(old), read(new)
    assert len(old_rows) == len(new_rows)
    assert [r[:1] + r[2:] for r in old_rows] == [r[:1] + r[2:] for r in new_rows]
    changed = [i for i, (a, b) in enumerate(zip(old_rows, new_rows)) if a != b]
    assert len(changed) == result.rows_rewritten
    # every other row is the original's bytes, and an edited row's other cells too
    raw_old = [r.raw for r in tabular.csv_rows(iter(io.BytesIO(old)), name, delimiter)]
    raw_new = [r.raw for r in tabular.csv_rows(iter(io.BytesIO(new)), name, delimiter)]
    for i, (a, b) in enumerate(zip(raw_old, raw_new)):
        if i not in changed:
            assert a == b
        else:
            spans_a, spans_b = cell_spans(a.decode(), delimiter), cell_spans(b.decode(), delimiter)
            assert [a.decode()[x:y] for x, y in spans_a[:1] + spans_a[2:]] == [b.decode()[x:y] for x, y in spans_b[:1] + spans_b[2:]]
            assert a.endswith(ending.encode()) and b.endswith(ending.encode())
    assert_clean_scan_again(tmp_path / "out", tmp_path)


def test_clean_mark_copies_tables_and_lists_the_duplicates(tmp_path):
    corpus = shards(tmp_path / "c")
    scan(corpus, ScanConfig(workers=1), tmp_path / "db")
    result = clean_corpus(corpus, tmp_path / "out", tmp_path / "db", mark=True)
    assert result.listed > 12 and result.removed == 0 and result.files_written == 0
    for shard in corpus.glob("*.parquet"):
        assert (tmp_path / "out" / shard.name).read_bytes() == shard.read_bytes()


def test_clean_through_the_cli_reports_table_rows(tmp_path):
    (tmp_path / "in").mkdir()
    write_parquet(tmp_path / "in" / "a.parquet", RECORDS)
    result = invoke("clean", tmp_path / "in", "--out", tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert re.search(r"duplicate paragraphs removed; 1 file rewritten \(0 JSONL records, \d+ table rows\), 0 copied unchanged", result.output)
    assert (tmp_path / "out" / "a.parquet").exists()


def test_export_report_and_show_name_the_file_and_row(tmp_path):
    records = [{k: v for k, v in r.items() if k != "id"} for r in RECORDS]  # rows named FILE:N
    write_parquet(tmp_path / "a.parquet", records)
    assert invoke("scan", tmp_path / "a.parquet", "--db", tmp_path / "db", "-q").exit_code == 0
    result = invoke("export", tmp_path / "db", "--table", "pairs")
    pairs = [json.loads(line) for line in result.output.splitlines()]
    assert pairs and all(p["source"] == "a.parquet" and p["document"] == f"a.parquet:{p['record']}" for p in pairs)
    copy = next(p for p in pairs if p["document"] == f"a.parquet:{len(records)}")
    assert copy["canonical_document"].startswith("a.parquet:")
    result = invoke("show", tmp_path / "db", "--doc", f"a.parquet:{len(records)}", "--no-color")
    assert result.exit_code == 0 and f"Document a.parquet:{len(records)}:" in result.output and "copy" in result.output
    result = invoke("report", tmp_path / "db", "--out", tmp_path / "r.html")
    assert result.exit_code == 0, result.output
    assert "a.parquet:" in (tmp_path / "r.html").read_text(encoding="utf-8")


def test_an_update_reads_only_the_new_shard(tmp_path):
    corpus = tmp_path / "c"
    corpus.mkdir()
    write_parquet(corpus / "part-0.parquet", RECORDS[:40])
    scan(corpus, ScanConfig(workers=1), tmp_path / "db")
    write_parquet(corpus / "part-1.parquet", RECORDS[40:])
    result = scan(corpus, ScanConfig(workers=1), tmp_path / "db")
    assert result.counts["files_read"] == 1
    scan(corpus, ScanConfig(workers=1), tmp_path / "full.db")
    assert rows(tmp_path / "db", TABLES["members"].replace("*", "count(*)")) == rows(tmp_path / "full.db", TABLES["members"].replace("*", "count(*)"))
    assert rows(tmp_path / "db", "SELECT count(*) FROM documents") == [(len(RECORDS),)]


# -- the CSV row reader ---------------------------------------------------------------------------

cells = st.lists(st.text(alphabet=st.sampled_from('ab ,;\t"\r\n中'), max_size=8), min_size=1, max_size=5)


@given(st.lists(cells, min_size=1, max_size=6), st.sampled_from([",", ";", "\t"]), st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL]),
       st.sampled_from(["\r\n", "\n"]), st.data())
@derandomized(300)
def test_rows_are_the_csv_readers_and_one_cell_is_replaced_alone(table, delimiter, quoting, ending, data):
    out = io.StringIO()
    csv.writer(out, delimiter=delimiter, quoting=quoting, lineterminator=ending).writerows(table)
    raw = out.getvalue().encode("utf-8")
    found = list(tabular.csv_rows(iter(io.BytesIO(raw)), "t.csv", delimiter))
    assert b"".join(r.raw for r in found) == raw
    assert [r.cells for r in found] == list(csv.reader(io.StringIO(raw.decode(), newline=""), delimiter=delimiter))
    row = data.draw(st.sampled_from(found))
    if row.cells == [] or not isinstance(row.cells, list):
        return
    at = data.draw(st.integers(0, len(row.cells) - 1))
    value = data.draw(st.text(alphabet=st.sampled_from('xy ,;\t"\n'), max_size=6))
    text = row.raw.decode()
    replaced = tabular._replace_cell(text, delimiter, row.cells, at, value)
    assert next(csv.reader([replaced], delimiter=delimiter)) == row.cells[:at] + [value] + row.cells[at + 1 :]
    spans, new_spans = cell_spans(text, delimiter), cell_spans(replaced, delimiter)
    assert [text[a:b] for i, (a, b) in enumerate(spans) if i != at] == [replaced[a:b] for i, (a, b) in enumerate(new_spans) if i != at]


def test_csv_batches_give_rows_and_errors_in_order(tmp_path):
    (tmp_path / "t.csv").write_text('text\nok one\n"bad" x\nok two\n', encoding="utf-8")
    items = list(csv_batches(tmp_path / "t.csv", "t.csv", RecordFields()))
    assert [type(i).__name__ for i in items] == ["CsvBatch", "RecordError", "CsvBatch"]
    assert items[0].lines == (2,) and items[2].lines == (4,)
