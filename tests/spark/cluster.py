"""A throwaway Spark standalone cluster (one master, N workers) on 127.0.0.1, for the
tests that must see tasks leave the driver: pickling our functions, executors running
this venv's Python, work split over machines. Test and ops tooling, not product code.

pyspark's pip package has no sbin/start-master.sh, but it has bin/spark-class, which runs
the Master and Worker classes in the foreground (SPARK_NO_DAEMONIZE=1): we start them as
subprocesses, each in its own process group, so stopping the group stops the launcher and
the JVM (and a worker's executors) together.

`python -m tests.spark.cluster` starts one and waits: handy to try a driver against it.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

START_DEADLINE = 60.0  # seconds for the master to see every worker ALIVE
STOP_GRACE = 10.0  # seconds between SIGTERM and SIGKILL
DAEMON_MEMORY = "256m"  # heap of the master and worker JVMs (spark-class's default is 1g each)


def spark_home() -> Path:
    """The pyspark package folder: it holds bin/spark-class and the jars."""
    import pyspark

    return Path(pyspark.__file__).parent


def free_port() -> int:
    """A port free now on 127.0.0.1 (the OS picks it; a race with other processes is possible
    but short, and shows as a start failure with the logs)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _environment(folder: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        SPARK_HOME=str(spark_home()),
        SPARK_NO_DAEMONIZE="1",
        SPARK_DAEMON_MEMORY=DAEMON_MEMORY,
        SPARK_LOCAL_IP="127.0.0.1",
        # an empty conf folder: no spark-defaults.conf or spark-env.sh of the machine leaks in
        SPARK_CONF_DIR=str(folder / "conf"),
    )
    (folder / "conf").mkdir(exist_ok=True)
    return env


def driver_environment() -> dict[str, str]:
    """The environment for a driver process: executors run the Python the driver names in
    PYSPARK_PYTHON (else `python3` from PATH, not necessarily this venv's: a worker's own
    environment does not change it); bind to 127.0.0.1, not the host's other address."""
    return {**os.environ, "PYSPARK_PYTHON": sys.executable, "SPARK_LOCAL_IP": "127.0.0.1"}


def _die_with_parent() -> None:
    """In the child before exec (Linux): SIGTERM when the process that started it ends, so a
    test run killed outright (SIGKILL, out of memory) leaves no JVM behind. spark-class execs
    the JVM, which keeps the setting; a worker's executors exit when their worker does."""
    import ctypes

    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM, 0, 0, 0)


def _start(name: str, args: list[str], env: dict[str, str], folder: Path) -> subprocess.Popen:
    spark_class = spark_home() / "bin" / "spark-class"
    with open(folder / f"{name}.log", "wb") as log:
        return subprocess.Popen([str(spark_class), *args], env=env, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, cwd=folder, start_new_session=True,
                                preexec_fn=_die_with_parent if sys.platform == "linux" else None)


def master_state(webui_port: int) -> dict:
    """The master's own report (its web UI's /json/): workers, their state, cores, memory."""
    with urllib.request.urlopen(f"http://127.0.0.1:{webui_port}/json/", timeout=5) as response:
        return json.load(response)


def _alive_workers(webui_port: int) -> int:
    try:
        state = master_state(webui_port)
    except OSError:  # not listening yet
        return 0
    return sum(1 for worker in state.get("workers", []) if worker.get("state") == "ALIVE")


def _logs_tail(folder: Path, lines: int = 30) -> str:
    parts = []
    for log in sorted(folder.glob("*.log")):
        tail = log.read_text(errors="replace").splitlines()[-lines:]
        parts.append(f"--- {log.name} (last {len(tail)} lines)\n" + "\n".join(tail))
    return "\n".join(parts)


def _wait_for_workers(webui_port: int, workers: int, processes: dict[str, subprocess.Popen],
                      folder: Path) -> None:
    deadline = time.monotonic() + START_DEADLINE
    while True:
        alive = _alive_workers(webui_port)
        if alive >= workers:
            return
        ended = {name: p.returncode for name, p in processes.items() if p.poll() is not None}
        if ended or time.monotonic() > deadline:
            why = f"exited early {ended}" if ended else f"{alive} of {workers} workers ALIVE after {START_DEADLINE:.0f} s"
            raise RuntimeError(f"Spark standalone cluster did not start: {why}\n{_logs_tail(folder)}")
        time.sleep(0.25)  # poll interval, not a wait for readiness


def _stop(processes: list[subprocess.Popen]) -> None:
    """SIGTERM every process group (workers' first, each with its executors), then SIGKILL
    whatever is left after the grace period."""
    for process in processes:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE
    for process in processes:
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            pass
        # the group, not only the leader: an executor JVM may outlive its worker
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@contextlib.contextmanager
def standalone_cluster(workers: int = 2, cores: int = 1, memory: str = "1g") -> Iterator[str]:
    """Start a master and `workers` workers (each offering `cores` cores and `memory`), wait
    until the master reports them all ALIVE, yield the master URL (spark://127.0.0.1:port);
    on exit stop them all and remove their folder (logs, work dirs)."""
    # named like the engine's folders (group-etl-<pid>-*): one left by a killed run is removed
    # by the next engine (etl.store.columnar.remove_orphan_folders)
    folder = Path(tempfile.mkdtemp(prefix=f"group-etl-{os.getpid()}-"))
    processes: dict[str, subprocess.Popen] = {}
    try:
        env = _environment(folder)
        port, webui = free_port(), free_port()
        master = f"spark://127.0.0.1:{port}"
        processes["master"] = _start("master", [
            "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1", "--port", str(port),
            "--webui-port", str(webui)], env, folder)
        for n in range(1, workers + 1):
            work_dir = folder / f"worker-{n}"
            work_dir.mkdir()
            processes[f"worker-{n}"] = _start(f"worker-{n}", [
                "org.apache.spark.deploy.worker.Worker", "--host", "127.0.0.1", "--cores", str(cores),
                "--memory", memory, "--webui-port", str(free_port()), "--work-dir", str(work_dir),
                master], env, folder)
        _wait_for_workers(webui, workers, processes, folder)
        yield master
    finally:
        _stop(list(reversed(processes.values())))
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    with standalone_cluster() as url:
        print(url, flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            signal.pause()
