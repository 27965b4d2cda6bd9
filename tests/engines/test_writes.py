"""The service's writes (engines/writes.py): any sequence of posts, batches and removals, with
the live corpus merged mid-sequence, leaves the database a full scan of the same documents in
the same order, and the query index advanced by each append equals one built afresh."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest

from helpers import rows, scan_result
from dedup.config import ScanConfig
from dedup.engines import delta
from dedup.engines.writes import Posted, Writes
from dedup.pipeline import scan
from dedup.store import lookup
from dedup.store.lookup import StoredIndex


def _same_index(advanced: StoredIndex, fresh: StoredIndex) -> None:
    assert advanced.run_id == fresh.run_id
    for name in ("key_of_fp", "n_anchors", "cluster_of_key", "canonical"):
        assert getattr(advanced, name).as_dict() == getattr(fresh, name).as_dict(), name
    for name in ("bands", "anchors"):
        postings = getattr(advanced, name)
        assert postings.pairs() == getattr(fresh, name).pairs()
        assert np.all(np.diff(postings.codes) >= 0) and np.all(np.diff(postings.more[0]) >= 0)


@pytest.mark.parametrize("seed", [3, 4])
def test_posts_batches_and_removals_stay_a_full_scan(tmp_path, monkeypatch, seed):
    from bench.generate import generate

    monkeypatch.setattr(delta, "MERGE_AT", 300)  # merges of the buckets happen mid-sequence
    monkeypatch.setattr(lookup, "OVERLAY_MAX", 200)  # and of the query index's overlays
    generate(tmp_path / "dump", n_docs=44, seed=seed)
    docs = sorted((tmp_path / "dump" / "docs").rglob("*.txt"))
    rng = random.Random(seed)
    rng.shuffle(docs)
    corpus = tmp_path / "c"
    corpus.mkdir()
    for i, path in enumerate(docs[:20]):
        (corpus / f"a{i:02d}.txt").write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    config = ScanConfig(workers=1)
    db = tmp_path / "served.db"
    scan(corpus, config, db, full=True)
    writes, index = Writes(db), StoredIndex(db)
    queue = [(f"zz-{i:03d}.txt", p.read_text(encoding="utf-8")) for i, p in enumerate(docs[20:])]
    step = 0
    while queue:
        if step % 4 == 3:  # a removal: of a posted document or of a scanned file
            doc_id, path = rng.choice(rows(db, "SELECT id, path FROM documents ORDER BY id"))
            writes.remove(doc_id)
            (corpus / path).unlink()
            index = StoredIndex(db)
        else:
            batch = queue[: rng.randint(1, 3)]
            queue = queue[len(batch):]
            done = writes.post([Posted(text, name) for name, text in batch])
            for name, text in batch:
                (corpus / name).write_text(text, encoding="utf-8")
            if done.reclustered is not None:
                index = index.advanced(done.reclustered)
                _same_index(index, StoredIndex(db))
        full = tmp_path / f"full-{step}.db"
        scan(corpus, config, full, full=True)
        assert scan_result(db) == scan_result(full), f"step {step}"
        step += 1


def test_the_writer_process_writes_and_sends_errors_back_whole(tmp_path):
    """``WriterProcess`` stores as ``Writes`` does, and its errors come back as the same
    exceptions (a full disk as a WriteError with its fields: the service words its 507 from them)."""
    from dedup.engines.writes import WriterProcess, _portable, _rebuilt
    from dedup.errors import CorpusError, WriteError

    error = _rebuilt(_portable(WriteError("/x/db", "the updated database", "no space left on the device", "free space")))
    assert isinstance(error, WriteError) and (error.path, error.what, error.reason) == ("/x/db", "the updated database", "no space left on the device")
    corpus = tmp_path / "c"
    corpus.mkdir()
    (corpus / "a.txt").write_text("一段足够长的文字，用来检查写入的进程。\n另一段完全不同的文字，也足够长了。\n", encoding="utf-8")
    db = tmp_path / "d.db"
    scan(corpus, ScanConfig(workers=1), db, full=True)
    writer = WriterProcess(db)
    try:
        done = writer.post([Posted("一段足够长的文字，用来检查写入的进程。\n", "zz.txt")])
        assert writer.last == done and done.reclustered is not None and done.run == 2
        with pytest.raises(CorpusError, match="same id"):
            writer.post([Posted("甲乙丙丁", "x"), Posted("戊己庚辛", "x")])
        with pytest.raises(LookupError):
            writer.remove(999)
    finally:
        writer.pipe.close()
        writer.process.join(10)
    assert not writer.process.is_alive()  # it ends when the pipe closes
    (corpus / "zz.txt").write_text("一段足够长的文字，用来检查写入的进程。\n", encoding="utf-8")
    full = tmp_path / "full.db"
    scan(corpus, ScanConfig(workers=1), full, full=True)
    assert scan_result(db) == scan_result(full)
