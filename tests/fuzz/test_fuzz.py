"""Fuzzing every input path (issue 9): generated corpora through ``dedup scan`` (text, HTML,
JSONL and WARC files, and files without a known suffix to sniff, of random bytes, broken and
mixed encodings, NUL bytes, damaged records and archives, odd file names), JSONL streams
through ``dedup scan -`` and ``dedup filter``, random bodies to the HTTP API, and hard cases
written out (a 50 MB line, deep folders, a path near PATH_MAX, symlink loops, FIFOs, files that
vanish or lose their permissions mid-scan).

The oracle everywhere: no traceback, ever. A command ends with exit 0, or with exit 1 and one
line ``Error: ...`` that names the file and the fix; every skipped file is warned about and
counted in the summary; the corpus is byte for byte as it was; a database written passes
SQLite's integrity check. The service answers every request with JSON and a 2xx or 4xx status.

Examples are derandomized (the same ones on every run, so CI cannot fail by chance); every
input tried is counted (``helpers.count_inputs`` -> test-artifacts/fuzz-counts.json).
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import io
import json
import os
import re
import shutil
import sqlite3
import stat
import subprocess
import sys
import tempfile
import traceback
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import event, given
from hypothesis import strategies as st

from helpers import SEEDS, as_nobody, count_inputs, derandomized, scanned_seeds
from dedup.apps.cli import cli

ROOT = Path(__file__).resolve().parents[2]


fuzz = derandomized


# -- what files are made of ----------------------------------------------------------------------

SAMPLES = [
    "各级党组织要切实履行疫情防控主体责任，坚决守住外防输入内防反弹的底线。",
    "各級黨組(zǔ)織要切實履行疫情防控主體責任，堅決守住外防輸入內防反彈的底線。",
    "今年以来我市经济运行总体平稳，工业生产稳中有进，消费市场逐步回暖。",
    "The quick brown fox jumps over the lazy dog, again and again and again.",
    "Ça va? Très bien, merci beaucoup à vous et à votre famille.",
    "同志们:",
    "xx同志在××会议上的讲话",
]
ENCODINGS = ["utf-8", "utf-8-sig", "gbk", "gb18030", "big5", "latin-1", "cp1252", "utf-16", "utf-16-le", "utf-16-be"]
BAD_BYTES = [b"\xff", b"\xfe", b"\xc3", b"\x80", b"\xed\xa0\x80", b"\xc0\xaf", b"\xf4\x90\x80\x80", b"\0", b"\r", b"\x1b", b"\xef\xbb\xbf", b"\xff\xfe", b"\x1f\x8b"]
WHITESPACE = " \t\r\n\x0b\x0c\u3000\xa0\u2028\x85"
CONTROLS = [chr(c) for c in range(32)] + ["\x7f", "\x85", "\ufeff", "\ufffe", "\uffff"]

lines = st.one_of(st.sampled_from(SAMPLES), st.text(max_size=60))
texts = st.tuples(st.lists(lines, max_size=8), st.sampled_from(["\n", "\r\n", "\r", "\n\n"])).map(lambda t: t[1].join(t[0]))


@st.composite
def encoded(draw, text=texts):
    """Text in one encoding, or pieces in several glued together (mixed encodings), a BOM or not."""
    pieces = draw(st.lists(st.tuples(text, st.sampled_from(ENCODINGS)), min_size=1, max_size=3))
    return b"".join(t.encode(codec, errors="replace") for t, codec in pieces)


@st.composite
def damaged(draw, inner):
    """Bytes of ``inner`` cut short, with bytes flipped, inserted (often invalid UTF-8) or deleted."""
    data = bytearray(draw(inner))
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["cut", "flip", "insert", "delete"]))
        at = draw(st.integers(0, len(data)))
        if op == "cut":
            del data[at:]
        elif op == "flip" and at < len(data):
            data[at] = draw(st.integers(0, 255))
        elif op == "insert":
            data[at:at] = draw(st.one_of(st.sampled_from(BAD_BYTES), st.binary(min_size=1, max_size=8)))
        elif op == "delete":
            del data[at : at + draw(st.integers(1, 64))]
    return bytes(data)


@st.composite
def with_nul(draw):
    """A NUL byte somewhere in text: in the first 8 KiB a binary file, later just a character."""
    data = draw(encoded())
    at = draw(st.integers(0, len(data)))
    return draw(st.sampled_from([b"", b"x" * 9000])) + data[:at] + b"\0" + data[at:]


whitespace_only = st.tuples(st.text(WHITESPACE, max_size=20), st.sampled_from(ENCODINGS)).map(lambda t: t[0].encode(t[1], errors="replace"))
text_files = st.one_of(encoded(), damaged(encoded()), with_nul(), whitespace_only, st.just(b""), st.binary(max_size=2000))

HTML_TOKENS = [
    "<p>", "</p>", "<div>", "</div>", "<br>", "<br/>", "<li>", "<table><tr><td>", "<title>", "</title>",
    "<html>", "<body>", "</body>", "</html>", "<!DOCTYPE html>", "<?xml version='1.0' encoding='utf-8'?>",
    "<script>var a = 1 < 2;</script>", "<style>p { color: red }</style>", "<!--", "-->", "<![CDATA[", "]]>",
    "<meta charset='gbk'>", "<meta http-equiv='Content-Type' content='text/html; charset=big5'>",
    "&amp;", "&lt;", "&#0;", "&#x110000;", "&#xD800;", "&nbsp;", "&bogus;", "<", ">", "&", "<a href='\x00'>",
    "<p class=\"", "<svg><text>x</text></svg>", "<template>t</template>", "<noscript>n</noscript>",
]
html_texts = st.lists(st.one_of(st.sampled_from(HTML_TOKENS), st.sampled_from(SAMPLES), st.sampled_from(CONTROLS), st.text(max_size=10)), max_size=30).map("".join)
html_bytes = encoded(html_texts)
html_files = st.one_of(html_bytes, damaged(html_bytes), st.binary(max_size=1000))

# JSONL: records of every shape, and lines no reader expects
json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20) | st.sampled_from(SAMPLES)
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3), max_leaves=10)
dates = st.one_of(
    st.sampled_from(["2021-03-04", "2021-03-04T08:00:00Z", "2021-13-45", "yesterday", "", "9999-12-31T23:59:59+14:00", "0001-01-01", "1e400", "nan", "-inf", "1614816000"]),
    st.integers(),
    st.floats(),
    json_values,
)
records = st.tuples(
    st.fixed_dictionaries({}, optional={"text": texts | json_values, "id": json_values, "date": dates, "body": texts}),
    st.dictionaries(st.text(max_size=6), json_values, max_size=3),
).map(lambda t: t[1] | t[0])
SPECIAL_LINES = [
    b'{"text": "a", "n": ' + b"9" * 5000 + b"}",  # past Python's int-from-string limit
    b'{"text": 1' + b"0" * 5000 + b"}",
    b'{"id": ' + b"9" * 4000 + b', "text": "a big id, within the limit"}',
    b'{"text": "half \\ud800 a pair"}',
    b'{"text": "a", "meta": {"k": "\\udfff"}}',
    b'{"text": NaN}',
    b'{"text": "nan and infinities", "n": NaN, "m": -Infinity}',
    b"{", b"}", b"", b"   ", b"\t", b"null", b"[]", b'"text"', b"1e999", b"\x00\x00",
    b"\xef\xbb\xbf" + b'{"text": "a BOM at the start of a line"}',
    b'{"text": "twice", "text": 5}',
    b'{"text": "a\\u0000b \\u2028 \\u0085 \\r c"}',
    b'{"text": "\xff\xfe not UTF-8"}',
    b'{"text": "' + "很".encode() * 300 + b'"}',
    b'{"text": "abc"} trailing',
]
deep_lines = st.sampled_from([10, 500, 980, 990, 995, 1000, 2000, 100_000]).map(
    lambda depth: b'{"text": "deep", "x": ' + b"[" * depth + b"]" * depth + b"}"
)
good_lines = st.lists(st.sampled_from(SAMPLES), min_size=1, max_size=3).map(lambda texts: json.dumps({"text": "\n".join(texts)}, ensure_ascii=False).encode())
jsonl_lines = st.one_of(
    good_lines,  # copies of each other, so that records get rewritten
    records.map(lambda r: json.dumps(r, ensure_ascii=False).encode("utf-8")),
    records.map(lambda r: json.dumps(r).encode("ascii")),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.sampled_from(SPECIAL_LINES),
    deep_lines,
    st.binary(max_size=40),
)


class Jsonl(bytes):
    """The bytes of a JSONL file or stream, which know how many lines they were made of."""

    lines = 0


@st.composite
def jsonl_files(draw, gz: bool) -> Jsonl:
    lines_ = draw(st.lists(jsonl_lines, max_size=8))
    ending = draw(st.sampled_from([b"\n", b"\r\n"]))
    data = b"".join(line + ending for line in lines_)
    if lines_ and draw(st.booleans()):
        data = data[: -len(ending)]  # no newline after the last line
    if gz:
        data = gzip.compress(data, mtime=0)
    cut = st.integers(0, len(data)).map(lambda n: data[:n])  # a download that stopped
    made = Jsonl(draw(st.one_of(st.just(data), damaged(st.just(data)), cut, st.binary(max_size=500))))
    made.lines = len(lines_)
    return made


@st.composite
def warc_files(draw, gz: bool):
    """A WARC file written by warcio (responses and other records, odd headers), often damaged."""
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    buf = io.BytesIO()
    writer = WARCWriter(buf, gzip=gz)
    for n in range(draw(st.integers(0, 4))):
        rec_type = draw(st.sampled_from(["response", "response", "request", "resource", "metadata", "revisit"]))
        content_type = draw(st.sampled_from(["text/html; charset=utf-8", "text/html", "TEXT/HTML; charset=gbk", "text/plain", "application/octet-stream", ""]))
        headers = [("Content-Type", content_type)]
        headers += draw(st.sampled_from([[], [("Content-Encoding", "gzip")], [("Transfer-Encoding", "chunked")], [("Content-Length", "99999")]]))
        http_headers = StatusAndHeaders("200 OK", headers, protocol="HTTP/1.0") if rec_type in ("response", "request", "revisit") else None
        uri = draw(st.sampled_from(["http://example.com/a", "http://例子.cn/页面", "", "no-scheme", "http://x.cn/\x85"]))
        payload = draw(html_bytes)
        fixed = {"WARC-Date": "2021-03-04T08:00:00Z", "WARC-Record-ID": f"<urn:uuid:00000000-0000-0000-0000-{n:012d}>"}  # the same bytes every run
        writer.write_record(writer.create_warc_record(uri, rec_type, payload=io.BytesIO(payload), http_headers=http_headers, warc_headers_dict=fixed))
    data = buf.getvalue()
    return draw(st.one_of(st.just(data), damaged(st.just(data)), damaged(st.just(data)), st.binary(max_size=500)))


KINDS = {
    "text": ([".txt", ".md", ".TXT"], lambda suffix: text_files),
    "HTML": ([".html", ".htm", ".xhtml"], lambda suffix: html_files),
    "JSONL": ([".jsonl", ".ndjson", ".jsonl.gz"], lambda suffix: jsonl_files(suffix.endswith(".gz"))),
    "WARC": ([".warc", ".warc.gz"], lambda suffix: warc_files(suffix.endswith(".gz"))),
    "sniffed": (["", ".txt~", ".Debian"], lambda suffix: st.one_of(text_files, html_files)),  # no suffix dedup knows
    "ignored": ([".bin", ".json", ".PNG"], lambda suffix: st.binary(max_size=200)),  # named as not text: never read
}
NAMES = [b"a", b"b", "文件".encode(), b"sub/c", b"sub/deep/d", "空 格".encode(), b"x" * 200, "ü".encode(), b".hidden", b"sub/.h/e", b"tab\there", b"new\nline", b"-"]
BAD_NAMES = [b"\xff", "文件".encode("gbk"), b"caf\xe9", b"sub\xff/f"]  # not UTF-8


@st.composite
def corpora(draw) -> dict[bytes, tuple[str, bytes]]:
    """{relative path (bytes): (kind, content)}: 1-5 files of every kind, and often a good one
    (so that the scan has something to match, and a bad file is not alone)."""
    files = {}
    if draw(st.integers(0, 3)):
        files[b"good.txt"] = ("text", "\n".join(draw(st.lists(st.sampled_from(SAMPLES), min_size=1, max_size=5))).encode())
    for i in range(draw(st.integers(1, 5))):
        kind = draw(st.sampled_from(list(KINDS)))
        suffixes, content = KINDS[kind]
        suffix = draw(st.sampled_from(suffixes))
        name = draw(st.sampled_from(NAMES + BAD_NAMES))
        files[name + b"-%d" % i + suffix.encode()] = (kind, draw(content(suffix)))
    return files


# -- running a command and judging it ------------------------------------------------------------


@pytest.fixture(scope="module", autouse=True)
def small_batches():
    """JSONL cut into batches of a few lines, and the filter's batches of two records, so that
    small inputs take the paths of large ones (a record error in a later batch, a gzip stream
    that breaks after some batches were stored)."""
    import dedup.apps.filter
    import dedup.sources.records

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(dedup.sources.records, "BATCH_BYTES", 100)
        patch.setattr(dedup.apps.filter, "BATCH_RECORDS", 2)
        yield


FIX_WORDS = ("--skip-bad", "convert", "rename", "remove", "fix", "repair", "dedup reads", "see the warnings")


def write_files(root: Path, files: dict[bytes, tuple[str, bytes]]) -> None:
    base = os.fsencode(root)
    for rel, (_, data) in files.items():
        path = base + b"/" + rel
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)


def snapshot(root: Path) -> dict[bytes, str]:
    """Every entry below ``root``: SHA-1 of a file, the target of a symlink, 'dir' for a folder."""
    seen = {}
    for folder, dirnames, filenames in os.walk(os.fsencode(root)):
        for name in dirnames + filenames:
            path = os.path.join(folder, name)
            mode = os.lstat(path).st_mode
            if stat.S_ISLNK(mode):
                seen[path] = "-> " + os.fsdecode(os.readlink(path))
            elif stat.S_ISREG(mode):
                seen[path] = hashlib.sha1(open(path, "rb").read()).hexdigest()
            else:
                seen[path] = "dir" if stat.S_ISDIR(mode) else oct(mode)
    return seen


def shown_names(root: Path) -> set[str]:
    """Every name an error may give: the root, and each file and folder below it relative to it
    (a name that is not UTF-8 with its bytes escaped, a control character escaped)."""
    names = {str(root), "-"}
    for path in snapshot(root):
        rel = os.path.relpath(path, os.fsencode(root)).decode("utf-8", "backslashreplace")
        names |= {rel, re.sub("[\x00-\x1f\x7f-\x9f]", lambda m: repr(m.group())[1:-1], rel)}
    return names


def invoke(args: list[str], stdin: bytes | None = None):
    return CliRunner().invoke(cli, args, input=stdin)


def check_no_crash(result) -> None:
    """Exit 0 or 1, never a traceback; an exit 1 says one line on stderr, besides warnings."""
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError("crashed:\n" + "".join(traceback.format_exception(*result.exc_info)))
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout
    assert result.exit_code in (0, 1), (result.exit_code, result.stderr)
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    if result.exit_code == 1:
        rest = [line for line in result.stderr.splitlines() if not line.startswith(("Error:", "warning:"))]
        assert len(errors) == 1 and rest == [], result.stderr
    else:
        assert errors == [], result.stderr


def check_scan(result, root: Path, db: Path, names: set[str]) -> int | None:
    """The scan oracle (see the module docstring); returns the number of skipped files (exit 0)."""
    check_no_crash(result)
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    if result.exit_code == 1:
        error = result.stderr.splitlines()[-1]
        assert any(name in error for name in names), f"names no file: {error}"
        assert any(word in error for word in FIX_WORDS), f"names no fix: {error}"
        return None
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        skipped = json.loads(conn.execute("SELECT skipped FROM runs ORDER BY id DESC LIMIT 1").fetchone()[0])
        documents = conn.execute("SELECT count(*) FROM documents").fetchone()[0]
    finally:
        conn.close()
    summary = re.search(r"^  documents +([\d,]+)(?:   \(([\d,]+) skipped\))?$", result.stdout, re.M)
    assert summary, result.stdout
    assert int(summary[1].replace(",", "")) == documents
    shown_skipped = int((summary[2] or "0").replace(",", ""))
    assert shown_skipped == len(skipped) == len(warnings), (result.stdout, result.stderr, skipped)
    return shown_skipped


def scan_cli(root: Path, db: Path, *options: str):
    result = invoke(["scan", str(root), "--db", str(db), "--workers", "1", *options])
    check_no_crash(result)
    return result


def count_jsonl(kind: str, data: bytes) -> None:
    count_inputs(kind)
    if isinstance(data, Jsonl):
        count_inputs("JSONL lines (in files and streams)", data.lines)


def dedup_process(*args: str, stdin: bytes | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    """The real ``dedup`` command in a process of its own (workers, console entry point): where a
    traceback or a hang would show. Fails after ``timeout`` seconds."""
    return subprocess.run([sys.executable, "-m", "dedup", *args], input=stdin, capture_output=True, timeout=timeout, cwd=ROOT)


def check_process(done: subprocess.CompletedProcess, code: int, error: str | None = None) -> None:
    stderr = done.stderr.decode("utf-8", "replace")
    assert b"Traceback" not in done.stderr and done.returncode == code, (done.returncode, stderr)
    if error is not None:
        assert stderr.splitlines()[-1] == error, stderr


OPTIONS = [[], ["--split", "lines"], ["--split", "blocks"], ["--split", "join"], ["--text-field", "body"],
           ["--id-field", "text"], ["--date-field", "date", "--canonical", "earliest"], ["--canonical", "longest"]]


# -- dedup scan of generated corpora -------------------------------------------------------------


@fuzz(1200)
@given(first=corpora(), second=corpora(), options=st.sampled_from(OPTIONS), keep=st.integers(0, 5))
def test_scan_of_any_corpus_fails_cleanly_or_counts_what_it_skipped(first, second, options, keep):
    """Each corpus is scanned without --skip-bad, then with it, then updated (some files
    replaced by those of a second corpus, some deleted) and scanned again."""
    with tempfile.TemporaryDirectory() as tmp:
        root, db = Path(tmp, "corpus"), Path(tmp, "d.db")
        write_files(root, first)
        before, names = snapshot(root), shown_names(root)
        for kind, data in first.values():
            count_jsonl(f"scan: {kind} files", data)
        count_inputs("scan: corpora")
        strict = invoke(["scan", str(root), "--db", str(db), "--workers", "1", *options])
        check_scan(strict, root, db, names)
        lenient = invoke(["scan", str(root), "--db", str(db), "--workers", "1", "--skip-bad", "--full", *options])
        skipped = check_scan(lenient, root, db, names)
        event(f"exit {strict.exit_code} without --skip-bad, {lenient.exit_code} with it")
        event(f"{skipped} skipped" if skipped is not None else "nothing readable")
        assert snapshot(root) == before, "the scan changed the corpus"
        if strict.exit_code == 0:  # nothing stopped it: no more skipped than binary files
            assert lenient.exit_code == 0
        if lenient.exit_code != 0:
            return
        assert skipped >= len(re.findall("^warning:", strict.stderr, re.M))
        # the corpus written again without its duplicates, from that scan
        count_inputs("clean: corpora")
        cleaned = invoke(["clean", str(root), "--out", str(Path(tmp, "out")), "--db", str(db)])
        check_no_crash(cleaned)
        event(f"clean: exit {cleaned.exit_code}")
        assert snapshot(root) == before, "the clean changed the corpus"
        # an update: some files replaced, some removed, new ones added
        for rel in list(first)[keep:]:
            os.remove(os.fsencode(root) + b"/" + rel)
        write_files(root, dict(list(second.items())[keep:]))
        for kind, data in list(second.values())[keep:]:
            count_jsonl(f"scan: {kind} files", data)
        count_inputs("scan: corpora updated")
        before, names = snapshot(root), shown_names(root)
        updated = invoke(["scan", str(root), "--db", str(db), "--workers", "1", "--skip-bad", *options])
        check_scan(updated, root, db, names)
        assert snapshot(root) == before, "the update changed the corpus"


@fuzz(20)
@given(files=corpora(), skip_bad=st.booleans())
def test_scan_with_worker_processes_from_the_console(files, skip_bad):
    """The same through the console entry point and two worker processes (an error raised in a
    worker travels back pickled), where a traceback would really be printed."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp, "corpus")
        write_files(root, files)
        count_inputs("scan: corpora in a process of its own, 2 workers")
        done = dedup_process("scan", str(root), "--db", str(Path(tmp, "d.db")), "--workers", "2", *["--skip-bad"] * skip_bad)
        stderr = done.stderr.decode()
        assert "Traceback" not in stderr and done.returncode in (0, 1), stderr
        errors = [line for line in stderr.splitlines() if not line.startswith("warning: ")]
        assert [line[:7] for line in errors] == ["Error: "] * done.returncode, stderr


# -- JSONL streams: dedup scan - and dedup filter ------------------------------------------------


streams = st.one_of(jsonl_files(gz=False), st.binary(max_size=500))  # JSONL, or any bytes at all


@fuzz(600)
@given(stream=streams, skip_bad=st.booleans(), options=st.sampled_from(OPTIONS))
def test_scan_of_stdin_fails_cleanly_or_counts_what_it_skipped(stream, skip_bad, options):
    count_jsonl("stdin: streams to dedup scan -", stream)
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp, "d.db")
        result = invoke(["scan", "-", "--db", str(db), "--workers", "1", *options] + ["--skip-bad"] * skip_bad, stdin=stream)
        check_scan(result, Path("-"), db, {"-"})
        event(f"exit {result.exit_code}")


@fuzz(1000)
@given(stream=streams, skip_bad=st.booleans(), mark=st.booleans())
def test_filter_passes_every_line_or_stops_at_a_bad_one(stream, skip_bad, mark):
    """Every line comes out, unchanged or as a record with its text (or mark) rewritten; a bad
    line stops the filter with its line number, or passes through under --skip-bad."""
    count_jsonl("filter: streams", stream)
    result = invoke(["filter"] + ["--skip-bad"] * skip_bad + ["--mark"] * mark, stdin=stream)
    check_no_crash(result)
    event(f"exit {result.exit_code}")
    lines_in = stream.split(b"\n")
    lines_out = result.stdout_bytes.split(b"\n")
    if result.exit_code == 1:
        assert not skip_bad and re.match(r"Error: -:\d+: ", result.stderr), result.stderr
        assert len(lines_out) <= len(lines_in)
        return
    extra = len(lines_out) - len(lines_in)  # a rewritten last line gets its line break
    assert extra == 0 or (extra == 1 and not stream.endswith(b"\n") and lines_out[-1] == b"")
    event(f"exit 0, {sum(a != b for a, b in zip(lines_in, lines_out))} lines rewritten")
    for before, after in zip(lines_in, lines_out):
        if before.rstrip(b"\r") != after.rstrip(b"\r"):
            record = json.loads(after)
            assert isinstance(record, dict) and (mark or set(record) == set(json.loads(before)))


# -- the HTTP API --------------------------------------------------------------------------------

MAX_BODY = 20_000  # the fuzzed server's --max-body: bodies near it are cheap to make


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """``dedup serve`` on a scan of two seed files, for real on a loopback port; at the end its
    stderr must hold no traceback and its database must be intact."""
    from helpers import TOKEN, Server

    _, db = scanned_seeds(tmp_path_factory.mktemp("served"), sorted(SEEDS.iterdir())[:2])
    served = Server(db, token=TOKEN, max_body=MAX_BODY)
    served.token = TOKEN
    yield served
    served.stop()
    stderr = served.output()
    assert "Traceback" not in stderr and "Exception" not in stderr, stderr
    assert sqlite3.connect(db).execute("PRAGMA integrity_check").fetchone() == ("ok",)


def send(server, method: str, path: str, body: bytes | None, headers: dict) -> tuple[int, object]:
    """One raw request: (status, the body as JSON); fails when the body is not JSON."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    try:
        conn.putrequest(method, path, skip_accept_encoding=True)
        for name, value in headers.items():
            conn.putheader(name, value)
        if body is not None:
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        response = conn.getresponse()
        status, data = response.status, response.read()
    finally:
        conn.close()
    try:
        return status, json.loads(data)
    except ValueError:
        raise AssertionError(f"{status}: not JSON: {data[:200]!r}") from None


def near_limit(filler: str, offset: int) -> bytes:
    """A JSON body of one long text, ``offset`` bytes from the server's limit."""
    head, tail = b'{"text": "', b'"}'
    unit = filler.encode()
    n = max(0, (MAX_BODY + offset - len(head) - len(tail)) // len(unit))
    return head + unit * n + tail


valid_bodies = st.fixed_dictionaries(
    {"text": texts | st.lists(st.sampled_from(SAMPLES), min_size=1, max_size=4).map("\n".join)},
    optional={"id": st.text(min_size=1, max_size=20), "date": st.sampled_from(["2021-03-04", "1614816000"]), "meta": st.dictionaries(st.text(max_size=5), json_values, max_size=3)},
).map(lambda body: json.dumps(body, ensure_ascii=False).encode())
bodies = st.one_of(
    valid_bodies,
    valid_bodies,
    st.binary(max_size=300),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.fixed_dictionaries({"text": texts | json_values}, optional={"id": json_values | st.text(max_size=600), "date": dates, "meta": json_values})
    .map(lambda body: json.dumps(body, ensure_ascii=False).encode()),
    damaged(st.fixed_dictionaries({"text": texts}).map(lambda body: json.dumps(body, ensure_ascii=False).encode())),
    st.tuples(st.sampled_from(BAD_BYTES), texts).map(lambda t: b'{"text": "' + t[1].encode() + t[0] + b'"}'),  # not UTF-8
    st.sampled_from([b'{"text": "\\ud800"}', b'{"text": "a", "id": "\\udfff"}', b'{"text": "a", "meta": {"k": "\\ud83d"}}', b"", b"null",
                     b'{"text": 1e999}', b'{"text": "a", "date": 1e999}', b'{"text": "a", "id": ""}', b'{"text": "a", "meta": []}']),
    st.sampled_from(['a', '字', '\\u5b57', ' ']).flatmap(lambda filler: st.integers(-50, 50).map(lambda offset: near_limit(filler, offset))),
    deep_lines,
    st.just(b'{"text": "a", "n": ' + b"9" * 5000 + b"}"),
)
content_types = st.sampled_from(["application/json"] * 4 + ["application/json; charset=latin-1", "text/plain", "multipart/form-data; boundary=x", None])


@fuzz(1500)
@given(path=st.sampled_from(["/query", "/query", "/documents"]), body=bodies, content_type=content_types,
       auth=st.sampled_from(["right", "right", "wrong", "none", "latin-1"]))
def test_the_service_answers_any_body_with_json_and_no_500(server, path, body, content_type, auth):
    headers = {"Content-Type": content_type} if content_type else {}
    headers |= {"right": {"Authorization": f"Bearer {server.token}"}, "wrong": {"Authorization": "Bearer nope"},
                "none": {}, "latin-1": {"Authorization": b"Bearer \xff\xfe"}}[auth]
    count_inputs(f"http: POST {path} bodies")
    status, answer = send(server, "POST", path, body, headers)
    event(f"{path}: {status}" + (f" {answer['error'][:40]}" if status >= 400 and isinstance(answer, dict) and isinstance(answer.get("error"), str) else ""))
    assert 200 <= status < 500, (status, answer)
    if status >= 400:
        assert isinstance(answer, dict) and isinstance(answer.get("error"), str) and "\n" not in answer["error"], answer
    if len(body) > MAX_BODY:
        assert status == 413


@fuzz(300)
@given(kind=st.sampled_from(["clusters", "documents", "paragraphs"]), ident=st.one_of(st.integers(), st.text(min_size=1, max_size=30)))
def test_the_service_answers_any_id_with_json_and_no_500(server, kind, ident):
    from urllib.parse import quote

    count_inputs("http: GET ids")
    status, answer = send(server, "GET", f"/{kind}/{quote(str(ident), safe='')}", None, {})
    assert status in (200, 404, 422), (status, answer)


# -- hard cases, written out ---------------------------------------------------------------------


def test_a_50_mb_single_line(tmp_path):
    """One file, one line of 50 MB (Chinese and Latin, no line break): one document of one
    paragraph, read by worker processes, with a copy of a piece of it found in another file."""
    count_inputs("hard cases: a 50 MB single line")
    root = tmp_path / "c"
    root.mkdir()
    unit = ("".join(SAMPLES) + " ").encode()
    line = (unit * ((50 << 20) // len(unit) + 1))[: 50 << 20]
    line = line[: len(line.decode("utf-8", "ignore").encode())]  # whole characters
    (root / "one-line.txt").write_bytes(line)
    (root / "small.txt").write_text(SAMPLES[0] + "\n", encoding="utf-8")
    done = dedup_process("scan", str(root), "--db", str(tmp_path / "d.db"), "--workers", "2")
    check_process(done, 0)
    assert re.search(rb"documents +2\n  paragraphs +2\n", done.stdout), done.stdout
    assert sqlite3.connect(tmp_path / "d.db").execute("SELECT max(char_end) FROM paragraphs").fetchone()[0] == len(line.decode())


def test_200_levels_of_folders_and_a_path_near_path_max(tmp_path):
    """A file 200 folders down is read, and so is one whose path is a few bytes short of
    PATH_MAX; a folder past PATH_MAX cannot be listed: one line naming it, or skipped."""
    count_inputs("hard cases: 200 levels of folders")
    count_inputs("hard cases: a path near PATH_MAX")
    root = tmp_path / "c"
    deep = root.joinpath(*["d"] * 200)
    deep.mkdir(parents=True)
    (deep / "deep.txt").write_text(SAMPLES[0] + "\n", encoding="utf-8")
    (root / "top.txt").write_text(SAMPLES[0] + "\n", encoding="utf-8")
    limit = os.pathconf(root, "PC_PATH_MAX")  # 4096 on Linux, counting the final NUL
    name = "n" * 250
    levels = (limit - 1 - len(str(root)) - len("/long/x.txt")) // (len(name) + 1)
    near = root.joinpath("long", *[name] * levels)
    near.mkdir(parents=True)
    filler = limit - 1 - len(str(near)) - len("/.txt")
    (near / ("x" * filler + ".txt")).write_text(SAMPLES[1] + "\n", encoding="utf-8")
    assert len(str(near / ("x" * filler + ".txt"))) == limit - 1
    result = scan_cli(root, tmp_path / "d.db")
    assert result.exit_code == 0, result.stderr
    paths = {p for (p,) in sqlite3.connect(tmp_path / "d.db").execute("SELECT path FROM documents")}
    assert paths == {"top.txt", "d/" * 200 + "deep.txt", str(near.relative_to(root) / ("x" * filler + ".txt"))}
    assert "  clusters                       1" in result.stdout  # the deep copy and the top one
    # past PATH_MAX: made relative to an open folder, as no path can name it
    fd = os.open(near, os.O_RDONLY)
    try:
        os.mkdir(name, dir_fd=fd)
        inner = os.open(name, os.O_RDONLY, dir_fd=fd)
        os.close(os.open("far.txt", os.O_CREAT | os.O_WRONLY, dir_fd=inner))
        os.close(inner)
    finally:
        os.close(fd)
    result = scan_cli(root, tmp_path / "e.db")
    assert result.exit_code == 1 and "cannot read (File name too long)" in result.stderr, result.stderr
    assert scan_cli(root, tmp_path / "e.db", "--skip-bad").stdout.count("(1 skipped)") == 1


def test_symlink_loops_broken_symlinks_and_fifos(tmp_path):
    """A folder linked to its parent and to the root is not entered; a file symlink that loops
    or points nowhere and a FIFO are bad files: one line, or skipped. Nothing hangs."""
    for case in ("symlink loops", "broken symlinks", "FIFOs"):
        count_inputs(f"hard cases: {case}")
    root = tmp_path / "c"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "a.txt").write_text(SAMPLES[0] + "\n", encoding="utf-8")
    (root / "sub" / "parent").symlink_to("..")
    (root / "sub" / "root").symlink_to(root)
    (root / "loop.txt").symlink_to("loop.txt")
    (root / "broken.txt").symlink_to("nowhere.txt")
    for name in ("pipe.txt", "pipe.jsonl", "pipe.warc"):  # each kind of file is opened its own way
        os.mkfifo(root / name)
    before = snapshot(root)
    done = dedup_process("scan", str(root), "--db", str(tmp_path / "d.db"), timeout=60)
    check_process(done, 1, "Error: broken.txt: cannot read (No such file or directory); fix its permissions, or pass --skip-bad to skip such files")
    done = dedup_process("scan", str(root), "--db", str(tmp_path / "d.db"), "--skip-bad", timeout=60)
    check_process(done, 0)
    assert b"(5 skipped)" in done.stdout
    assert done.stderr.decode().splitlines() == [
        "warning: broken.txt: cannot read (No such file or directory); fix its permissions, or pass --skip-bad to skip such files",
        "warning: loop.txt: cannot read (Too many levels of symbolic links); fix its permissions, or pass --skip-bad to skip such files",
        "warning: pipe.jsonl: cannot read (not a regular file); remove it, or pass --skip-bad to skip such files",
        "warning: pipe.txt: cannot read (not a regular file); remove it, or pass --skip-bad to skip such files",
        "warning: pipe.warc: cannot read (not a regular file); remove it, or pass --skip-bad to skip such files",
    ]
    assert snapshot(root) == before


def test_empty_and_whitespace_only_files(tmp_path):
    """Files with nothing to read are documents without paragraphs, in every format, and an
    update from them to text and back."""
    count_inputs("hard cases: empty and whitespace-only files")
    root = tmp_path / "c"
    spaces = " \t\r\n\x0b\x0c\u3000\xa0\u2028\x85\n"
    files = {f"ws-{codec}.txt".encode(): ("text", spaces.encode(codec)) for codec in ("utf-8", "utf-8-sig", "utf-16", "gb18030")}
    files |= {b"empty.txt": ("text", b""), b"empty.html": ("HTML", b""), b"ws.html": ("HTML", spaces.encode()),
              b"empty.jsonl": ("JSONL", b""), b"blank.jsonl": ("JSONL", b"\n \n\t\r\n"), b"empty.warc": ("WARC", b""),
              b"empty.jsonl.gz": ("JSONL", gzip.compress(b"", mtime=0))}
    write_files(root, files)
    db = tmp_path / "d.db"
    for step in ("empty", "text", "empty again"):
        result = scan_cli(root, db, "--skip-bad")
        assert result.exit_code == 0, (step, result.stderr)
        assert sqlite3.connect(db).execute("PRAGMA integrity_check").fetchone() == ("ok",)
        write_files(root, {b"empty.txt": ("text", SAMPLES[0].encode() if step == "empty" else b"")})
    result = scan_cli(root, db, "--skip-bad", "--full")
    # three JSONL files without a record; an empty file is no WARC file; and GB18030 is told
    # from Big5 by its Chinese characters, which a file of spaces lacks
    assert re.search(rf"documents +{len(files) - 3 - 2}   \(2 skipped\)\n", result.stdout), result.stdout
    assert [line.split(":")[1] for line in result.stderr.splitlines()] == [" empty.warc", " ws-gb18030.txt"]


def _vanish_and_lock(monkeypatch, root: Path, vanish: list[str], lock: list[str]) -> None:
    """After the scan lists the corpus, delete ``vanish`` and take every permission from ``lock``
    (files or folders), as if another process did so while the scan ran."""
    import dedup.pipeline

    listed = dedup.pipeline.list_files

    def list_then_change(*args, **kwargs):
        files = listed(*args, **kwargs)
        for rel in vanish:
            path = root / rel
            shutil.rmtree(path) if path.is_dir() else path.unlink()
        for rel in lock:
            (root / rel).chmod(0)
        return files

    monkeypatch.setattr(dedup.pipeline, "list_files", list_then_change)


@pytest.mark.parametrize("update", [False, True], ids=["scan", "update"])
def test_files_that_vanish_during_a_scan(tmp_path, monkeypatch, update):
    """Files of every kind and a folder deleted between the listing and the reading (a
    monkeypatched listing deletes them): one line naming the first, or each skipped and counted."""
    count_inputs("hard cases: files that vanish during a scan" + (" (update)" if update else ""))
    root = tmp_path / "c"
    gone = {b"gone.txt": ("text", SAMPLES[0].encode()), b"gone.html": ("HTML", b"<p>x</p>"), b"gone.jsonl": ("JSONL", b'{"text": "x"}\n'),
            b"gone.warc": ("WARC", b"WARC/1.0\r\n"), b"folder/x.txt": ("text", b"x")}
    write_files(root, {b"a.txt": ("text", SAMPLES[0].encode())} | (gone if update else {}))
    db = tmp_path / "d.db"
    if update:
        assert scan_cli(root, db, "--skip-bad").exit_code == 0
        for rel in gone:
            os.utime(root / os.fsdecode(rel), ns=(1, 1))  # changed, so the update reads them again
    else:
        write_files(root, gone)
    _vanish_and_lock(monkeypatch, root, ["folder", "gone.html", "gone.jsonl", "gone.txt", "gone.warc"], [])
    result = scan_cli(root, db)
    assert result.exit_code == 1
    assert result.stderr == "Error: folder/x.txt: cannot read (No such file or directory); fix its permissions, or pass --skip-bad to skip such files\n"
    write_files(root, gone)
    result = scan_cli(root, db, "--skip-bad")
    assert result.exit_code == 0 and "(5 skipped)" in result.stdout, (result.stdout, result.stderr)
    assert [line.split(":")[1].strip() for line in result.stderr.splitlines()] == ["folder/x.txt", "gone.html", "gone.jsonl", "gone.txt", "gone.warc"]


def test_files_that_lose_their_permissions_during_a_scan(monkeypatch):
    """A file and a folder whose permissions are taken away between the listing and the reading
    (a monkeypatched listing runs chmod 000, as the user 'nobody' who owns them, so that the
    kernel refuses for real even when the tests run as root), and a folder locked before the
    scan: one line naming the file, or each skipped and counted."""
    count_inputs("hard cases: files that lose their permissions during a scan")
    count_inputs("hard cases: a folder without permissions")
    tmp = Path(tempfile.mkdtemp())  # not below pytest's tmp_path, which only root may enter
    try:
        root = tmp / "c"
        write_files(root, {b"a.txt": ("text", SAMPLES[0].encode()), b"locked.txt": ("text", SAMPLES[0].encode()),
                           b"lockeddir/b.txt": ("text", b"b"), b"shut/c.txt": ("text", b"c")})
        for path in [tmp, *tmp.rglob("*")]:
            os.chown(path, 65534, 65534)
        tmp.chmod(0o755)
        (root / "shut").chmod(0)

        def scan(*options: str, db: str = "d.db") -> list:
            result = invoke(["scan", str(root), "--db", str(tmp / db), "--workers", "1", *options])
            (root / "locked.txt").chmod(0o644), (root / "lockeddir").chmod(0o755)
            return [result.exit_code, result.stdout, result.stderr, repr(result.exception)]

        def scan_three_times() -> dict:
            _vanish_and_lock(monkeypatch, root, [], ["locked.txt", "lockeddir"])
            shut = scan()
            (root / "shut").chmod(0o755)
            locked = scan()
            (root / "shut").chmod(0)
            return {"shut": shut, "locked": locked, "lenient": scan("--skip-bad")}

        scan("--skip-bad", db="warm-up.db")  # once as root first: the child cannot import what root alone may read
        report = as_nobody(scan_three_times)
    finally:
        (root / "shut").chmod(0o755)
        shutil.rmtree(tmp)
    folder_error = "Error: shut/: cannot read (Permission denied); fix its permissions, or pass --skip-bad to skip such folders\n"
    assert report["shut"][0] == 1 and report["shut"][2] == folder_error, report
    file_error = "Error: locked.txt: cannot read (Permission denied); fix its permissions, or pass --skip-bad to skip such files\n"
    assert report["locked"][0] == 1 and report["locked"][2] == file_error, report
    code, stdout, stderr, _ = report["lenient"]
    assert code == 0 and "(3 skipped)" in stdout, report
    assert stderr.splitlines() == [
        "warning: shut/: cannot read (Permission denied); fix its permissions, or pass --skip-bad to skip such folders",
        "warning: locked.txt: cannot read (Permission denied); fix its permissions, or pass --skip-bad to skip such files",
        "warning: lockeddir/b.txt: cannot read (Permission denied); fix its permissions, or pass --skip-bad to skip such files",
    ]


def test_the_service_at_its_default_body_limit(tmp_path):
    """POST /query with a text just under 1 MiB is answered; just over, 413."""
    from helpers import Server

    count_inputs("hard cases: bodies near the default 1 MiB limit", 2)
    _, db = scanned_seeds(tmp_path, sorted(SEEDS.iterdir())[:1])
    served = Server(db, token=None)
    try:
        text = "\n".join(SAMPLES) + "\n"
        unit = len(json.dumps(text, ensure_ascii=False).encode()) - 2  # as it is written in the body
        body = json.dumps({"text": text * (((1 << 20) - 20) // unit)}, ensure_ascii=False).encode()
        assert (1 << 20) - 1000 < len(body) <= 1 << 20
        status, answer = send(served, "POST", "/query", body, {"Content-Type": "application/json"})
        assert status == 200 and answer["paragraphs"][-1]["status"] == "copy"
        status, answer = send(served, "POST", "/query", body[:-2] + b" " * ((1 << 20) - len(body) + 1) + b'"}', {"Content-Type": "application/json"})
        assert status == 413 and answer["error"] == "request body over 1,048,576 bytes; send smaller documents"
    finally:
        served.stop()


# -- regressions: what the fuzzing found, each pinned ---------------------------------------------


@pytest.mark.parametrize(
    "line, message",
    [
        (b'{"text": "a", "n": ' + b"9" * 5000 + b"}", "d.jsonl:3: holds an integer too long to read; fix the line, or pass --skip-bad"),
        (b'{"text": "a", "x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "d.jsonl:3: nested too deeply to read"),
        (b'{"text": {"a": ' * 5000 + b"1" + b"}" * 5000, "d.jsonl:3: nested too deeply to read"),
        (b"[1]", "d.jsonl:3: a JSON list, not an object; each line must be one record: fix it, or pass --skip-bad"),
        (b'{"body": "b"}', "d.jsonl:3: no 'text' field; name the text field with --text-field, or pass --skip-bad"),
    ],
    ids=["huge-int", "deep-array", "deep-object", "not-an-object", "no-text"],
)
def test_a_record_with_a_huge_integer_or_deep_nesting_is_a_record_error(tmp_path, line, message):
    """Were a ValueError and a RecursionError out of json.loads: a traceback. Every record
    error names the fix, --skip-bad included."""
    from dedup.sources.records import RecordError, RecordFields, parse_record

    with pytest.raises(RecordError) as caught:
        parse_record(line, "d.jsonl", 3, RecordFields())
    assert str(caught.value).startswith(message)
    root = tmp_path / "c"
    root.mkdir()
    (root / "d.jsonl").write_bytes(b'{"text": "' + SAMPLES[0].encode() + b'"}\n\n' + line + b"\n")
    result = scan_cli(root, tmp_path / "d.db")
    assert result.exit_code == 1 and result.stderr.startswith("Error: " + message)
    result = scan_cli(root, tmp_path / "d.db", "--skip-bad")
    assert result.exit_code == 0 and "(1 skipped)" in result.stdout


def test_a_name_that_is_not_utf8_stops_the_scan_or_is_skipped(tmp_path):
    """Was a UnicodeEncodeError writing the document row (SQLite text is UTF-8)."""
    root = tmp_path / "c"
    write_files(root, {b"good.txt": ("text", SAMPLES[0].encode()), "文件".encode("gbk") + b".txt": ("text", b"text"),
                       b"sub\xff/a.txt": ("text", b"text"), b"ok\nname.txt": ("text", b"\xff\xfe\xfd")})
    result = scan_cli(root, tmp_path / "d.db")
    assert result.exit_code == 1
    assert result.stderr == "Error: sub\\xff/: name is not valid UTF-8; rename it (convmv -f gbk -t utf-8 does), or pass --skip-bad to skip such files\n"
    result = scan_cli(root, tmp_path / "d.db", "--skip-bad")
    assert result.exit_code == 0 and "(3 skipped)" in result.stdout
    assert result.stderr.splitlines() == [
        "warning: sub\\xff/: name is not valid UTF-8; rename it (convmv -f gbk -t utf-8 does), or pass --skip-bad to skip such files",
        "warning: \\xceļ\\xfe.txt: name is not valid UTF-8; rename it (convmv -f gbk -t utf-8 does), or pass --skip-bad to skip such files",
        # a valid name with a line break in it is kept (the database holds it), shown on one line
        "warning: ok\\nname.txt: not valid UTF-8, GB18030, Big5 or UTF-16 (with BOM); convert it to UTF-8, or pass --skip-bad to skip such files",
    ]
    assert sqlite3.connect(tmp_path / "d.db").execute("SELECT path FROM documents").fetchall() == [("good.txt",)]
    # the corpus folder itself
    bad_root = Path(os.fsdecode(os.fsencode(tmp_path) + b"/\xff"))
    write_files(bad_root, {b"a.txt": ("text", b"text")})
    result = scan_cli(bad_root, tmp_path / "e.db")
    assert result.exit_code == 1 and result.stderr.endswith("/\\xff: the corpus path is not valid UTF-8; rename it\n")


def test_html_with_control_characters_is_read():
    """Was a ValueError out of lxml's cleaner ('All strings must be XML compatible')."""
    from dedup.sources.webpage import html_to_text

    assert html_to_text("-->;\x04<!--\x1b-->\r\x12>") == "-->; >"
    assert html_to_text("<p>a\x01b</p><p>\x0cc\x00</p>") == "a b\n\nc"


def one_response_warc() -> bytes:
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    buf = io.BytesIO()
    writer = WARCWriter(buf, gzip=False)
    http_headers = StatusAndHeaders("200 OK", [("Content-Type", "text/html")], protocol="HTTP/1.0")
    writer.write_record(writer.create_warc_record("http://a.cn/", "response", payload=io.BytesIO(SAMPLES[0].encode()), http_headers=http_headers))
    return buf.getvalue()


def test_a_damaged_warc_is_a_warc_error(tmp_path):
    """Were an AttributeError (a record without WARC-Target-URI) and a zlib.error (a gzip member
    that does not inflate) out of warcio and the header check: tracebacks."""
    root = tmp_path / "c"
    write_files(root, {b"good.txt": ("text", SAMPLES[0].encode()),
                       b"no-uri.warc": ("WARC", one_response_warc().replace(b"WARC-Target-URI", b"WARC-Target-URX")),
                       b"bad-gzip.warc.gz": ("WARC", b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03" + b"\xff" * 20)})
    result = scan_cli(root, tmp_path / "d.db")
    assert result.exit_code == 1
    assert result.stderr == "Error: bad-gzip.warc.gz: not a WARC file (it does not start with a WARC/1.x record); rename or remove it, or pass --skip-bad\n"
    result = scan_cli(root, tmp_path / "d.db", "--skip-bad")
    assert result.exit_code == 0 and "(2 skipped)" in result.stdout
    assert result.stderr.splitlines()[1].startswith("warning: no-uri.warc: not a readable WARC file after record 0 (AttributeError: ")


def test_a_warc_error_that_quotes_damaged_bytes_is_one_line(tmp_path):
    """warcio's message quotes the line it could not parse, control characters and line breaks
    included: the error spread over several lines."""
    root = tmp_path / "c"
    write_files(root, {b"j.warc": ("WARC", one_response_warc() + b"\x1c\x00junk\r\n\r\n")})
    result = scan_cli(root, tmp_path / "d.db")
    assert result.stderr == (
        "Error: j.warc: not a readable WARC file after record 1 (ArchiveLoadFailed: Invalid WARC record, first line: "
        "\\x1c\\x00junk\\r\\n); repair or remove it, or pass --skip-bad\n"
    )


def test_an_update_to_a_corpus_without_a_matchable_paragraph(tmp_path):
    """Was an IndexError in update.load_corpus (and at 'subset = ...'): no key left to index."""
    root = tmp_path / "c"
    write_files(root, {b"a.txt": ("text", SAMPLES[0].encode()), b"b.txt": ("text", SAMPLES[2].encode())})
    assert scan_cli(root, tmp_path / "d.db").exit_code == 0
    write_files(root, {b"a.txt": ("text", b"!!!\n...\n"), b"b.txt": ("text", b"   \n")})
    updated = scan_cli(root, tmp_path / "d.db")
    assert updated.exit_code == 0 and updated.stdout.startswith("Updated ")
    full = scan_cli(root, tmp_path / "full.db", "--full")
    assert updated.stdout.splitlines()[2:-2] == full.stdout.splitlines()[1:-2]  # the same figures, the time apart


def test_an_update_after_a_file_was_touched(tmp_path):
    """Was 'UNIQUE constraint failed: files.source': a file whose time changed but whose bytes
    did not was hashed again and its row inserted beside the old one."""
    root = tmp_path / "c"
    write_files(root, {b"a.txt": ("text", SAMPLES[0].encode()), b"b.txt": ("text", SAMPLES[0].encode())})
    assert scan_cli(root, tmp_path / "d.db").exit_code == 0
    os.utime(root / "a.txt", ns=(1, 1))
    updated = scan_cli(root, tmp_path / "d.db")
    assert updated.exit_code == 0 and "0 files new or changed" in updated.stdout
    assert sqlite3.connect(tmp_path / "d.db").execute("SELECT source, mtime_ns FROM files ORDER BY source").fetchall()[0] == ("a.txt", 1)


def test_an_update_counts_what_it_skipped(tmp_path):
    """An update printed warnings but its summary counted no skipped file (its run row left
    out what listing the folder skipped, and its counts had no 'skipped')."""
    root = tmp_path / "c"
    write_files(root, {b"a.txt": ("text", SAMPLES[0].encode())})
    assert scan_cli(root, tmp_path / "d.db").exit_code == 0
    write_files(root, {b"\xff.txt": ("text", b"x"), b"b.txt": ("text", b"\xff\xfe\xfd")})
    updated = scan_cli(root, tmp_path / "d.db", "--skip-bad")
    assert updated.exit_code == 0 and "(2 skipped)" in updated.stdout and updated.stderr.count("warning:") == 2


def test_pinyin_stripping_of_a_long_line_is_linear():
    """Every "?" of a line looked ahead for a tone mark up to the next parenthesis: a long line
    with many "?" and a ")" far on took hours (a 2 MB line 7 s, the 50 MB one above never ended)."""
    import signal

    from dedup.text.normalize import strip_pinyin

    def too_slow(signum, frame):
        raise TimeoutError("strip_pinyin is quadratic again")

    previous = signal.signal(signal.SIGALRM, too_slow)
    signal.alarm(20)
    try:
        assert strip_pinyin("是?" * 200_000 + "這(zhè)") == "是?" * 200_000 + "這"
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@pytest.mark.parametrize("date", ["1e300", "-1e300", "0001-01-01T00:00:00+14:00"])
def test_a_date_no_calendar_can_show_is_a_record_error(tmp_path, date):
    """Was an OverflowError (or ValueError) in canonical._day, writing the reason 'earliest:
    dated ...' of a cluster whose canonical had a Unix time past the year 9999."""
    root = tmp_path / "c"
    records = [{"text": SAMPLES[0], "date": date}, {"text": SAMPLES[0], "date": "2021-03-04"}]
    write_files(root, {b"d.jsonl": ("JSONL", "".join(json.dumps(r) + "\n" for r in records).encode())})
    options = ("--date-field", "date", "--canonical", "earliest")
    result = scan_cli(root, tmp_path / "d.db", *options)
    assert result.exit_code == 1 and result.stderr.startswith(f"Error: d.jsonl:1: field 'date' is '{date}', not an ISO 8601 date")
    assert scan_cli(root, tmp_path / "d.db", *options, "--skip-bad").exit_code == 0


@pytest.mark.parametrize("damage", ["cut", "crc"])
def test_clean_of_a_jsonl_gz_whose_stream_breaks(tmp_path, damage):
    """A .jsonl.gz that breaks after some batches of lines were stored (small_batches: every
    few lines a batch) is skipped by the scan; its clean was an EOFError, which click took for
    an interrupt ('Aborted!', exit 1; 'Interrupted', exit 130, from the console), or a
    BadGzipFile traceback. Now one line naming it."""
    root = tmp_path / "c"
    lines = "".join(json.dumps({"text": text}, ensure_ascii=False) + "\n" for text in SAMPLES * 3).encode()
    data = gzip.compress(lines, mtime=0)
    data = data[: len(data) * 2 // 3] if damage == "cut" else data[:-8] + bytes(8)  # CRC and size zeroed
    write_files(root, {b"a.jsonl.gz": ("JSONL", data), b"b.txt": ("text", SAMPLES[0].encode())})
    scanned = scan_cli(root, tmp_path / "d.db", "--skip-bad")
    assert scanned.exit_code == 0 and "(1 skipped)" in scanned.stdout and "a.jsonl.gz: broken gzip stream after line" in scanned.stderr
    cleaned = invoke(["clean", str(root), "--out", str(tmp_path / "out"), "--db", str(tmp_path / "d.db")])
    check_no_crash(cleaned)
    assert cleaned.exit_code == 1 and cleaned.stderr == (
        "Error: a.jsonl.gz: broken gzip stream, of which the scan read only the records before the break; "
        "repair the file or remove it, then scan again\n"
    )
