"""Updates: a scan of a changed corpus reads only what changed and ends exactly where a full
scan of the new corpus ends, with cluster ids kept and changes recorded."""

from __future__ import annotations

import hashlib
import json
import random
import shutil
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from helpers import scan_result as result, scanned_seeds, write_corpus
from texts import NOTICE_ASIDE, NOTICE_FIRST_HALF, NOTICE_LINE, NOTICE_SECOND_HALF
from dedup.apps.cli import cli
from dedup.config import ScanConfig
from dedup.pipeline import scan

SEEDS = sorted((Path(__file__).resolve().parents[2] / "data" / "seeds").iterdir())
CONFIG = ScanConfig(workers=1)


def query(db: Path, sql: str) -> list[tuple]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def full_scan(corpus: Path, tmp: Path) -> Path:
    db = tmp / f"full-{random.random()}.db"
    scan(corpus, CONFIG, db, full=True)
    return db


def test_adding_files_gives_the_full_scan_and_reads_only_them(tmp_path):
    corpus = tmp_path / "c"
    corpus.mkdir()
    for seed in SEEDS[:3]:
        shutil.copy(seed, corpus)
    db = tmp_path / "u.db"
    scan(corpus, CONFIG, db)
    for seed in SEEDS[3:]:
        shutil.copy(seed, corpus)
    counts = scan(corpus, CONFIG, db).counts
    assert counts["files_read"] == 2 and counts["files_deleted"] == 0
    assert result(db) == result(full_scan(corpus, tmp_path))
    assert len(result(db)) > 100
    assert query(db, "SELECT count(*) FROM runs") == [(2,)]


def test_deleting_and_changing_files_gives_the_full_scan(tmp_path):
    corpus, db = scanned_seeds(tmp_path, SEEDS)
    (corpus / SEEDS[0].name).unlink()
    lines = (corpus / SEEDS[3].name).read_text(encoding="utf-8").splitlines(keepends=True)
    (corpus / SEEDS[3].name).write_text("".join(lines[:60] + lines[90:]), encoding="utf-8")
    counts = scan(corpus, CONFIG, db).counts
    assert (counts["files_read"], counts["files_deleted"]) == (1, 1)
    assert result(db) == result(full_scan(corpus, tmp_path))
    # nothing of the deleted file is left, and no key or pair that only it held
    assert query(db, f"SELECT count(*) FROM documents WHERE source = '{SEEDS[0].name}'") == [(0,)]
    assert query(db, "SELECT count(*) FROM keys WHERE id NOT IN (SELECT key_id FROM paragraphs WHERE key_id IS NOT NULL)") == [(0,)]


@pytest.mark.parametrize("seed", [3, 11])
def test_random_growth_of_a_generated_dump_gives_the_full_scan(tmp_path, seed):
    from bench.generate import generate

    generate(tmp_path / "dump", n_docs=80, seed=seed)
    docs = sorted(p for p in (tmp_path / "dump" / "docs").rglob("*.txt"))
    rng = random.Random(seed)
    corpus = tmp_path / "c"
    later = set(rng.sample(range(len(docs)), 16))
    for i, path in enumerate(docs):
        if i not in later:
            target = corpus / path.relative_to(tmp_path / "dump" / "docs")
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(path, target)
    db = tmp_path / "u.db"
    scan(corpus, CONFIG, db)
    for i in later:
        target = corpus / docs[i].relative_to(tmp_path / "dump" / "docs")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(docs[i], target)
    counts = scan(corpus, CONFIG, db).counts
    assert counts["files_read"] == 16
    assert result(db) == result(full_scan(corpus, tmp_path))


def test_cluster_ids_are_kept_and_a_new_canonical_is_recorded(tmp_path):
    corpus = tmp_path / "c"
    corpus.mkdir()
    text = "各级党组织要切实履行疫情防控主体责任，坚决守住外防输入内防反弹的底线。\n"
    other = "今年以来我市经济运行总体平稳，工业生产稳中有进，消费市场逐步回暖。\n"
    (corpus / "b.txt").write_text(other + text, encoding="utf-8")
    (corpus / "c.txt").write_text(text + other, encoding="utf-8")
    db = tmp_path / "u.db"
    scan(corpus, CONFIG, db)
    before = dict(query(db, "SELECT p.text, c.id FROM clusters c JOIN paragraphs p ON p.id = c.canonical_id"))
    (corpus / "a.txt").write_text(text, encoding="utf-8")  # sorts first: its copy becomes the canonical
    scan(corpus, CONFIG, db)
    after = dict(query(db, "SELECT p.text, c.id FROM clusters c JOIN paragraphs p ON p.id = c.canonical_id"))
    assert after == before  # same ids, though one canonical moved to a.txt
    canonical_doc = query(db, f"SELECT d.path FROM clusters c JOIN paragraphs p ON p.id = c.canonical_id JOIN documents d ON d.id = p.doc_id WHERE c.id = {before[text.strip()]}")
    assert canonical_doc == [("a.txt",)]
    changes = query(db, "SELECT run_id, kind, cluster_id FROM changes")
    assert changes == [(2, "canonical", before[text.strip()])]
    # a dissolved cluster's id is never given to a new one
    (corpus / "a.txt").unlink()
    (corpus / "b.txt").write_text(other, encoding="utf-8")
    (corpus / "c.txt").write_text(other, encoding="utf-8")
    scan(corpus, CONFIG, db)
    dissolved = {cid for (cid,) in query(db, "SELECT cluster_id FROM changes WHERE run_id = 3 AND kind = 'dissolved'")}
    assert dissolved == {before[text.strip()]}
    third = "全面推进乡村振兴，巩固拓展脱贫攻坚成果，让农民群众的日子越过越红火。\n"
    (corpus / "b.txt").write_text(other + third, encoding="utf-8")
    (corpus / "c.txt").write_text(other + third, encoding="utf-8")
    scan(corpus, CONFIG, db)
    new = {cid for (cid,) in query(db, "SELECT cluster_id FROM changes WHERE run_id = 4 AND kind = 'new'")}
    assert len(new) == 1 and not new & dissolved and min(new) > max(before.values())


def test_a_changed_option_or_full_scans_everything(tmp_path):
    corpus, db = scanned_seeds(tmp_path, SEEDS[1:2])
    assert "files_read" not in scan(corpus, ScanConfig(workers=1, threshold=0.7), db).counts
    assert "files_read" in scan(corpus, ScanConfig(workers=2, threshold=0.7), db).counts  # workers never matter
    assert "files_read" not in scan(corpus, ScanConfig(threshold=0.7), db, full=True).counts


def test_an_update_that_fails_leaves_the_previous_database(tmp_path, monkeypatch):
    import dedup.engines.local

    corpus, db = scanned_seeds(tmp_path, SEEDS[1:2])
    digest = hashlib.sha1(db.read_bytes()).hexdigest()
    shutil.copy(SEEDS[3], corpus)

    def boom(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(dedup.engines.local, "expand_clusters", boom)  # late in the update: most rows already written
    with pytest.raises(KeyboardInterrupt):
        scan(corpus, CONFIG, db)
    assert hashlib.sha1(db.read_bytes()).hexdigest() == digest
    assert not list(tmp_path.glob(".dedup-*"))


@pytest.mark.parametrize("full", [False, True], ids=["update", "full"])
def test_a_ctrl_c_during_the_commit_is_held_until_the_result_is_saved(tmp_path, monkeypatch, full):
    """The interrupt lands between the start of the commit and its end: the commit finishes,
    then the interrupt is raised as InterruptedAfterSaving (not a rollback of a finished
    transaction), and the database holds exactly what an uninterrupted run writes."""
    import os
    import signal

    import dedup.store.writer
    from dedup.store.writer import InterruptedAfterSaving

    corpus, db = scanned_seeds(tmp_path, SEEDS[1:2])
    shutil.copy(SEEDS[3], corpus)
    reference = tmp_path / "reference.db"
    shutil.copy(db, reference)
    scan(corpus, CONFIG, reference, full=full)
    original = dedup.store.writer.Writer._commit

    def interrupted(self):
        os.kill(os.getpid(), signal.SIGINT)
        original(self)

    monkeypatch.setattr(dedup.store.writer.Writer, "_commit", interrupted)
    with pytest.raises(InterruptedAfterSaving):
        scan(corpus, CONFIG, db, full=full)
    assert _tables(db) == _tables(reference)


def test_the_console_says_the_new_result_was_saved_when_interrupted_during_the_commit(tmp_path, monkeypatch, capsys):
    """Through the console entry (click wraps the interrupt in Abort): exit 130, and the
    message says the database holds the new result, not that it is as before."""
    import os
    import signal
    import sys

    import dedup.store.writer
    from dedup.apps.cli import main

    corpus, db = scanned_seeds(tmp_path, SEEDS[1:2])
    shutil.copy(SEEDS[3], corpus)
    original = dedup.store.writer.Writer._commit

    def interrupted(self):
        os.kill(os.getpid(), signal.SIGINT)
        original(self)

    monkeypatch.setattr(dedup.store.writer.Writer, "_commit", interrupted)
    monkeypatch.setattr(sys, "argv", ["dedup", "scan", str(corpus), "--db", str(db), "--workers", "1", "--quiet"])
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(SystemExit) as exit_:
            main()
    finally:
        signal.signal(signal.SIGINT, previous)
    assert exit_.value.code == 130
    assert "the database holds the new result" in capsys.readouterr().err
    with sqlite3.connect(db) as conn:
        assert SEEDS[3].name in {p for (p,) in conn.execute("SELECT path FROM documents")}


def _tables(db: Path) -> dict:
    """Every table's rows but the runs' (times differ)."""
    with sqlite3.connect(db) as conn:
        names = [n for (n,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name != 'runs' ORDER BY name")]
        return {n: sorted(map(repr, conn.execute(f"SELECT * FROM {n}"))) for n in names}


def test_add_and_remove_commands(tmp_path):
    corpus = tmp_path / "c"
    corpus.mkdir()
    for seed in SEEDS[:2]:
        shutil.copy(seed, corpus)
    db = tmp_path / "u.db"
    scan(corpus, CONFIG, db)
    shutil.copy(SEEDS[3], corpus)
    runner = CliRunner()
    out = runner.invoke(cli, ["add", str(db), str(corpus / SEEDS[3].name), "--workers", "1"])
    assert out.exit_code == 0, out.output
    assert out.output.startswith("1 document added;")
    assert result(db) == result(full_scan(corpus, tmp_path))
    out = runner.invoke(cli, ["remove", str(db), SEEDS[0].name, "--workers", "1"])
    assert out.exit_code == 0, out.output
    assert query(db, "SELECT count(*) FROM documents") == [(2,)]
    (corpus / SEEDS[0].name).unlink()
    assert result(db) == result(full_scan(corpus, tmp_path))
    out = runner.invoke(cli, ["remove", str(db), "missing.txt"])
    assert out.exit_code == 1 and "missing.txt: no such document in the database" in out.output
    (corpus / ".hidden.txt").write_text("隐藏的文件，扫描不会读它。\n", encoding="utf-8")
    out = runner.invoke(cli, ["add", str(db), str(corpus / ".hidden.txt")])
    assert out.exit_code == 1 and "a scan of the corpus would not read it" in out.output
    outside = tmp_path / "elsewhere.txt"
    outside.write_text("外面的文件，不在语料里。\n", encoding="utf-8")
    out = runner.invoke(cli, ["add", str(db), str(outside)])
    assert out.exit_code == 1 and "is outside the scanned corpus" in out.output
    import os

    gbk = Path(os.fsdecode(bytes(corpus) + "/新文件.txt".encode("gbk")))  # not UTF-8: found by the fuzzing
    gbk.write_text("名字不是UTF-8的文件。\n", encoding="utf-8")
    out = runner.invoke(cli, ["add", str(db), str(gbk)])
    assert out.exit_code == 1 and "name is not valid UTF-8" in out.output
    assert "\\x" in out.output.splitlines()[-1]  # its bytes shown, on one line


def test_jsonl_records_of_a_changed_file_are_replaced(tmp_path):
    corpus = tmp_path / "c"
    corpus.mkdir()
    text = "各级党组织要切实履行疫情防控主体责任，坚决守住外防输入内防反弹的底线。"
    records = [{"id": i, "text": text if i % 2 else f"第{i}条不同的记录，内容各不相同，编号{i * 7919}。"} for i in range(6)]
    path = corpus / "a.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    db = tmp_path / "u.db"
    scan(corpus, CONFIG, db)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records[:4]), encoding="utf-8")
    scan(corpus, CONFIG, db)
    assert query(db, "SELECT count(*) FROM documents") == [(4,)]
    assert result(db) == result(full_scan(corpus, tmp_path))


def test_a_file_read_again_keeps_the_ids_of_its_clusters(tmp_path):
    """Its paragraphs get new row ids, but a cluster is named by its canonical's document and
    key, so appending a line to a file changes no cluster id."""
    corpus, db = scanned_seeds(tmp_path, SEEDS)
    sql = "SELECT c.id, d.path, p.line_start FROM clusters c JOIN paragraphs p ON p.id = c.canonical_id JOIN documents d ON d.id = p.doc_id"
    before = set(query(db, sql))
    with open(corpus / SEEDS[1].name, "a", encoding="utf-8") as f:
        f.write("\n新加的一行，与别处都不相同的内容，放在文件的最后。\n")
    counts = scan(corpus, CONFIG, db).counts
    assert counts["files_read"] == 1 and counts["changes"] == 0
    assert set(query(db, sql)) == before
    assert any(path == SEEDS[1].name for _, path, _ in before)


def test_an_update_leaves_the_temporary_files_of_a_running_scan_alone(tmp_path):
    """A killed scan's temporary files are removed by the next run on the same target, but
    those of a scan still running (locked) are not."""
    from dedup.store.keystore import KeyStore
    from dedup.store.writer import Writer

    corpus, db = scanned_seeds(tmp_path, SEEDS[1:2])
    running = Writer(db)  # a full scan of the same target, in progress
    store = KeyStore(db.parent, prefix=f".dedup-{db.name}-keys-")
    stale = db.parent / f".dedup-{db.name}-killed.tmp"
    stale.write_bytes(b"left by a SIGKILL")
    try:
        shutil.copy(SEEDS[3], corpus)
        assert scan(corpus, CONFIG, db).counts["files_read"] == 1
        assert running.tmp.exists() and store.path.exists() and not stale.exists()
    finally:
        running.abort()
        store.close()


def test_remove_counts_each_path_once_and_never_empties_the_database(tmp_path):
    corpus, db = scanned_seeds(tmp_path, SEEDS[:2])
    runner = CliRunner()
    out = runner.invoke(cli, ["remove", str(db), SEEDS[0].name, SEEDS[0].name, "--workers", "1"])
    assert out.exit_code == 0 and out.output.startswith("1 file removed;")
    out = runner.invoke(cli, ["remove", str(db), SEEDS[1].name])
    assert out.exit_code == 1 and "would remove every document" in out.output


@pytest.mark.parametrize("policy,seed", [("first", 5), ("longest", 6), ("earliest", 7)])
def test_a_run_of_random_updates_stays_a_full_scan(tmp_path, policy, seed):
    """Several updates in a row, each adding, deleting and editing files (a paragraph moved,
    one dropped, one pasted from another file), under each canonical policy: after each one
    the database equals a full scan of the corpus as it then stands."""
    from bench.generate import generate

    generate(tmp_path / "dump", n_docs=60, seed=seed)
    source = tmp_path / "dump" / "docs"
    docs = sorted(p for p in source.rglob("*.txt"))
    rng = random.Random(seed)
    corpus = tmp_path / "c"
    config = ScanConfig(workers=1, canonical=policy)

    def put(path: Path, text: str) -> None:
        target = corpus / path.relative_to(source)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")

    present = set(rng.sample(range(len(docs)), 30))
    for i in present:
        put(docs[i], docs[i].read_text(encoding="utf-8"))
    db = tmp_path / "u.db"
    scan(corpus, config, db)
    for step in range(3):
        absent = sorted(set(range(len(docs))) - present)
        for i in rng.sample(absent, 6):  # new files
            put(docs[i], docs[i].read_text(encoding="utf-8"))
            present.add(i)
        for i in rng.sample(sorted(present), 3):  # deleted files
            (corpus / docs[i].relative_to(source)).unlink()
            present.discard(i)
        for i in rng.sample(sorted(present), 3):  # edited files
            path = corpus / docs[i].relative_to(source)
            lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
            donor = (corpus / docs[rng.choice(sorted(present))].relative_to(source)).read_text(encoding="utf-8").splitlines(keepends=True)
            if len(lines) > 2:
                lines.pop(rng.randrange(len(lines)))
                lines.insert(rng.randrange(len(lines)), lines.pop(rng.randrange(len(lines))))
            lines.insert(rng.randrange(len(lines) + 1), rng.choice(donor) if donor else "新的一行。\n")
            path.write_text("".join(lines), encoding="utf-8")
        counts = scan(corpus, config, db).counts
        assert "files_read" in counts, f"step {step} was not an update"
        full = tmp_path / f"full-{step}.db"
        scan(corpus, config, full, full=True)
        assert result(db) == result(full), f"step {step}"


def test_a_file_skipped_before_is_reported_again_by_every_update(tmp_path):
    """As a full scan would: an update without --skip-bad stops on it, one with it warns and
    counts it (it was hashed and kept in files, so it looked unchanged and went unmentioned)."""
    corpus = tmp_path / "c"
    corpus.mkdir()
    shutil.copy(SEEDS[0], corpus)
    (corpus / "bad.txt").write_bytes(b"caf\xe9 \xff\xfe \x81 not text")
    db = tmp_path / "d.db"
    runner = CliRunner()
    first = runner.invoke(cli, ["scan", str(corpus), "--db", str(db), "--skip-bad", "--workers", "1"])
    assert first.exit_code == 0 and "(1 skipped)" in first.output
    for _ in range(2):  # the second update follows one that skipped it too
        again = runner.invoke(cli, ["scan", str(corpus), "--db", str(db), "--skip-bad", "--workers", "1"])
        assert again.exit_code == 0 and "(1 skipped)" in again.output and "warning: bad.txt" in again.output
    stopped = runner.invoke(cli, ["scan", str(corpus), "--db", str(db), "--workers", "1"])
    assert stopped.exit_code == 1 and "bad.txt" in stopped.output
    full = runner.invoke(cli, ["scan", str(corpus), "--db", str(tmp_path / "full.db"), "--workers", "1"])
    assert full.exit_code == 1 and "bad.txt" in full.output
    # an add does not read it, but keeps it in its run's list: the next update still reports it
    shutil.copy(SEEDS[1], corpus)
    added = runner.invoke(cli, ["add", str(db), str(corpus / SEEDS[1].name), "--workers", "1"])
    assert added.exit_code == 0 and "warning: bad.txt" not in added.output
    again = runner.invoke(cli, ["scan", str(corpus), "--db", str(db), "--skip-bad", "--workers", "1"])
    assert again.exit_code == 0 and "(1 skipped)" in again.output and "warning: bad.txt" in again.output
    # mended, it is read once more, then never again (found by review: it was read forever)
    (corpus / "bad.txt").write_text("修好了的文件，现在可以读了。\n", encoding="utf-8")
    mended = runner.invoke(cli, ["scan", str(corpus), "--db", str(db), "--workers", "1"])
    assert mended.exit_code == 0 and "skipped)" not in mended.output and "warning" not in mended.output, mended.output
    with sqlite3.connect(db) as conn:
        assert json.loads(conn.execute("SELECT counts FROM runs ORDER BY id DESC LIMIT 1").fetchone()[0])["files_read"] == 1
    quiet = runner.invoke(cli, ["scan", str(corpus), "--db", str(db), "--workers", "1"])
    assert quiet.exit_code == 0 and "0 files new or changed" in quiet.output


def test_keys_that_follow_their_neighbours_give_the_full_scan(tmp_path):
    """An update that brings the twin which makes a key leave its first canonical (and one that
    takes it away again) ends where a full scan ends."""
    from helpers import write_corpus
    from texts import GPL_STANZA, LIBRARY_NOTICE, PACKAGE_NOTICE, PROGRAM_NOTICE

    config = ScanConfig(split="blocks", workers=1, containment=0.97)
    corpus = write_corpus(tmp_path / "c", {"1-stanza.txt": GPL_STANZA, "2-package.txt": PACKAGE_NOTICE, "3-program.txt": PROGRAM_NOTICE})
    db = tmp_path / "u.db"
    scan(corpus, config, db)
    relation = "SELECT m.relation FROM members m JOIN paragraphs p ON p.id = m.paragraph_id JOIN documents d ON d.id = p.doc_id WHERE d.path = '3-program.txt'"
    assert query(db, relation) == [("contained",)]
    for step, expected in (("add", "near"), ("remove", "contained")):
        if step == "add":
            (corpus / "4-library.txt").write_text(LIBRARY_NOTICE, encoding="utf-8")
        else:
            (corpus / "4-library.txt").unlink()
        assert scan(corpus, config, db).counts["files_read"] == (step == "add")
        full = tmp_path / f"full-{step}.db"
        scan(corpus, config, full, full=True)
        assert result(db) == result(full)
        assert query(db, relation) == [(expected,)]


def test_halves_of_a_broken_line_follow_their_source_as_in_a_full_scan(tmp_path):
    """The joined rule (match/joined.py) in an update: the source arrives after its broken
    copy, a second copy comes, the source goes; each step ends where a full scan ends."""
    broken = f"A header line of the second package.\n{NOTICE_FIRST_HALF}\n{NOTICE_SECOND_HALF} {NOTICE_ASIDE}\nThe end of it.\n"
    corpus = write_corpus(tmp_path / "c", {"b.txt": broken})
    db = tmp_path / "u.db"
    scan(corpus, CONFIG, db)
    steps = [("a.txt", f"The first package.\n{NOTICE_LINE}\n"), ("c.txt", f"{NOTICE_LINE.replace('free', 'libre')}\n"), ("a.txt", None)]
    for name, text in steps:
        if text is None:
            (corpus / name).unlink()
        else:
            (corpus / name).write_text(text, encoding="utf-8")
        scan(corpus, CONFIG, db)
        assert result(db) == result(full_scan(corpus, tmp_path))
    # a test that could fail: with the source there, both halves were its copies
    (corpus / "a.txt").write_text(f"The first package.\n{NOTICE_LINE}\n", encoding="utf-8")
    scan(corpus, CONFIG, db)
    assert query(db, "SELECT count(*) FROM members m JOIN paragraphs p ON p.id = m.paragraph_id JOIN documents d ON d.id = p.doc_id "
                     "WHERE d.path = 'b.txt' AND m.relation = 'contained'") == [(2,)]
