"""What the image and the chart run, run here: their CLI commands and options, the image's
HEALTHCHECK and the chart's probe scripts, against a real web UI and scheduler process.

There is no Docker engine or cluster on this machine: the commands run as the containers would
run them, with the environment the chart gives them.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import helm_python as helm
import pytest
import yaml
from sqlalchemy.orm import Session, sessionmaker

from tests.conftest import temporary_postgres_database

from .harness import DASK, ORCHESTRATOR, REPO_ROOT, SchedulerProcess, cli_env, free_port, upgraded_sessions, wait_until

CHART = REPO_ROOT / "helm" / "orchestrator"
PROBES = CHART / "files" / "probes"
VALUE_SETS = [
    {},
    {"database": {"type": "postgresql", "url": "postgresql+psycopg://u:p@db:5432/o"}},
    {"dags": {"gitSync": {"enabled": True, "repo": "https://git.example.com/dags.git"}}},
]


def rendered_containers() -> list[dict[str, Any]]:
    """Every container of every workload the chart renders, for the value sets above."""
    found = []
    with helm.Chart.load(str(CHART)) as chart:
        for values in VALUE_SETS:
            for path, text in chart.render(values, name="rel").items():
                for doc in yaml.safe_load_all(text) if path.endswith(".yaml") else []:
                    if doc and doc["kind"] in ("Deployment", "Job"):
                        spec = doc["spec"]["template"]["spec"]
                        found += spec["containers"] + spec.get("initContainers", [])
    return found


def orchestrator_commands() -> list[list[str]]:
    """The subcommands the chart runs through the image's entrypoint, plus the Dockerfile's CMD."""
    commands = {tuple(c["args"]) for c in rendered_containers() if "command" not in c and "git-sync" not in c["name"]}
    dockerfile = (REPO_ROOT / "Dockerfile").read_text()
    cmd = json.loads(next(line for line in dockerfile.splitlines() if line.startswith("CMD "))[4:])
    return sorted([list(c) for c in commands] + [cmd])


def dask_commands() -> list[list[str]]:
    """`dask scheduler ...` and `dask worker ...` as the chart runs them (after `tini -- dask`)."""
    commands = {tuple(c["args"]) for c in rendered_containers() if c.get("command") == ["tini", "--", "dask"]}
    return sorted(list(c) for c in commands)


def run(args: list[str], env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, env=env, capture_output=True, text=True, timeout=timeout)


# -- the commands exist ------------------------------------------------------------------------------
def test_the_chart_runs_the_scheduler_the_web_ui_and_the_migrations() -> None:
    assert {"scheduler", "webui", "db upgrade"} <= {" ".join(c) for c in orchestrator_commands()}


@pytest.mark.parametrize("command", orchestrator_commands(), ids=lambda c: " ".join(c))
def test_each_orchestrator_command_of_the_image_and_chart_exists(command: list[str]) -> None:
    subcommand = [arg for arg in command if not arg.startswith("-")]
    result = run([str(ORCHESTRATOR), *subcommand, "--help"])
    assert result.returncode == 0, result.stderr
    assert "Usage: orchestrator" in result.stdout


@pytest.mark.parametrize("command", dask_commands(), ids=lambda c: c[0])
def test_each_dask_option_the_chart_passes_exists(command: list[str]) -> None:
    result = run([str(DASK), command[0], "--help"])
    assert result.returncode == 0, result.stderr
    options = [arg for arg in command if arg.startswith("--")]
    assert options and [o for o in options if f"{o} " not in result.stdout] == []


# -- a web UI and a scheduler, as their containers run them -------------------------------------------
@dataclass
class Installation:
    """A SQLite home with a web UI process; schedulers are started by the tests that need one."""

    home: Path
    env: dict[str, str]
    port: int
    sessions: sessionmaker[Session]

    def health(self) -> int:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/api/v1/health", timeout=5) as response:
                return response.status
        except urllib.error.HTTPError as exc:
            return exc.code

    def scheduler(self, log_name: str) -> SchedulerProcess:
        return SchedulerProcess(self.env, self.home / log_name)


def start_webui(env: dict[str, str], port: int, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        proc = subprocess.Popen([str(ORCHESTRATOR), "webui"], env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)

    def answers() -> bool:
        if proc.poll() is not None:
            raise AssertionError(f"the web UI exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/openapi.json", timeout=2).close()
        except OSError:
            return False
        return True

    wait_until(answers, timeout=60, what="the web UI to answer")
    return proc


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


@pytest.fixture(scope="module")
def installation(tmp_path_factory: pytest.TempPathFactory, dask_address: str) -> Iterator[Installation]:
    home = tmp_path_factory.mktemp("container_home")
    (home / "dags").mkdir()
    port = free_port()
    env = cli_env(home, dask_address=dask_address, webui_host="127.0.0.1", webui_port=port)
    sessions = upgraded_sessions(f"sqlite:///{home / 'orchestrator.db'}")
    proc = start_webui(env, port, home / "webui.log")
    try:
        yield Installation(home, env, port, sessions)
    finally:
        stop(proc)


@pytest.fixture
def running_scheduler(installation: Installation, request: pytest.FixtureRequest) -> Iterator[SchedulerProcess]:
    scheduler = installation.scheduler(f"{request.node.name}.log").start()
    try:
        scheduler.wait_registered(installation.sessions)
        yield scheduler
    finally:
        scheduler.cleanup()


def healthcheck(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """The image's HEALTHCHECK command, taken from the Dockerfile."""
    dockerfile = (REPO_ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    command = json.loads(dockerfile[dockerfile.index("CMD [", dockerfile.index("HEALTHCHECK")) + 4 :].split("\n", 1)[0])
    assert command[0] == "python"
    return run([sys.executable, *command[1:]], env)


def probe(script: str, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return run([sys.executable, str(PROBES / script), *args], env)


def test_image_healthcheck_fails_while_no_scheduler_heartbeats(installation: Installation) -> None:
    assert installation.health() == 503
    result = healthcheck(installation.env)
    assert result.returncode == 1
    assert "503" in result.stderr


def test_image_healthcheck_passes_while_a_scheduler_heartbeats(installation: Installation, running_scheduler: SchedulerProcess) -> None:
    wait_until(lambda: installation.health() == 200, timeout=30, what="/api/v1/health to answer 200")
    result = healthcheck(installation.env)
    assert result.returncode == 0, result.stderr


def test_scheduler_probe_passes_while_this_hosts_scheduler_heartbeats(installation: Installation, running_scheduler: SchedulerProcess) -> None:
    result = probe("scheduler_alive.py", env=installation.env)
    assert result.returncode == 0, result.stderr


def test_scheduler_probe_fails_once_the_scheduler_stopped(installation: Installation, running_scheduler: SchedulerProcess) -> None:
    assert running_scheduler.terminate() == 0
    result = probe("scheduler_alive.py", env=installation.env)
    assert result.returncode == 1
    assert "no scheduler on" in result.stderr


def test_web_ui_probe_keeps_the_web_ui_live_and_ready_while_no_scheduler_heartbeats(installation: Installation) -> None:
    assert installation.health() == 503
    assert probe("webui_health.py", "live", env=installation.env).returncode == 0
    assert probe("webui_health.py", "ready", env=installation.env).returncode == 0


def test_web_ui_probe_fails_when_nothing_listens(tmp_path: Path) -> None:
    env = cli_env(tmp_path, webui_port=free_port())
    for mode in ("live", "ready"):
        result = probe("webui_health.py", mode, env=env)
        assert result.returncode == 1
        assert "/api/v1/health" in result.stderr


@pytest.mark.postgres
def test_web_ui_probe_is_live_but_not_ready_when_the_database_is_gone(tmp_path: Path, postgres_server: str) -> None:
    port = free_port()
    with temporary_postgres_database() as url:
        upgraded_sessions(url)
        env = cli_env(tmp_path, database_url=url, webui_host="127.0.0.1", webui_port=port)
        proc = start_webui(env, port, tmp_path / "webui.log")
    # the database is dropped (its connections closed) when the block ends; the web UI stays up
    try:
        ready = probe("webui_health.py", "ready", env=env)
        assert ready.returncode == 1
        assert "the database is unreachable" in ready.stderr
        assert probe("webui_health.py", "live", env=env).returncode == 0
    finally:
        stop(proc)


# -- what `pip install .` in the image puts there --------------------------------------------------------
def test_the_package_the_image_installs_carries_every_file_of_the_source_packages(tmp_path: Path) -> None:
    # the Dockerfile's build stage, here: copy what it copies, build the wheel `pip install .` installs
    packages = ["orchestrator", "scheduler", "webui", "migrations"]
    source = tmp_path / "src"
    source.mkdir()
    for name in ["pyproject.toml", "README.md"]:
        (source / name).write_bytes((REPO_ROOT / name).read_bytes())
    for name in packages:
        shutil.copytree(REPO_ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
    built = run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path / "dist"), str(source)], timeout=300)
    assert built.returncode == 0, built.stderr
    (wheel,) = (tmp_path / "dist").glob("orchestrator-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        in_wheel = set(archive.namelist())
    in_source = {p.relative_to(source).as_posix() for name in packages for p in (source / name).rglob("*") if p.is_file()}
    assert sorted(in_source - in_wheel) == []
