"""A full disk: every write path ends with one line naming the file and the fix (exit 1), leaves
the previous result as it was, and leaves no temporary file behind.

The commands run in a subprocess under a file size limit (RLIMIT_FSIZE, SIGXFSZ ignored, so a
write past it fails with EFBIG, which SQLite reports as a failed write): no root needed, these
always run. One test fills a real 3 MB tmpfs (ENOSPC, SQLITE_FULL) where mounting is allowed;
the service's test makes the key store's writes fail with ENOSPC in-process.

The corpus is real text nobody here wrote: the licences in /usr/share/common-licenses and the
copyright files in /usr/share/doc (the repository's seed pages where a system has neither).
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import resource
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import asgi_call

ROOT = Path(__file__).resolve().parents[2]
LICENSES = Path("/usr/share/common-licenses")
DOCS = Path("/usr/share/doc")


def real_texts() -> list[tuple[str, bytes]]:
    """(name, text) of real documents: the licences, then the copyright files, in name order."""
    found = []
    if LICENSES.is_dir():
        found += [(f"{p.name}.txt", p.read_bytes()) for p in sorted(LICENSES.iterdir()) if p.is_file() and not p.is_symlink()]
    if DOCS.is_dir():
        found += [(f"copyright-{p.parent.name}.txt", p.read_bytes()) for p in sorted(DOCS.glob("*/copyright")) if p.is_file()]
    found = [(name, data) for name, data in found if data.strip()]
    if len(found) < 40:  # not a Debian-like system: the seed pages (real scraped text)
        found += [(p.name, p.read_bytes()) for p in sorted((ROOT / "data" / "seeds").iterdir())]
    return found


TEXTS = real_texts()
BASE = TEXTS[:14]  # about 240 KB with the licences: a 1 MB database
MORE = TEXTS[14:74]  # about 1.5 MB more: what an update or a full scan fails to write


def write_files(folder: Path, texts: list[tuple[str, bytes]]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in texts:
        (folder / name).write_bytes(data)
    return folder


def dedup(*args, limit: int | None = None, stdout=subprocess.PIPE, env: dict | None = None) -> subprocess.CompletedProcess:
    """``python -m dedup ARGS`` in a subprocess, under a file size limit of ``limit`` bytes."""

    def limited() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG instead of killing
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return subprocess.run(
        [sys.executable, "-m", "dedup", *map(str, args)], cwd=ROOT, stdout=stdout, stderr=subprocess.PIPE, text=True,
        preexec_fn=limited if limit is not None else None, env={**os.environ, **(env or {})}, timeout=300,
    )


def tree(folder: Path) -> dict[str, str]:
    """Every file below ``folder`` (hidden ones too) with the SHA-1 of its bytes, and every folder."""
    out = {}
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder).as_posix()
        out[rel] = "folder" if path.is_dir() else hashlib.sha1(path.read_bytes()).hexdigest()
    return out


def assert_one_line(result: subprocess.CompletedProcess, start: str, *parts: str) -> str:
    """Exit 1, no traceback, and stderr one line: ``Error: START...`` holding every one of ``parts``."""
    assert result.returncode == 1, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"Error: {start}"), lines[0]
    for part in parts:
        assert part in lines[0], (part, lines[0])
    return lines[0]


LIMIT_FIX = "(ulimit -f); raise the limit"


def scanned(tmp_path: Path) -> tuple[Path, Path]:
    """BASE as a corpus, scanned into a database: (corpus, database)."""
    corpus = write_files(tmp_path / "corpus", BASE)
    db = tmp_path / "db" / "d.db"
    db.parent.mkdir()
    result = dedup("scan", corpus, "--db", db, "--workers", 1, "-q")
    assert result.returncode == 0, result.stderr
    return corpus, db


@pytest.fixture(scope="module")
def more(tmp_path_factory) -> Path:
    """A larger corpus: BASE and MORE."""
    return write_files(tmp_path_factory.mktemp("more") / "corpus", BASE + MORE)


def test_the_texts_are_real_and_enough():
    assert len(BASE) == 14 and len(MORE) >= 40


@pytest.mark.parametrize("command", ["scan", "add"])
def test_an_update_over_the_limit_leaves_the_database_as_it_was(tmp_path, command):
    corpus, db = scanned(tmp_path)
    write_files(corpus, MORE)  # the scanned corpus gains 60 files
    before = tree(db.parent)
    args = ("scan", corpus, "--db", db) if command == "scan" else ("add", db, *sorted(corpus.glob("copyright-*")))
    result = dedup(*args, "--workers", 1, "-q", limit=db.stat().st_size + 32_768)
    assert_one_line(result, f"{db}: cannot write the updated database: over the file size limit of ", LIMIT_FIX)
    assert tree(db.parent) == before  # byte for byte, and no journal or key file left
    assert sqlite3.connect(db).execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_a_full_scan_over_the_limit_leaves_the_database_as_it_was(more, tmp_path):
    _, db = scanned(tmp_path)
    before = tree(db.parent)
    # the keys (under 1.5 MB) fit, the new database (about 5 MB) does not
    result = dedup("scan", more, "--db", db, "--workers", 1, "-q", "--force", limit=2_000_000)
    assert_one_line(result, f"{db}: cannot write the new database: over the file size limit of 2,000,000 bytes ", LIMIT_FIX)
    assert tree(db.parent) == before


def test_a_key_store_over_the_limit_names_it_and_goes_away(tmp_path):
    """The key store is scratch: in --tmp-dir, named there when it cannot be written, and
    removed. (Through a whole scan, which of the database and the key store outgrows a file
    size limit first depends on SQLite's page cache and the corpus; here only the store
    writes, in a process under the limit.)"""
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    code = f"""
from dedup.errors import WriteError
from dedup.store.keystore import KeyStore
store = KeyStore({str(scratch)!r}, prefix=".dedup-d.db-keys-")
try:
    store.extend_utf8([(" %d " % i).encode() + TEXT for i in range(400)])
    store.get([0])
except WriteError as e:
    print(e)
finally:
    store.close()
"""
    text = b"".join(data for _, data in BASE)[:20_000]

    def limited() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (600_000, 600_000))

    result = subprocess.run([sys.executable, "-c", f"TEXT = {text!r}\n" + code], cwd=ROOT, capture_output=True, text=True,
                            preexec_fn=limited, timeout=120)
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    assert result.stdout.startswith(f"{scratch}/.dedup-d.db-keys-"), result.stdout
    assert ".tmp: cannot write temporary keys: over the file size limit of 600,000 bytes (ulimit -f); raise the limit" in result.stdout
    assert tree(scratch) == {}


def test_a_scan_killed_outright_leaves_keys_in_tmp_dir_that_the_next_scan_removes(tmp_path):
    corpus, db = scanned(tmp_path)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    stale = scratch / ".dedup-d.db-keys-abcd1234.tmp"
    stale.write_bytes(b"left by a SIGKILL")
    result = dedup("scan", corpus, "--db", db, "--workers", 1, "-q", "--full", "--tmp-dir", scratch)
    assert result.returncode == 0, result.stderr
    assert tree(scratch) == {}


def test_tmp_dir_must_be_a_folder(tmp_path):
    corpus = write_files(tmp_path / "corpus", BASE[:2])
    result = dedup("scan", corpus, "--db", tmp_path / "d.db", "--tmp-dir", tmp_path / "nowhere")
    assert result.returncode == 2 and "no such folder for temporary files" in result.stderr


def test_a_clean_over_the_limit_leaves_the_output_as_it_was(tmp_path):
    corpus, db = scanned(tmp_path)
    out = tmp_path / "out"
    first = dedup("clean", corpus, "--db", db, "--out", out, "--mark", "-q")
    assert first.returncode == 0, first.stderr
    before = tree(out)
    sizes = sorted(len(data) for _, data in BASE)
    # the small files fit (their temporary copies are written), a larger one does not: none may
    # replace its --mark copy
    limit = sizes[len(sizes) // 2]
    result = dedup("clean", corpus, "--db", db, "--out", out, "--force", "-q", limit=limit)
    assert_one_line(result, f"{out}/", ": cannot write the cleaned file: over the file size limit", LIMIT_FIX)
    assert tree(out) == before
    # into a folder that did not exist: it does not exist after
    fresh = tmp_path / "fresh" / "out"
    result = dedup("clean", corpus, "--db", db, "--out", fresh, "-q", limit=limit)
    assert_one_line(result, f"{fresh}/", ": cannot write the cleaned file: ", LIMIT_FIX)
    assert not (tmp_path / "fresh").exists()


def test_a_clean_whose_manifest_is_over_the_limit_writes_nothing(tmp_path):
    corpus, db = scanned(tmp_path)
    out = tmp_path / "out"
    limit = max(len(data) for _, data in BASE) + 1  # every file fits; the manifest, listing 276 duplicates, does not
    result = dedup("clean", corpus, "--db", db, "--out", out, "--mark", "-q", limit=limit)
    assert_one_line(result, f"{out}/.dedup-manifest.jsonl: cannot write the manifest: ", LIMIT_FIX)
    assert not out.exists()


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "parquet"])
def test_an_export_over_the_limit_leaves_the_previous_export(tmp_path, fmt):
    corpus, db = scanned(tmp_path)
    target = tmp_path / "x" / f"export.{fmt}"
    target.parent.mkdir()
    first = dedup("export", db, "--table", "clusters", "--format", fmt, "--out", target)
    assert first.returncode == 0, first.stderr
    before = tree(target.parent)
    result = dedup("export", db, "--table", "paragraphs", "--format", fmt, "--out", target, limit=target.stat().st_size + 1000)
    assert_one_line(result, f"{target}: cannot write the export: ", LIMIT_FIX)
    assert tree(target.parent) == before


def test_an_export_to_stdout_over_the_limit_names_the_file(tmp_path):
    _, db = scanned(tmp_path)
    target = tmp_path / "stdout.jsonl"
    with open(target, "w") as stdout:
        result = dedup("export", db, "--table", "paragraphs", limit=50_000, stdout=stdout)
    assert_one_line(result, f"stdout ({target}): cannot write the export: ", LIMIT_FIX)


def test_a_report_over_the_limit_leaves_the_previous_report(tmp_path):
    _, db = scanned(tmp_path)
    target = tmp_path / "r" / "report.html"
    target.parent.mkdir()
    target.write_text("<p>the previous report</p>", encoding="utf-8")
    before = tree(target.parent)
    result = dedup("report", db, "--out", target, limit=100_000)
    assert_one_line(result, f"{target}: cannot write the report: ", LIMIT_FIX)
    assert tree(target.parent) == before


def records(texts: list[tuple[str, bytes]], copies: int = 2) -> bytes:
    """JSONL of every block of the texts (blank-line separated) as a record, ``copies`` times:
    thousands of records, so the stream index is read back from its files."""
    lines = []
    for n in range(copies):
        for name, data in texts:
            for i, block in enumerate(data.decode("utf-8", "replace").split("\n\n")):
                if block.strip():
                    lines.append(json.dumps({"id": f"{n}:{name}:{i}", "text": block}, ensure_ascii=False))
    return ("\n".join(lines) + "\n").encode("utf-8")


def filter_run(tmp_path, stdout, limit, *args, env=None) -> subprocess.CompletedProcess:
    stream = tmp_path / "in.jsonl"
    if not stream.exists():
        stream.write_bytes(records(BASE + MORE))
    with open(stream, "rb") as stdin:
        def limited() -> None:
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

        return subprocess.run([sys.executable, "-m", "dedup", "filter", *map(str, args)], cwd=ROOT, stdin=stdin, stdout=stdout,
                              stderr=subprocess.PIPE, text=True, preexec_fn=limited, env={**os.environ, **(env or {})}, timeout=300)


def test_a_filter_whose_output_is_over_the_limit_names_it(tmp_path):
    target = tmp_path / "out.jsonl"
    with open(target, "wb") as stdout:
        result = filter_run(tmp_path, stdout, 100_000)
    assert_one_line(result, f"stdout ({target}): cannot write the filtered records: ", LIMIT_FIX)


@pytest.mark.parametrize("core", ["compiled", "python"])
def test_a_filter_index_over_the_limit_names_it_and_goes_away(tmp_path, core):
    """The compiled index keeps key texts in files of --tmp-dir; the Python one, a private
    SQLite database in SQLite's folder of temporary files, which --tmp-dir sets too."""
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    env = {"DEDUP_CORE": "python"} if core == "python" else {}
    with open(os.devnull, "wb") as stdout:
        result = filter_run(tmp_path, stdout, 20_000, "--tmp-dir", scratch, "-q", env=env)
    start = f"{scratch}/.dedup-filter-" if core == "compiled" else f"{scratch}: "
    assert_one_line(result, start, "cannot write the filter's index: over the file size limit", LIMIT_FIX)
    assert tree(scratch) == {}


# -- the rule and its parts, in this process --------------------------------------------------


def test_every_way_of_saying_no_room_is_one_write_error(tmp_path):
    from dedup.errors import WriteError, writing

    full = sqlite3.OperationalError("database or disk is full")
    full.sqlite_errorname = "SQLITE_FULL"
    cases = [
        (OSError(errno.ENOSPC, "No space left on device"), "no space left on the device", "free space on that filesystem, or point --out elsewhere"),
        (OSError(errno.EDQUOT, "Disk quota exceeded"), "disk quota exceeded", "free space within your quota, or point --out elsewhere"),
        (full, "no space left on the device (SQLite: database or disk is full)", "free space on that filesystem, or point --out elsewhere"),
    ]
    for error, reason, fix in cases:
        with pytest.raises(WriteError) as caught:
            with writing(tmp_path / "x.jsonl", "the export", "point --out elsewhere"):
                raise error
        assert str(caught.value) == f"{tmp_path / 'x.jsonl'}: cannot write the export: {reason}; {fix}"
        assert caught.value.__cause__ is error
    for other in (OSError(errno.ENOENT, "No such file or directory"), sqlite3.OperationalError("no such table: t"), ValueError("x")):
        with pytest.raises(type(other)):
            with writing(tmp_path / "x.jsonl", "the export", "point --out elsewhere"):
                raise other


def test_a_sqlite_write_failure_under_a_file_size_limit_is_the_limit(tmp_path):
    """SQLite reports EFBIG as a failed write (SQLITE_IOERR_WRITE, 'disk I/O error')."""
    code = (
        "import resource, signal, sqlite3, sys\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (100_000, 100_000))\n"
        "from dedup.errors import writing\n"
        "conn = sqlite3.connect(sys.argv[1])\n"
        "with writing(sys.argv[1], 'the test database', 'point it elsewhere'):\n"
        "    conn.execute('CREATE TABLE t (x)')\n"
        "    conn.executemany('INSERT INTO t VALUES (?)', [('x' * 1000,) for _ in range(1000)])\n"
        "    conn.commit()\n"
    )
    result = subprocess.run([sys.executable, "-c", code, str(tmp_path / "t.db")], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert result.returncode == 1
    assert result.stderr.rstrip().splitlines()[-1] == (
        f"dedup.errors.WriteError: {tmp_path / 't.db'}: cannot write the test database: "
        "over the file size limit of 100,000 bytes (ulimit -f); raise the limit"
    )


def test_files_written_as_one_are_all_new_or_all_old(tmp_path):
    from dedup.atomic import AtomicFiles

    out = tmp_path / "out"
    out.mkdir()
    (out / "a.txt").write_text("old a", encoding="utf-8")
    before = tree(tmp_path)
    with pytest.raises(RuntimeError):
        with AtomicFiles() as files:
            files.write(out / "a.txt", lambda tmp: tmp.write_text("new a", encoding="utf-8"))
            files.write(files.folder(out / "deep" / "er") / "b.txt", lambda tmp: tmp.write_text("new b", encoding="utf-8"))
            raise RuntimeError("the third file failed")
    assert tree(tmp_path) == before  # no temporary file, no folder made for b.txt
    with AtomicFiles() as files:
        files.write(out / "a.txt", lambda tmp: tmp.write_text("new a", encoding="utf-8"))
        files.write(files.folder(out / "deep") / "b.txt", lambda tmp: tmp.write_text("new b", encoding="utf-8"))
        assert (out / "a.txt").read_text(encoding="utf-8") == "old a"  # nothing moves before the end
    assert tree(out) == {"a.txt": hashlib.sha1(b"new a").hexdigest(), "deep": "folder", "deep/b.txt": hashlib.sha1(b"new b").hexdigest()}


def test_tmp_dir_reaches_sqlite_which_reads_it_once_at_import(tmp_path):
    """``python -m dedup ... --tmp-dir DIR`` puts DIR in SQLITE_TMPDIR before sqlite3 loads:
    SQLite's temporary files (a sort spilling out of its cache here) are made there."""
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    code = (
        "import os, sys\n"
        "from dedup.__main__ import _early_tmp_dir\n"
        "_early_tmp_dir(['scan', 'corpus', '--tmp-dir', sys.argv[1]])\n"
        "import sqlite3\n"
        "conn = sqlite3.connect('')\n"
        "conn.execute('PRAGMA cache_size = 10')\n"
        "conn.execute('CREATE TABLE t (x)')\n"
        "conn.executemany('INSERT INTO t VALUES (?)', [('x' * 500,) for _ in range(5000)])\n"
        "def link(fd):\n"
        "    try:\n"
        "        return os.readlink(f'/proc/self/fd/{fd}')\n"
        "    except OSError:  # the listing's own descriptor, closed by now\n"
        "        return ''\n"
        "print(any(link(fd).startswith(sys.argv[1] + '/') for fd in os.listdir('/proc/self/fd')))\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("SQLITE_TMPDIR", "TMPDIR")}
    result = subprocess.run([sys.executable, "-c", code, str(scratch)], capture_output=True, text=True, cwd=ROOT, env=env, timeout=60)
    assert result.stdout.strip() == "True", result.stderr


# -- the service -------------------------------------------------------------------------------


def asgi(app, method: str, path: str, body=None, token: str | None = None) -> tuple[int, dict]:
    """One request to the ASGI app in this process (what a TestClient does, without httpx)."""
    data = json.dumps(body).encode() if body is not None else b""
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]
    if token:
        headers.append((b"authorization", f"Bearer {token}".encode()))
    status, data = asgi_call(app, method, path, data, headers)
    return status, json.loads(data)


def rows(db: Path) -> dict[str, list]:
    conn = sqlite3.connect(db)
    try:
        tables = [t for (t,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        return {t: conn.execute(f"SELECT * FROM [{t}] ORDER BY 1").fetchall() for t in tables}
    finally:
        conn.close()


def test_a_post_that_finds_the_disk_full_gets_507_and_queries_go_on(tmp_path, monkeypatch):
    from dedup.apps.service import create_app

    corpus, db = scanned(tmp_path)
    # writes in this process: the patched os.write below reaches them (the writer process gets
    # the same WriteError, sent back whole: tests/engines/test_writes.py)
    app = create_app(db, token="s3cret", writer="thread")
    question = {"text": BASE[3][1].decode("utf-8").split("\n\n")[2]}
    status, answer = asgi(app, "POST", "/query", question)
    assert status == 200 and any(p["status"] == "copy" for p in answer["paragraphs"])
    before, listing = rows(db), tree(db.parent)

    real_write = os.write

    def full_disk(fd, data):  # every file below tmp_path is on a full disk
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            target = ""
        if target.startswith(str(tmp_path)):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", full_disk)
    status, body = asgi(app, "POST", "/documents", {"text": MORE[0][1].decode("utf-8", "replace"), "id": "new"}, token="s3cret")
    assert status == 507, body
    assert body["error"].startswith(f"{db.parent}/.dedup-d.db-keys-"), body
    assert "cannot write temporary keys: no space left on the device; nothing was stored: free space on the server's disk" in body["error"]
    monkeypatch.undo()

    assert rows(db) == before and tree(db.parent) == listing
    assert asgi(app, "POST", "/query", question) == (200, answer)
    assert asgi(app, "GET", "/stats")[0] == 200


# -- a real full disk ------------------------------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path):
    """A 3 MB tmpfs, where this process may mount one (root, or a user namespace that allows it)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    try:
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mount)], capture_output=True, text=True, timeout=30)
    except OSError as error:
        pytest.skip(f"cannot run mount ({error}): the file size limit tests above cover the same paths")
    if done.returncode != 0:
        pytest.skip(f"mounting a tmpfs is not permitted here ({done.stderr.strip()}): the file size limit tests above cover the same paths")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=True, timeout=30)


def test_a_real_full_disk(tmp_path, small_disk):
    corpus = write_files(tmp_path / "corpus", BASE)
    db = small_disk / "d.db"
    first = dedup("scan", corpus, "--db", db, "--workers", 1, "-q")
    assert first.returncode == 0, first.stderr
    before = tree(small_disk)
    full = "no space left on the device (SQLite: database or disk is full); free space on that filesystem, or point --db elsewhere"

    # an update that needs more room than there is: SQLITE_FULL, rolled back
    write_files(corpus, MORE)
    result = dedup("scan", corpus, "--db", db, "--workers", 1, "-q")
    assert_one_line(result, f"{db}: cannot write the updated database: ", full)
    assert tree(small_disk) == before

    # a full scan instead: its new database, beside the old one, is removed
    result = dedup("scan", corpus, "--db", db, "--workers", 1, "-q", "--full")
    assert_one_line(result, f"{db}: cannot write the new database: ", full)
    assert tree(small_disk) == before

    # the disk filled up to 64 KB: an export does not fit (ENOSPC)
    room = os.statvfs(small_disk)
    (small_disk / "filler").write_bytes(b"\0" * (room.f_bavail * room.f_frsize - 65_536))
    before = tree(small_disk)
    target = small_disk / "p.jsonl"
    result = dedup("export", db, "--table", "paragraphs", "--out", target)
    assert_one_line(result, f"{target}: cannot write the export: no space left on the device; free space on that filesystem, or point --out elsewhere")
    assert tree(small_disk) == before

    # scratch files on the full disk, the database elsewhere: the key store is named
    elsewhere = tmp_path / "elsewhere.db"
    result = dedup("scan", corpus, "--db", elsewhere, "--workers", 1, "-q", "--tmp-dir", small_disk)
    assert_one_line(result, f"{small_disk}/.dedup-elsewhere.db-keys-",
                    "cannot write temporary keys: no space left on the device; free space on that filesystem, or point --tmp-dir elsewhere")
    assert tree(small_disk) == before and not elsewhere.exists()
