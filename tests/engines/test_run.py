"""What a run is for every engine (dedup/run.py): its skips, its counts, its stage names."""

import json
import sqlite3

import pytest

from dedup.run import COUNTS, ENGINE_STEPS, STAGES, Run, scan_counts
from dedup.sources.corpus import BinaryFileError, Skipped, UnreadableFileError


def test_a_bad_file_stops_a_run_unless_it_may_skip_and_a_binary_is_always_skipped():
    heard: list[Skipped] = []
    strict = Run(on_skip=heard.append)
    with pytest.raises(UnreadableFileError):
        strict.skip_or_raise(UnreadableFileError("a.txt", "not UTF-8"))
    strict.skip_or_raise(BinaryFileError("b.png", "binary"))
    lenient = Run(skip_bad=True, on_skip=heard.append)
    lenient.skip_or_raise(UnreadableFileError("a.txt", "not UTF-8"))
    assert [s.path for s in strict.skipped] == ["b.png"]
    assert [s.path for s in lenient.skipped] == ["a.txt"]
    assert [s.path for s in heard] == ["b.png", "a.txt"]
    assert strict.on_listing_error is None and lenient.on_listing_error == lenient.skip


def test_counts_must_name_every_count_of_a_run():
    values = {name: 1 for name in COUNTS}
    assert scan_counts(**values, files=2) == {**values, "files": 2}
    del values["verified_edges"]
    with pytest.raises(ValueError, match="verified_edges"):
        scan_counts(**values)


def test_a_scan_and_an_update_store_the_same_counts_and_stage_names(tmp_path):
    import dedup

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    text = "The same paragraph of text, long enough to be matched, in two files.\n\nAnother one here.\n"
    (corpus / "a.txt").write_text(text)
    (corpus / "b.txt").write_text(text)
    db = tmp_path / "dedup.db"
    dedup.scan(corpus, db=db)
    (corpus / "c.txt").write_text(text)
    dedup.add(db, [corpus / "c.txt"])
    with sqlite3.connect(db) as conn:
        runs = conn.execute("SELECT counts, timings FROM runs ORDER BY id").fetchall()
    assert len(runs) == 2
    for counts, timings in runs:
        assert set(COUNTS) <= set(json.loads(counts))
    scanned, updated = (set(json.loads(timings)) for _, timings in runs)  # stored with sorted keys: names, not order
    assert scanned == set(STAGES)
    assert set(STAGES) <= updated <= set(STAGES) | set(ENGINE_STEPS)


class _Engine:
    """An engine that records the stages it is asked to run."""

    def __init__(self, steps=STAGES, counts=None):
        self.steps = steps
        self.ran: list[str] = []
        self._counts = counts if counts is not None else {name: 0 for name in COUNTS}

    def __getattr__(self, name):
        if name in STAGES or name in ENGINE_STEPS:
            return lambda: self.ran.append(name)
        raise AttributeError(name)

    def counts(self):
        return self._counts


def test_a_run_executes_an_engines_stages_in_the_one_order_timing_each():
    run = Run()
    engine = _Engine()
    assert run.execute(engine) == {name: 0 for name in COUNTS}
    assert engine.ran == list(STAGES) == list(run.timer.timings)
    with_load = _Engine(steps=("read", "sign", "load", "candidates", "verify", "cluster", "store", "passages"))
    Run().execute(with_load)
    assert with_load.ran == list(with_load.steps)


@pytest.mark.parametrize("steps", [
    ("sign", "read", "candidates", "verify", "cluster", "store", "passages"),  # out of order
    ("read", "sign", "candidates", "verify", "cluster", "store"),  # one left out
    ("read", "sign", "candidates", "verify", "cluster", "store", "passages", "dance"),  # one unknown
])
def test_a_run_refuses_an_engine_whose_steps_are_not_the_stages(steps):
    engine = _Engine(steps=steps)
    with pytest.raises(ValueError, match="in order"):
        Run().execute(engine)
    assert engine.ran == []


def test_a_run_refuses_an_engine_that_does_not_report_every_count():
    counts = {name: 0 for name in COUNTS if name != "clusters"}
    with pytest.raises(ValueError, match="clusters"):
        Run().execute(_Engine(counts=counts))


def test_the_local_and_update_engines_declare_the_stages():
    from dedup.engines.local import LocalStages
    from dedup.engines.update import UpdateStages

    assert LocalStages.steps == STAGES
    assert [s for s in UpdateStages.steps if s in STAGES] == list(STAGES)
