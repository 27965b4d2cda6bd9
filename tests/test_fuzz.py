"""Fuzzing every input path (issue 9): generated corpora through ``dedup scan`` (text, HTML,
JSONL and WARC files of random bytes, broken and mixed encodings, NUL bytes, damaged records
and archives, odd file names), JSONL streams through ``dedup scan -`` and ``dedup filter``,
random bodies to the HTTP API, and hard cases written out (a 50 MB line, deep folders, a path
near PATH_MAX, symlink loops, FIFOs, files that vanish or lose their permissions mid-scan).

The oracle everywhere: no traceback, ever. A command ends with exit 0, or with exit 1 and one
line ``Error: ...`` that names the file and the fix; every skipped file is warned about and
counted in the summary; the corpus is byte for byte as it was; a database written passes
SQLite's integrity check. The service answers every request with JSON and a 2xx or 4xx status.

Examples are derandomized (the same ones on every run, so CI cannot fail by chance); every
input tried is counted (``conftest.count_inputs`` -> test-artifacts/fuzz-counts.json).
"""

from __future__ import annotations

import gzip
import hashlib
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

from conftest import as_nobody, count_inputs
from dedup.cli import cli

ROOT = Path(__file__).resolve().parent.parent


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


# -- running a command and judging it ------------------------------------------------------------


@pytest.fixture(scope="module", autouse=True)
def small_batches():
    """JSONL cut into batches of a few lines, and the filter's batches of two records, so that
    small inputs take the paths of large ones (a record error in a later batch, a gzip stream
    that breaks after some batches were stored)."""
    import dedup.filter
    import dedup.records

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(dedup.records, "BATCH_BYTES", 100)
        patch.setattr(dedup.filter, "BATCH_RECORDS", 2)
        yield


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


def scan_cli(root: Path, db: Path, *options: str):
    result = invoke(["scan", str(root), "--db", str(db), "--workers", "1", *options])
    check_no_crash(result)
    return result


def dedup_process(*args: str, stdin: bytes | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    """The real ``dedup`` command in a process of its own (workers, console entry point): where a
    traceback or a hang would show. Fails after ``timeout`` seconds."""
    return subprocess.run([sys.executable, "-m", "dedup", *args], input=stdin, capture_output=True, timeout=timeout, cwd=ROOT)


def check_process(done: subprocess.CompletedProcess, code: int, error: str | None = None) -> None:
    stderr = done.stderr.decode("utf-8", "replace")
    assert b"Traceback" not in done.stderr and done.returncode == code, (done.returncode, stderr)
    if error is not None:
        assert stderr.splitlines()[-1] == error, stderr


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


def _vanish_and_lock(monkeypatch, root: Path, vanish: list[str], lock: list[str]) -> None:
    """After the scan lists the corpus, delete ``vanish`` and take every permission from ``lock``
    (files or folders), as if another process did so while the scan ran."""
    import dedup.scan

    listed = dedup.scan.list_files

    def list_then_change(*args, **kwargs):
        files = listed(*args, **kwargs)
        for rel in vanish:
            path = root / rel
            shutil.rmtree(path) if path.is_dir() else path.unlink()
        for rel in lock:
            (root / rel).chmod(0)
        return files

    monkeypatch.setattr(dedup.scan, "list_files", list_then_change)


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
    from dedup.records import RecordError, RecordFields, parse_record

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
    from dedup.webpage import html_to_text

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

    from dedup.normalize import strip_pinyin

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
