"""Readers while a scan writes, old databases, and a database the service left in WAL mode."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from helpers import scanned_seeds
from dedup.apps.cli import cli
from dedup.config import ScanConfig
from dedup.errors import DatabaseError
from dedup.pipeline import scan
from dedup.store.writer import SCHEMA_VERSION

SEEDS = sorted((Path(__file__).resolve().parents[2] / "data" / "seeds").iterdir())


def test_readers_work_while_an_update_writes(tmp_path):
    """stats, show and export answer all through an update running in another process (each
    sees the scan before it or the one after, never an error)."""
    from bench.generate import generate

    generate(tmp_path / "dump", n_docs=150, seed=8)
    docs = sorted((tmp_path / "dump" / "docs").rglob("*.txt"))
    corpus = tmp_path / "c"
    for i, path in enumerate(docs):
        if i % 4:
            target = corpus / path.relative_to(tmp_path / "dump" / "docs")
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(path, target)
    db = tmp_path / "u.db"
    scan(corpus, ScanConfig(workers=1), db)
    for path in docs[::4]:
        target = corpus / path.relative_to(tmp_path / "dump" / "docs")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, target)
    writer = subprocess.Popen([sys.executable, "-m", "dedup", "scan", str(corpus), "--db", str(db), "--quiet"], stderr=subprocess.PIPE, text=True)
    runner = CliRunner()
    reads, seen = 0, set()
    while True:
        running = writer.poll() is None
        for args in (["stats", str(db)], ["show", str(db), "1"], ["export", str(db), "--table", "clusters"]):
            out = runner.invoke(cli, args)
            assert out.exit_code == 0, out.output
            reads += 1
        seen.add(runner.invoke(cli, ["stats", str(db)]).output)
        if not running:
            break
    assert writer.returncode == 0, writer.stderr.read()
    assert reads >= 3 and len(seen) >= 1
    runs = sqlite3.connect(db).execute("SELECT count(*) FROM runs").fetchone()[0]
    assert runs == 2  # the update committed, and readers never stopped it


def test_a_database_of_an_older_schema_is_refused_then_replaced_by_a_scan(tmp_path):
    corpus, db = scanned_seeds(tmp_path, SEEDS[:2])
    conn = sqlite3.connect(db)
    conn.execute("UPDATE meta SET value = '3' WHERE key = 'schema_version'")
    conn.commit()
    conn.close()
    out = CliRunner().invoke(cli, ["stats", str(db)])
    assert out.exit_code == 1
    assert f"schema version 3, this dedup reads version {SCHEMA_VERSION}; scan the corpus again" in out.output
    assert "Traceback" not in out.output
    counts = scan(corpus, ScanConfig(workers=1), db).counts
    assert "files_read" not in counts  # another schema is never updated in place: scanned in full
    assert sqlite3.connect(db).execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() == (str(SCHEMA_VERSION),)
    assert CliRunner().invoke(cli, ["stats", str(db)]).exit_code == 0


def test_a_full_scan_never_replaces_a_database_open_in_wal_mode(tmp_path):
    """A -wal file left beside a new database would be read as part of it: the scan takes the
    database back to a rollback journal first, and refuses while another process has it open."""
    corpus, db = scanned_seeds(tmp_path, SEEDS[:2])
    service = sqlite3.connect(db)  # as dedup serve keeps it
    service.execute("PRAGMA journal_mode = WAL")
    service.execute("BEGIN")
    service.execute("SELECT count(*) FROM paragraphs").fetchone()
    with pytest.raises(DatabaseError, match="open in WAL mode by another process"):
        scan(corpus, ScanConfig(workers=1), db, full=True)
    assert not list(tmp_path.glob(".dedup-*"))
    service.rollback()
    service.close()
    # a service killed outright leaves its -wal file, with committed pages in it
    killed = subprocess.run([sys.executable, "-c", (
        "import os, signal, sqlite3, sys; c = sqlite3.connect(sys.argv[1]); c.execute('PRAGMA journal_mode = WAL'); "
        "c.execute(\"INSERT INTO meta VALUES ('left', 'by a killed service')\"); c.commit(); os.kill(os.getpid(), signal.SIGKILL)"
    ), str(db)])
    assert killed.returncode == -9 and Path(f"{db}-wal").stat().st_size > 0
    scan(corpus, ScanConfig(workers=1), db, full=True)
    assert not Path(f"{db}-wal").exists()
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert conn.execute("SELECT count(*) FROM meta WHERE key = 'left'").fetchone() == (0,)  # the new database, whole
