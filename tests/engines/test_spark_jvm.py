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
