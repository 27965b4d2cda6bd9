"""The Java options of the Spark engine's driver JVM: a start in about half the time.

The driver's JVM schedules tasks and moves the bytes Python makes (on a local master it is the
executors' JVM too); for a scan that fits the driver its start and first job are most of the
time. Two things cut them on a loaded 2-core machine (bench/README.md):

- C1 alone and the serial collector: C2's compiler threads and a parallel collector's threads
  otherwise compete with the Python workers for the cores (session start 10.4-19.6 s -> 5.3-5.9 s).
- A class-data archive of the classes Spark loads (JDK 13+'s dynamic CDS): the first session
  records it when its JVM exits (``-XX:ArchiveClassesAtExit``, to a name of its own), later ones
  map it (``-XX:SharedArchiveFile``) instead of loading and verifying thousands of classes from
  280 jars (session start 7.8-8.6 s -> 4.0-4.6 s). It is ~120 MB, in dedup's cache folder, named
  by the pyspark version and the Java home. A damaged archive crashes the JVM (SIGBUS on a
  truncated one): ``spark.session`` then removes it and starts once more without it.

A cluster's executors keep their JVM's defaults: they run the long jobs. ``DEDUP_SPARK_CDS=0``
leaves the archive out.
"""

from __future__ import annotations

import glob
import hashlib
import os
import shutil
import time
from pathlib import Path

BASE_OPTIONS = "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"
SETTLE_S = 60  # seconds a recorded archive is left unchanged before it is taken as whole


def driver_java_options() -> str:
    """``spark.driver.extraJavaOptions`` for a new session: BASE_OPTIONS and the class archive's
    option (use it, or record it at exit when there is none yet)."""
    folder = _archive_folder()
    if folder is None or os.environ.get("DEDUP_SPARK_CDS", "1") == "0":
        return BASE_OPTIONS
    archive = folder / f"spark-classes-{_archive_key()}.jsa"
    _adopt_finished(archive)
    if archive.exists():
        return f"{BASE_OPTIONS} -XX:SharedArchiveFile={archive}"
    return f"{BASE_OPTIONS} -XX:ArchiveClassesAtExit={archive}.part-{os.getpid()}"


def discard_archive(options: str) -> bool:
    """Remove the class archive that ``options`` map, after a JVM did not start with them (a
    damaged archive crashes it); was there one?"""
    used = [o.split("=", 1)[1] for o in options.split() if o.startswith("-XX:SharedArchiveFile=")]
    for path in used:
        try:
            os.unlink(path)
        except OSError:
            pass
    return bool(used)


def _archive_folder() -> Path | None:
    folder = Path(os.environ.get("DEDUP_CACHE_DIR") or os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "dedup"))
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    return folder if os.access(folder, os.W_OK) else None


def _archive_key() -> str:
    """What the archive is valid for: this pyspark (its jars) and this Java."""
    import pyspark

    java = os.environ.get("JAVA_HOME") or os.path.realpath(shutil.which("java") or "java")
    return hashlib.sha1(f"{pyspark.__version__}\0{pyspark.__file__}\0{java}".encode()).hexdigest()[:16]


def _adopt_finished(archive: Path) -> None:
    """An archive recorded by an earlier session becomes ``archive`` once it is whole: its
    Python process has ended and the file has not changed for SETTLE_S (the JVM writes it at its
    own exit, a few seconds after Python's)."""
    for part in glob.glob(f"{glob.escape(str(archive))}.part-*"):
        pid = part.rsplit("-", 1)[-1]
        try:
            settling = time.time() - os.path.getmtime(part) < SETTLE_S
        except OSError:
            continue
        if settling or (pid.isdigit() and _alive(int(pid))):
            continue
        try:
            if archive.exists() or os.path.getsize(part) == 0:
                os.unlink(part)
            else:
                os.replace(part, archive)
        except OSError:
            pass


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
