"""The driver JVM's options (engines/spark_jvm.py): the class archive is recorded by a first
session, adopted once whole, then used; never one that is still being written."""

from __future__ import annotations

import os
import time

from dedup.engines import spark_jvm


def test_the_class_archive_is_recorded_then_adopted_when_whole_then_used(tmp_path, monkeypatch):
    monkeypatch.setenv("DEDUP_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("DEDUP_SPARK_CDS", raising=False)
    first = spark_jvm.driver_java_options()
    assert first.startswith(spark_jvm.BASE_OPTIONS)
    recording = first.split("-XX:ArchiveClassesAtExit=")[1]
    assert recording.endswith(f".part-{os.getpid()}")
    archive = recording.rsplit(".part-", 1)[0]
    # what this (live) process records is not taken, nor a dead one's that is still being written
    with open(recording, "wb") as f:
        f.write(b"x" * 100)
    dead = f"{archive}.part-999999999"
    with open(dead, "wb") as f:
        f.write(b"y" * 100)
    assert "-XX:ArchiveClassesAtExit=" in spark_jvm.driver_java_options() and not os.path.exists(archive)
    # once settled, the dead process's archive is adopted and used; the live one's stays
    old = time.time() - spark_jvm.SETTLE_S - 1
    os.utime(dead, (old, old))
    assert spark_jvm.driver_java_options() == f"{spark_jvm.BASE_OPTIONS} -XX:SharedArchiveFile={archive}"
    assert open(archive, "rb").read() == b"y" * 100 and os.path.exists(recording)


def test_no_archive_when_turned_off(tmp_path, monkeypatch):
    monkeypatch.setenv("DEDUP_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("DEDUP_SPARK_CDS", "0")
    assert spark_jvm.driver_java_options() == spark_jvm.BASE_OPTIONS
    assert not list(tmp_path.iterdir())


def test_a_jvm_that_does_not_start_with_the_archive_starts_without_it(tmp_path):
    """A damaged class archive crashes the JVM that maps it (SIGBUS on a truncated one; seen by
    hand): the session removes the archive and starts once more with the base options. Here
    the first start fails by a stack size the JVM refuses, beside the archive. In a process of
    its own: pyspark keeps one JVM a process, whatever the options of later sessions."""
    import subprocess
    import sys

    archive = tmp_path / "spark-classes-x.jsa"
    archive.write_bytes(b"\0" * 4096)
    code = (
        "import sys; from dedup.engines import spark as s, spark_jvm as j; "
        "s.driver_java_options = lambda: f'{j.BASE_OPTIONS} -XX:SharedArchiveFile={sys.argv[1]} -Xss1'; "
        "spark = s.session('local[1]'); print(spark.sparkContext.parallelize([1, 2, 3]).sum()); spark.stop()"
    )
    done = subprocess.run([sys.executable, "-c", code, str(archive)], capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert done.returncode == 0, done.stderr[-1500:]
    assert done.stdout.strip().splitlines()[-1] == "6"
    assert not archive.exists()
