"""JSONL, HTML and WARC inputs: documents, metadata, dates, and a clear error for every bad one."""

from __future__ import annotations

import gzip
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from dedup.apps.cli import cli
from dedup.config import ScanConfig
from dedup.sources.dispatch import iter_documents
from dedup.errors import CorpusError
from dedup.sources.records import RecordError, RecordFields, parse_date, parse_record, read_records
from dedup.pipeline import scan
from dedup.sources.webpage import html_to_text
from helpers import rows

SPEECH = [
    "各级党组织要切实履行疫情防控主体责任，坚决守住外防输入内防反弹的底线。",
    "今年以来我市经济运行总体平稳，工业生产稳中有进，消费市场逐步回暖。",
    "要加强基层党组织建设，把党员干部的积极性充分调动起来，形成工作合力。",
]


def jsonl(path: Path, records: list, gz: bool = False) -> Path:
    data = "".join((r if isinstance(r, str) else json.dumps(r, ensure_ascii=False)) + "\n" for r in records).encode("utf-8")
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


# -- JSONL records ---------------------------------------------------------------------------


def test_record_fields_id_date_and_metadata():
    line = json.dumps({"id": 7, "text": "a\r\nb", "published": "2021-03-04", "site": "x.cn"}).encode()
    doc = parse_record(line, "d.jsonl", 3, RecordFields(date="published"))
    assert (doc.path, doc.text, doc.source, doc.record, doc.date) == ("7", "a\nb", "d.jsonl", 3, "2021-03-04")
    assert json.loads(doc.meta) == {"id": 7, "published": "2021-03-04", "site": "x.cn"}


def test_record_without_id_is_named_by_file_and_line():
    doc = parse_record(b'{"text": "abc"}', "d.jsonl", 9, RecordFields())
    assert doc.path == "d.jsonl:9" and doc.meta is None


@pytest.mark.parametrize(
    "line, message",
    [
        (b'{"text": "abc"', "d.jsonl:4: not valid JSON"),
        (b'["text"]', "d.jsonl:4: a JSON list, not an object"),
        (b'{"body": "abc"}', "d.jsonl:4: no 'text' field; name the text field with --text-field"),
        (b'{"text": 5}', "d.jsonl:4: field 'text' is int, not a string"),
        ('{"text": "中文"}'.encode("gbk"), "d.jsonl:4: not UTF-8"),
        (b'{"text": "a", "date": "yesterday"}', "d.jsonl:4: field 'date' is 'yesterday', not an ISO 8601 date"),
        (b'{"text": "half an emoji \\ud83d"}', "d.jsonl:4: holds a lone surrogate escape"),
    ],
)
def test_bad_record_is_one_error_naming_file_and_line(line, message):
    with pytest.raises(RecordError) as caught:
        parse_record(line, "d.jsonl", 4, RecordFields(date="date"))
    assert str(caught.value).startswith(message)
    assert "\n" not in str(caught.value)


def test_blank_lines_are_passed_over_and_gzip_streams(tmp_path):
    path = jsonl(tmp_path / "d.jsonl.gz", [{"text": "one"}, "", "   ", {"text": "two"}], gz=True)
    docs = list(read_records(path, "d.jsonl.gz"))
    assert [(d.text, d.record) for d in docs] == [("one", 1), ("two", 4)]


def test_parse_date_forms():
    assert parse_date("2021-03-04T00:00:00+08:00") == parse_date("2021-03-03T16:00:00Z")
    assert parse_date(None) is None and parse_date("") is None
    for bad in ("2021-13-01", "soon", True, float("nan"), [2021]):
        with pytest.raises((ValueError, TypeError)):
            parse_date(bad)


def test_scan_of_jsonl_finds_copies_across_records_and_files(tmp_path):
    corpus = tmp_path / "c"
    corpus.mkdir()
    jsonl(corpus / "a.jsonl", [{"id": "a1", "text": "\n".join(SPEECH)}, {"id": "a2", "text": "无关的内容，完全不同的一段话，没有任何重复。"}])
    jsonl(corpus / "b.jsonl.gz", [{"text": SPEECH[1]}], gz=True)
    db = tmp_path / "d.db"
    scan(corpus, ScanConfig(workers=1), db)
    docs = rows(db, "SELECT path, source, record FROM documents ORDER BY id")
    assert docs == [("a1", "a.jsonl", 1), ("a2", "a.jsonl", 2), ("b.jsonl.gz:1", "b.jsonl.gz", 1)]
    clustered = rows(db, "SELECT d.path, p.line_start FROM paragraphs p JOIN documents d ON d.id = p.doc_id WHERE p.cluster_id IS NOT NULL ORDER BY p.id")
    assert clustered == [("a1", 2), ("b.jsonl.gz:1", 1)]


def test_bad_jsonl_line_stops_the_scan_or_is_skipped_and_counted(tmp_path):
    corpus = tmp_path / "c"
    corpus.mkdir()
    jsonl(corpus / "a.jsonl", [{"text": SPEECH[0]}, '{"text": broken', {"text": SPEECH[0]}])
    runner = CliRunner()
    result = runner.invoke(cli, ["scan", str(corpus), "--db", str(tmp_path / "d.db"), "-q"])
    assert result.exit_code == 1
    assert result.output.strip().splitlines()[-1].startswith("Error: a.jsonl:2: not valid JSON")
    result = runner.invoke(cli, ["scan", str(corpus), "--db", str(tmp_path / "d.db"), "-q", "--skip-bad"])
    assert result.exit_code == 0, result.output
    assert "warning: a.jsonl:2: not valid JSON" in result.output
    assert rows(tmp_path / "d.db", "SELECT count(*) FROM documents") == [(2,)]
    counts = json.loads(rows(tmp_path / "d.db", "SELECT counts FROM runs")[0][0])
    assert counts["skipped"] == 1


def test_text_field_option_and_missing_field_message(tmp_path):
    corpus = jsonl(tmp_path / "a.jsonl", [{"content": SPEECH[0]}, {"content": SPEECH[0]}])
    runner = CliRunner()
    result = runner.invoke(cli, ["scan", str(corpus), "--db", str(tmp_path / "d.db"), "-q"])
    assert result.exit_code == 1 and "a.jsonl:1: no 'text' field; name the text field with --text-field" in result.output
    result = runner.invoke(cli, ["scan", str(corpus), "--db", str(tmp_path / "d.db"), "-q", "--text-field", "content"])
    assert result.exit_code == 0, result.output
    assert rows(tmp_path / "d.db", "SELECT count(*) FROM members") == [(2,)]


def test_scan_reads_jsonl_from_stdin_with_workers(tmp_path):
    records = [{"id": f"r{i}", "text": SPEECH[i % 3]} for i in range(300)]
    data = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
    db = tmp_path / "d.db"
    done = subprocess.run(
        [sys.executable, "-m", "dedup", "scan", "-", "--db", str(db), "-q", "--workers", "2"],
        input=data.encode("utf-8"), capture_output=True, cwd=Path(__file__).resolve().parents[2],
    )
    assert done.returncode == 0, done.stderr.decode()
    assert rows(db, "SELECT count(*) FROM documents") == [(300,)]
    assert rows(db, "SELECT count(*), sum(size) FROM clusters") == [(3, 300)]
    assert rows(db, "SELECT root FROM runs") == [("-",)]


def test_empty_stdin_is_a_clear_error(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "dedup", "scan", "-", "--db", str(tmp_path / "d.db"), "-q"],
        input=b"", capture_output=True, cwd=Path(__file__).resolve().parents[2],
    )
    assert done.returncode == 1
    assert done.stderr.decode().strip().splitlines() == ["Error: no readable documents in -: every file or record was skipped (see the warnings above)"]


def test_broken_gzip_names_the_file(tmp_path):
    corpus = tmp_path / "c"
    corpus.mkdir()
    data = gzip.compress(("\n".join(json.dumps({"text": s}, ensure_ascii=False) for s in SPEECH * 50)).encode())
    (corpus / "a.jsonl.gz").write_bytes(data[: len(data) // 2])
    result = CliRunner().invoke(cli, ["scan", str(corpus), "--db", str(tmp_path / "d.db"), "-q"])
    assert result.exit_code == 1
    assert "Error: a.jsonl.gz: broken gzip stream" in result.output and "Traceback" not in result.output


# -- the earliest policy -----------------------------------------------------------------------


def test_earliest_dated_record_is_the_canonical_whatever_the_order(tmp_path):
    corpus = jsonl(
        tmp_path / "a.jsonl",
        [
            {"id": "late", "text": SPEECH[0], "when": "2022-05-01"},
            {"id": "undated", "text": SPEECH[0]},
            {"id": "early", "text": SPEECH[0], "when": 1577836800},  # 2020-01-01
        ],
    )
    db = tmp_path / "d.db"
    scan(corpus, ScanConfig(workers=1, canonical="earliest", date_field="when"), db)
    (path, why), = rows(db, "SELECT d.path, c.reason FROM clusters c JOIN paragraphs p ON p.id = c.canonical_id JOIN documents d ON d.id = p.doc_id")
    assert path == "early"
    assert why == "earliest: dated 2020-01-01 (early line 1); the next earliest member is dated 2022-05-01"
    scan(corpus, ScanConfig(workers=1, canonical="first", date_field="when"), db)
    assert rows(db, "SELECT d.path FROM clusters c JOIN paragraphs p ON p.id = c.canonical_id JOIN documents d ON d.id = p.doc_id") == [("late",)]


# -- HTML and WARC ---------------------------------------------------------------------------

PAGE = (
    "<html><head><title>t</title><style>p {{color: red}}</style><script>var x = '{0}';</script></head>"
    "<body><div class='nav'>首页 &gt; 范文</div><p>{0}</p><p>{1}</p></body></html>"
)


def test_html_text_keeps_blocks_and_drops_scripts_and_styles():
    text = html_to_text(PAGE.format(SPEECH[0], SPEECH[1]))
    lines = [line for line in text.splitlines() if line.strip()]
    assert lines[-2:] == [SPEECH[0], SPEECH[1]]
    assert "var x" not in text and "color" not in text and "首页 > 范文" in text


def test_html_files_are_scanned_as_their_text(tmp_path):
    corpus = tmp_path / "c"
    corpus.mkdir()
    (corpus / "a.html").write_text(PAGE.format(SPEECH[0], SPEECH[1]), encoding="utf-8")
    (corpus / "b.htm").write_bytes(PAGE.format(SPEECH[2], SPEECH[1]).encode("gb18030"))
    db = tmp_path / "d.db"
    scan(corpus, ScanConfig(workers=1), db)
    assert rows(db, "SELECT path, encoding FROM documents ORDER BY id") == [("a.html", "utf-8"), ("b.htm", "gb18030")]
    texts = [t for (t,) in rows(db, "SELECT text FROM paragraphs")]
    assert not any("<" in t or "var x" in t for t in texts)
    assert rows(db, "SELECT count(*) FROM clusters WHERE size = 2") >= [(1,)]


def write_warc(path: Path, pages: list[tuple[str, str, str]]) -> Path:
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    with open(path, "wb") as out:
        writer = WARCWriter(out, gzip=path.name.endswith(".gz"))
        writer.write_record(writer.create_warcinfo_record(path.name, {"software": "test"}))
        for uri, date, html in pages:
            headers = StatusAndHeaders("200 OK", [("Content-Type", "text/html; charset=utf-8")], protocol="HTTP/1.1")
            record = writer.create_warc_record(
                uri, "response", payload=io.BytesIO(html.encode("utf-8")), http_headers=headers,
                warc_headers_dict={"WARC-Date": date},
            )
            writer.write_record(record)
    return path


def test_warc_responses_are_documents_with_uri_and_date(tmp_path):
    corpus = tmp_path / "c"
    corpus.mkdir()
    write_warc(
        corpus / "crawl.warc.gz",
        [
            ("http://b.example/1", "2022-01-01T00:00:00Z", PAGE.format(SPEECH[0], SPEECH[1])),
            ("http://a.example/1", "2020-06-01T00:00:00Z", PAGE.format(SPEECH[2], SPEECH[0])),
        ],
    )
    docs = list(iter_documents(corpus))
    assert [(d.path, d.source, d.date) for d in docs] == [
        ("http://b.example/1", "crawl.warc.gz", "2022-01-01T00:00:00Z"),
        ("http://a.example/1", "crawl.warc.gz", "2020-06-01T00:00:00Z"),
    ]
    db = tmp_path / "d.db"
    scan(corpus, ScanConfig(workers=1, canonical="earliest"), db)
    canon = rows(db, "SELECT d.path FROM clusters c JOIN paragraphs p ON p.id = c.canonical_id JOIN documents d ON d.id = p.doc_id WHERE c.boilerplate = 0")
    assert ("http://a.example/1",) in canon and ("http://b.example/1",) not in canon


def test_a_file_that_is_not_a_warc_is_one_clear_error(tmp_path):
    corpus = tmp_path / "c"
    corpus.mkdir()
    (corpus / "x.warc").write_text("this is not a web archive\n" * 10)
    with pytest.raises(CorpusError) as caught:
        scan(corpus, ScanConfig(workers=1), tmp_path / "d.db")
    assert str(caught.value).startswith("x.warc: not a WARC file (it does not start with a WARC/1.x record)")


def test_a_broken_gzip_stream_gives_every_whole_line_before_the_break_whatever_the_batch(tmp_path):
    """What --skip-bad keeps of a damaged .jsonl.gz is what its message says (lines 1-N), not
    the full batches only: with small and large batches the same lines come out."""
    from dedup.sources.corpus import UnreadableFileError
    from dedup.sources.records import line_batches

    lines = b"".join(json.dumps({"text": f"第{i}行的文本内容。" * 5}, ensure_ascii=False).encode() + b"\n" for i in range(400))
    data = gzip.compress(lines, mtime=0)
    path = tmp_path / "a.jsonl.gz"
    path.write_bytes(data[: len(data) // 2])
    kept = {}
    for batch_bytes in (200, 10**6):
        got = []
        with pytest.raises(UnreadableFileError) as error:
            for batch in line_batches(path, "a.jsonl.gz", batch_bytes):
                assert batch.first_line == len(got) + 1
                got.extend(batch.lines)
        n = len(got)
        assert f"after line {n};" in str(error.value) and f"keep lines 1-{n}" in str(error.value)
        kept[batch_bytes] = got
    assert kept[200] == kept[10**6] and 0 < len(kept[200]) < 400
    assert all(line.endswith(b"\n") for line in kept[200])


@pytest.mark.parametrize(
    "line",
    [
        b'{"text": "half an emoji \\ud83d"}',  # an escape
        b'{"text": "half an emoji \xed\xa0\xbd"}',  # the surrogate's own UTF-8 bytes (json.loads passes them)
        '{"text": "half an emoji \ud83d"}'.encode("utf-16-le", "surrogatepass"),  # a UTF-16 line, read as such
    ],
)
def test_a_lone_surrogate_is_found_however_the_line_spells_it(line):
    """parse_record encodes a record again only when its line could hold a lone surrogate
    (records._surely_encodable); each way a line can spell one still stops it."""
    from dedup.sources.records import RecordError, RecordFields, parse_record

    with pytest.raises(RecordError, match="lone surrogate"):
        parse_record(line, "d.jsonl", 1, RecordFields())
