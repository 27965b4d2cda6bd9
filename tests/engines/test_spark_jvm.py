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


def test_a_jvm_that_does_not_start_with_the_archive_starts_without_it(tmp_path, monkeypatch):
    """A damaged class archive crashes the JVM that maps it (SIGBUS on a truncated one; seen by
    hand): the session removes the archive and starts once more with the base options. Here
    the first start fails by a stack size the JVM refuses, beside the archive."""
    from pyspark.sql import SparkSession

    from dedup.engines import spark as spark_engine

    if SparkSession.getActiveSession() is not None:
        SparkSession.getActiveSession().stop()
    archive = tmp_path / "spark-classes-x.jsa"
    archive.write_bytes(b"\0" * 4096)
    monkeypatch.setattr(spark_engine, "driver_java_options", lambda: f"{spark_jvm.BASE_OPTIONS} -XX:SharedArchiveFile={archive} -Xss1")
    spark = spark_engine.session("local[1]")
    try:
        assert spark.sparkContext.parallelize([1, 2, 3]).sum() == 6
        assert not archive.exists()
    finally:
        spark.stop()
