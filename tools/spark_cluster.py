"""A Spark standalone cluster on this machine's loopback, from the installed pyspark: one master
and one worker, as a new user would start them to try ``dedup scan --engine spark``.

    python tools/spark_cluster.py start [--dir .spark-cluster] [--port 7077] [--cores 2] [--memory 2g] [--bare]
    python tools/spark_cluster.py stop  [--dir .spark-cluster]

``start`` starts the master, waits until it answers, then starts the worker and waits until the
master lists it alive (a worker started first retries its registration for a long while);
it prints the master URL and the environment a driver needs (SPARK_LOCAL_IP, and with
``--bare`` PYSPARK_PYTHON: a Python that has this Python's libraries but not dedup, as on a
cluster where dedup is not installed, so the engine's shipped package is what the executors
run). The processes' ids go to DIR/pids.json; ``stop`` ends those processes, and only them.
``cluster()`` is the same as a context manager (tests/engines/test_spark_cluster.py).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import sysconfig
import time
import urllib.request
from pathlib import Path
from typing import Iterator

HOST = "127.0.0.1"
WAIT_S = 90  # how long the master and the worker are given to come up


def spark_class() -> Path:
    """The installed pyspark's ``bin/spark-class`` (the launcher of Spark's daemons)."""
    import pyspark

    return Path(pyspark.__file__).parent / "bin" / "spark-class"


def bare_python(folder: Path) -> Path:
    """A Python without dedup: a venv whose one .pth names this Python's site-packages, whose
    own .pth files (the editable install's finder among them) are then not run."""
    python = folder / "bin" / "python"
    if not python.exists():
        subprocess.run([getattr(sys, "_base_executable", sys.executable), "-m", "venv", "--without-pip", str(folder)], check=True)
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               check=True, capture_output=True, text=True).stdout.strip())
    (site / "libraries.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    probe = subprocess.run([str(python), "-c", "import numpy, importlib.util as u; print(u.find_spec('dedup') is None)"],
                           capture_output=True, text=True, cwd=folder)  # not here: a checkout's dedup/ would be found
    if probe.stdout.strip() != "True":
        raise SystemExit(f"{python}: not a Python with numpy and without dedup ({probe.stderr.strip()[-200:]})")
    return python


def _wait(what: str, ready, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + WAIT_S
    while not ready():
        if process.poll() is not None:
            raise SystemExit(f"the {what} exited with {process.returncode}; see {log}")
        if time.monotonic() > deadline:
            raise SystemExit(f"the {what} did not come up in {WAIT_S} s; see {log}")
        time.sleep(0.3)


def _port_open(port: int) -> bool:
    with contextlib.closing(socket.socket()) as s:
        s.settimeout(0.5)
        return s.connect_ex((HOST, port)) == 0


def _alive_workers(ui_port: int) -> int:
    try:
        with urllib.request.urlopen(f"http://{HOST}:{ui_port}/json/", timeout=2) as r:
            return sum(w.get("state") == "ALIVE" for w in json.load(r).get("workers", []))
    except (OSError, ValueError):
        return 0


def _daemon(args: list[str], log: Path, env: dict) -> subprocess.Popen:
    """A Spark daemon in a session of its own (so that stop ends it and its children)."""
    with log.open("ab") as out:
        return subprocess.Popen([str(spark_class()), *args], stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)


def start(folder: Path, port: int = 7077, cores: int = 2, memory: str = "2g", bare: bool = False, ui_port: int | None = None) -> dict:
    """Start the master, then the worker; return the driver's environment (MASTER among it).
    The master's web UI (where the worker is seen alive) is on ``ui_port``, by default
    ``port`` + 1003 (8080 for 7077, as Spark pairs them); the worker's on any free port."""
    folder.mkdir(parents=True, exist_ok=True)
    if _port_open(port):
        raise SystemExit(f"{HOST}:{port} is taken: a cluster runs already (stop it), or pass --port")
    ui = ui_port or port + 1003
    env = {**os.environ, "SPARK_LOCAL_IP": HOST, "SPARK_WORKER_DIR": str(folder.resolve() / "work"), "SPARK_LOG_DIR": str(folder.resolve())}
    master = _daemon(["org.apache.spark.deploy.master.Master", "--host", HOST, "--port", str(port), "--webui-port", str(ui)], folder / "master.log", env)
    pids = {"master": master.pid}
    (folder / "pids.json").write_text(json.dumps(pids))
    _wait("master", lambda: _port_open(port) and _port_open(ui), master, folder / "master.log")
    url = f"spark://{HOST}:{port}"
    worker = _daemon(["org.apache.spark.deploy.worker.Worker", "--host", HOST, "--cores", str(cores), "--memory", memory,
                      "--webui-port", "0", url], folder / "worker.log", env)
    pids["worker"] = worker.pid
    (folder / "pids.json").write_text(json.dumps(pids))
    _wait("worker", lambda: _alive_workers(ui) > 0, worker, folder / "worker.log")
    driver = {"MASTER": url, "SPARK_LOCAL_IP": HOST}
    if bare:
        driver["PYSPARK_PYTHON"] = str(bare_python(folder / "bare-python"))
    return driver


def stop(folder: Path) -> None:
    """End the processes that ``start`` recorded in FOLDER/pids.json (their sessions), and no other."""
    record = folder / "pids.json"
    if not record.exists():
        return
    for pid in json.loads(record.read_text()).values():
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGTERM)
    for pid in json.loads(record.read_text()).values():
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and _running(pid):
            time.sleep(0.2)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)
    record.unlink()


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        return os.waitpid(pid, os.WNOHANG) == (0, 0)  # a child of ours (cluster()): reaped when it has ended
    except ChildProcessError:
        return True


@contextlib.contextmanager
def cluster(folder: Path, **options) -> Iterator[dict]:
    """``start`` ... ``stop``, whatever happens in between: yields the driver's environment."""
    try:
        yield start(folder, **options)
    finally:
        stop(folder)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python tools/spark_cluster.py", description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["start", "stop"])
    parser.add_argument("--dir", type=Path, default=Path(".spark-cluster"), help="logs, work folders and the pids (default .spark-cluster)")
    parser.add_argument("--port", type=int, default=7077)
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--memory", default="2g")
    parser.add_argument("--bare", action="store_true", help="executors run a Python without dedup (PYSPARK_PYTHON printed)")
    args = parser.parse_args(argv)
    if args.action == "stop":
        stop(args.dir)
        return 0
    env = start(args.dir, args.port, args.cores, args.memory, args.bare)
    print(" ".join(f"{k}={v}" for k, v in env.items() if k != "MASTER"), f"dedup scan CORPUS --engine spark --master {env['MASTER']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
