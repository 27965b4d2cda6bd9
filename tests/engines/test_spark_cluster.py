"""The Spark engine on a real standalone cluster: a master and a worker on loopback, started by
tools/spark_cluster.py from the installed pyspark, whose executors run a Python without dedup
(the engine ships its package to them). The seeds scanned there through the CLI, as a new user
would, give the local engine's tables row for row."""

from __future__ import annotations

import importlib.util
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from dedup.config import ScanConfig
from helpers import assert_same_tables, free_port
from dedup.pipeline import scan

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


def _tool():
    spec = importlib.util.spec_from_file_location("spark_cluster", ROOT / "tools" / "spark_cluster.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_seeds_on_a_standalone_cluster_whose_python_has_no_dedup(seeds, tmp_path):
    tool = _tool()
    with tool.cluster(tmp_path / "cluster", port=free_port(), ui_port=free_port(), bare=True) as env:
        bare = env["PYSPARK_PYTHON"]
        found = subprocess.run([bare, "-c", "import importlib.util as u; print(u.find_spec('dedup'))"], capture_output=True, text=True, cwd=tmp_path)
        assert found.stdout.strip() == "None"  # the executors' Python cannot import dedup but by the shipped package
        result = subprocess.run(
            [sys.executable, "-m", "dedup", "scan", str(seeds), "--engine", "spark", "--master", env["MASTER"], "--db", str(tmp_path / "spark.db"), "-q"],
            env={**os.environ, **env}, cwd=tmp_path, capture_output=True, text=True, timeout=600,
        )
    assert result.returncode == 0, result.stderr[-2000:]
    scan(seeds, ScanConfig(), tmp_path / "local.db")
    assert_same_tables(tmp_path / "local.db", tmp_path / "spark.db")
    timings = json.loads(sqlite3.connect(tmp_path / "spark.db").execute("SELECT timings FROM runs").fetchone()[0])
    assert (timings["spark_jobs"], timings["spark_stages"]) == (1, 1)
