"""Interruption: scans, updates and cleans killed (SIGINT to the process group, SIGKILL to the
main process) leave the previous result or the new one, never a mix; the corpus untouched;
no traceback; and a run again gives the uninterrupted result. ``python -m bench interrupt``
does the same many more times and reports the figures."""

from __future__ import annotations

import os
import signal

import pytest

from bench.interrupt import MODES, Bench


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    return Bench(tmp_path_factory.mktemp("interrupt"), n_docs=60, seed=4)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL], ids=["SIGINT", "SIGKILL"])
@pytest.mark.parametrize("share", [0.3, 0.75])
def test_a_killed_run_loses_nothing_and_finishes_on_the_next(bench, mode, sig, share):
    outcome = bench.trial(0, mode, sig, share * bench.durations[mode])
    assert outcome["survived"], outcome["problems"]


def test_a_clean_into_a_folder_with_stale_temporary_files_removes_them(tmp_path):
    from dedup.atomic import remove_temporaries

    (tmp_path / "d").mkdir()
    stale = tmp_path / "d" / ".a.txt-abcd1234.tmp"
    stale.write_text("half", encoding="utf-8")
    kept = tmp_path / "d" / ".notes.tmp"
    kept.write_text("mine", encoding="utf-8")
    assert remove_temporaries(tmp_path) == 1
    assert not stale.exists() and kept.exists()


def test_only_a_traceback_without_dedup_frames_counts_as_python_start_up():
    from bench.interrupt import in_python_startup

    startup = 'Fatal Python error: init_import_site\nTraceback (most recent call last):\n  File "<frozen site>", line 616, in <module>\nKeyboardInterrupt\n'
    ours = f'Traceback (most recent call last):\n  File "{os.sep}x{os.sep}dedup{os.sep}scan.py", line 5, in scan\nKeyboardInterrupt\n'
    assert in_python_startup(startup)
    assert not in_python_startup(ours)
    assert not in_python_startup("Interrupted: the database keeps its previous result.\n")
