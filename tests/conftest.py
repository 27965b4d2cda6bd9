"""pytest's configuration of the suite: its hypothesis profile, fixtures, and what a session
writes at its end. What tests share besides is in helpers.py (``from helpers import ...``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from helpers import ARTIFACTS, FUZZ_COUNTS, SEEDS, Planted, build_planted, write_corpus

# Every other property test: no deadline either. A deadline is a wall-clock limit, and on a
# shared 2-core machine a slow moment fails a correct test (test_cluster's did, under load).
settings.register_profile("dedup", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("dedup")


@pytest.fixture
def make_corpus():
    """``make_corpus(folder, {relpath: text or bytes})`` writes the files and returns the folder."""
    return write_corpus


@pytest.fixture(scope="session")
def seeds() -> Path:
    assert SEEDS.is_dir(), f"seed corpus missing: {SEEDS}"
    return SEEDS


@pytest.fixture
def planted() -> Planted:
    return build_planted()


def pytest_sessionfinish(session, exitstatus) -> None:
    """Write the fuzz counts of this session, when it fuzzed anything."""
    if FUZZ_COUNTS:
        ARTIFACTS.mkdir(exist_ok=True)
        counts = json.dumps(dict(sorted(FUZZ_COUNTS.items())), indent=2)
        (ARTIFACTS / "fuzz-counts.json").write_text(counts + "\n", encoding="utf-8")
