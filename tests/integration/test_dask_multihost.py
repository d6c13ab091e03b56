"""A Dask cluster across hosts: `dask scheduler` and two `dask worker`s, each in its own network
namespace with its own address, none with the DAG folder; `orchestrator scheduler` outside them.

The hosts are made with `ip netns` and veth pairs on a bridge (root is needed, as in CI). The
workers get the DAG folder as a code bundle with the work: the task reports the file it runs
from, which lies in the worker's bundle cache, not in the DAG folder.

These tests are sensitive to load (timeouts across processes): a failure prints the scheduler's
and the cluster's logs, and every process they start is stopped by its id, whatever happens.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from orchestrator.execution.dask_executor import SATURATION_ENV

from .harness import DASK, ORCHESTRATOR, SchedulerProcess, cli_env, orch, task_rows, upgraded_sessions, wait_until, write_dag

pytestmark = pytest.mark.slow

HELPER = """
    import os
    import time
    from pathlib import Path


    def where(marker_dir, label, linger_s):
        \"\"\"Say which host ran this and from which file; linger so a test can kill the worker meanwhile.\"\"\"
        host = os.environ["ORCH_TEST_HOST"]
        Path(marker_dir, f"{label}.{host}").touch()
        time.sleep(linger_s)
        return {"host": host, "file": __file__}
"""

DAG_FILE = """
    from orchestrator import DAG, PythonTask
    from helpers import where  # a module beside the DAG file: it travels in the bundle too

    with DAG("across_hosts", params={{"linger_s": 0}}) as dag:
        PythonTask(task_id="first", python_callable=where, op_args=[{marker!r}, "first", 0]) >> PythonTask(
            task_id="second", python_callable=where, op_args=[{marker!r}, "second", {linger}]
        )
"""


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


@dataclass
class Hosts:
    """The namespaces, their addresses and the processes started in them."""

    tag: str
    subnet: str
    bridge: str
    names: list[str]

    def address(self, i: int) -> str:
        return f"{self.subnet}.{10 + i}"


@pytest.fixture
def hosts() -> Iterator[Hosts]:
    tag = f"o{os.getpid() % 10000}{random.randrange(100)}"
    subnet = f"10.{random.randrange(100, 250)}.{random.randrange(1, 250)}"
    made = Hosts(tag, subnet, f"br{tag}", [f"{tag}-dasksched", f"{tag}-worker1", f"{tag}-worker2"])
    _ip("link", "add", made.bridge, "type", "bridge")
    try:
        _ip("addr", "add", f"{subnet}.1/24", "dev", made.bridge)
        _ip("link", "set", made.bridge, "up")
        for i, ns in enumerate(made.names):
            _ip("netns", "add", ns)
            outside, inside = f"v{tag}{i}a", f"v{tag}{i}b"
            _ip("link", "add", outside, "type", "veth", "peer", "name", inside)
            _ip("link", "set", inside, "netns", ns)
            _ip("link", "set", outside, "master", made.bridge)
            _ip("link", "set", outside, "up")
            _ip("netns", "exec", ns, "ip", "addr", "add", f"{made.address(i)}/24", "dev", inside)
            _ip("netns", "exec", ns, "ip", "link", "set", inside, "up")
            _ip("netns", "exec", ns, "ip", "link", "set", "lo", "up")
        yield made
    finally:
        for ns in made.names:
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        subprocess.run(["ip", "link", "del", made.bridge], capture_output=True)


@dataclass
class Cluster:
    address: str
    workers: dict[str, subprocess.Popen[bytes]]
    others: list[subprocess.Popen[bytes]]
    log: Path


def _stop(procs: list[subprocess.Popen[bytes]], grace_s: float = 5.0) -> None:
    """SIGTERM each process group, then SIGKILL what is still there after `grace_s` (a worker whose
    scheduler went away may take long to give up)."""
    for proc in procs:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    for proc in procs:
        try:
            proc.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


def _host_env(workdir: Path, host: str) -> dict[str, str]:
    """A host's environment: no ORCH_* settings (no database, no DAG folder), its own bundle cache."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORCH_") and k != "PYTHONPATH"}
    return {**env, "ORCH_TEST_HOST": host, "ORCH_BUNDLE_CACHE": str(workdir / "bundles"), "HOME": str(workdir), SATURATION_ENV: "inf"}


@pytest.fixture
def cluster(hosts: Hosts, tmp_path: Path) -> Iterator[Cluster]:
    from distributed import Client

    address = f"tcp://{hosts.address(0)}:8786"
    procs: list[subprocess.Popen[bytes]] = []
    workers: dict[str, subprocess.Popen[bytes]] = {}
    log_path = tmp_path / "cluster.log"
    log = log_path.open("ab")

    def start(i: int, args: list[str]) -> subprocess.Popen[bytes]:
        workdir = tmp_path / hosts.names[i]
        workdir.mkdir()
        proc = subprocess.Popen(
            ["ip", "netns", "exec", hosts.names[i], str(DASK), *args], cwd=workdir, env=_host_env(workdir, hosts.names[i]),
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        procs.append(proc)
        return proc

    try:
        start(0, ["scheduler", "--host", hosts.address(0), "--port", "8786", "--no-dashboard"])
        for i in (1, 2):
            workers[hosts.names[i]] = start(
                i, ["worker", address, "--host", hosts.address(i), "--nthreads", "1", "--no-dashboard", "--no-nanny",
                    "--name", hosts.names[i]],
            )
        try:
            with Client(address, timeout="60s") as client:
                client.wait_for_workers(2, timeout=60)
        except Exception:
            log.flush()
            print(f"--- the Dask cluster's log ---\n{_tail(log_path)}")
            raise
        yield Cluster(address, workers, procs, log_path)
    finally:
        _stop(procs)
        log.close()


def _tail(path: Path, chars: int = 6000) -> str:
    return path.read_text(errors="replace")[-chars:] if path.exists() else "(no log)"


@contextmanager
def _reported(scheduler: SchedulerProcess, cluster: Cluster) -> Iterator[None]:
    """Stop the scheduler at the end; on a failure, first print its log and the cluster's
    (pytest shows them with the failure)."""
    try:
        yield
    except BaseException:
        print(f"--- the scheduler's log ---\n{_tail(scheduler.log_path)}\n--- the Dask cluster's log ---\n{_tail(cluster.log)}")
        raise
    finally:
        scheduler.cleanup()


def _run(cluster: Cluster, tmp_path: Path, linger_s: float) -> tuple[dict[str, str], SchedulerProcess, Path, object]:
    home = tmp_path / "home"
    marker = tmp_path / "markers"
    marker.mkdir()
    write_dag(home / "dags", "helpers.py", HELPER)
    write_dag(home / "dags", "across_hosts.py", DAG_FILE.format(marker=str(marker), linger=linger_s))
    sessions = upgraded_sessions(f"sqlite:///{home / 'orchestrator.db'}")
    env = cli_env(home, dask_address=cluster.address)
    return env, SchedulerProcess(env, home / "scheduler.log").start(), marker, sessions


def test_a_run_succeeds_on_workers_that_have_neither_the_database_nor_the_dag_folder(
    cluster: Cluster, hosts: Hosts, tmp_path: Path
) -> None:
    env, scheduler, _, sessions = _run(cluster, tmp_path, linger_s=0)
    with _reported(scheduler, cluster):
        scheduler.wait_registered(sessions)
        result = orch(["dags", "trigger", "across_hosts", "--wait"], env, timeout=120)
        assert result.returncode == 0, result.stderr
        tasks = task_rows(sessions, "across_hosts", result.stdout.strip())
        dags_folder = str(tmp_path / "home" / "dags")
        for ti in tasks.values():
            assert ti.result["host"] in hosts.names[1:]
            assert not ti.result["file"].startswith(dags_folder)
            assert ti.result["file"].startswith(str(tmp_path / ti.result["host"] / "bundles"))


def test_killing_a_worker_mid_task_retries_the_task_on_the_other_and_the_run_succeeds(
    cluster: Cluster, hosts: Hosts, tmp_path: Path
) -> None:
    env, scheduler, marker, sessions = _run(cluster, tmp_path, linger_s=4)
    with _reported(scheduler, cluster):
        scheduler.wait_registered(sessions)
        waiting = subprocess.Popen(
            [str(ORCHESTRATOR), "dags", "trigger", "across_hosts", "--wait"], env=env,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        try:
            # the lingering task has started on one of the workers: kill that worker outright
            started = wait_until(lambda: sorted(marker.glob("second.*")), timeout=60, what="the second task to start")
            victim = started[0].suffix.lstrip(".")
            os.killpg(cluster.workers[victim].pid, signal.SIGKILL)
            out, err = waiting.communicate(timeout=120)
        finally:
            if waiting.poll() is None:
                waiting.kill()
                waiting.communicate(timeout=10)
        assert waiting.returncode == 0, err
        tasks = task_rows(sessions, "across_hosts", out.strip())
        survivor = next(h for h in hosts.names[1:] if h != victim)
        assert tasks["second"].state == "success"
        assert tasks["second"].result["host"] == survivor
