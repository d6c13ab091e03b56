"""Configuration reload on SIGHUP in a real `orchestrator scheduler` process, and named
environments (ORCH_ENV) read by real CLI processes."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

from orchestrator.store.models import Dag

from .harness import ORCHESTRATOR, SchedulerProcess, cli_env, free_port, orch, upgraded_sessions, wait_until, write_dag

DAG = """
    from orchestrator import DAG, PythonTask
    from tests.fixtures import succeed

    with DAG("{dag_id}") as dag:
        PythonTask(task_id="work", python_callable=succeed)
"""


def _paused(sessions, dag_id: str) -> bool | None:  # type: ignore[no-untyped-def]
    with sessions() as s:
        row = s.get(Dag, dag_id)
        return None if row is None else row.is_paused


def test_sighup_applies_changed_settings_and_says_database_changes_need_a_restart(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'orchestrator.db'}"
    sessions = upgraded_sessions(url)
    toml = tmp_path / "orchestrator.toml"
    toml.write_text(f'dags_paused_at_creation = false\ndatabase_url = "{url}"\n')
    env = {k: v for k, v in cli_env(tmp_path, dag_dir_scan_interval_s=0.2).items() if k != "ORCH_DATABASE_URL"}
    write_dag(tmp_path / "dags", "before.py", DAG.format(dag_id="before"))
    scheduler = SchedulerProcess(env, tmp_path / "scheduler.log").start()
    try:
        scheduler.wait_registered(sessions)
        assert wait_until(lambda: _paused(sessions, "before") is not None, timeout=60, what="the first DAG") is True
        assert _paused(sessions, "before") is False
        toml.write_text(f'dags_paused_at_creation = true\ndatabase_url = "sqlite:///{tmp_path / "other.db"}"\n')
        os.kill(scheduler.pid, signal.SIGHUP)
        wait_until(lambda: "configuration reloaded: dags_paused_at_creation False -> True" in scheduler.log(), timeout=30,
                   what="the reload in the log")
        assert "database_url changed to" in scheduler.log() and "needs a restart to take effect" in scheduler.log()
        write_dag(tmp_path / "dags", "after.py", DAG.format(dag_id="after"))
        wait_until(lambda: _paused(sessions, "after") is not None, timeout=60, what="the DAG added after the reload")
        assert _paused(sessions, "after") is True  # the new setting applies, on the database it started with
        assert scheduler.proc is not None and scheduler.proc.poll() is None
    finally:
        scheduler.cleanup()


def test_standalone_reloads_on_sighup_too(tmp_path: Path) -> None:
    toml = tmp_path / "orchestrator.toml"
    toml.write_text("poll_interval_s = 0.05\n")
    env = {k: v for k, v in cli_env(tmp_path).items() if k != "ORCH_POLL_INTERVAL_S"}
    log_path = tmp_path / "standalone.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen([str(ORCHESTRATOR), "standalone", "--port", str(free_port())], env=env, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
    standalone = SchedulerProcess(env, log_path, proc)  # stopped (with its workers) as a scheduler process is
    try:
        wait_until(lambda: "web UI and API: http://" in standalone.log(), timeout=120, what="standalone to start")
        toml.write_text("poll_interval_s = 0.5\nwebui_port = 1\n")
        os.kill(proc.pid, signal.SIGHUP)
        wait_until(lambda: "configuration reloaded: poll_interval_s 0.05 -> 0.5" in standalone.log(), timeout=30, what="the reload")
        assert "webui_port changed to 1 but needs a restart to take effect" in standalone.log()
        assert proc.poll() is None
    except AssertionError:
        print(f"--- the standalone process's log (exit code {proc.poll()}) ---\n{standalone.log()[-6000:]}")
        raise
    finally:
        standalone.cleanup()


def test_a_broken_file_on_sighup_keeps_the_running_configuration(tmp_path: Path) -> None:
    sessions = upgraded_sessions(f"sqlite:///{tmp_path / 'orchestrator.db'}")
    toml = tmp_path / "orchestrator.toml"
    toml.write_text("dags_paused_at_creation = false\n")
    scheduler = SchedulerProcess(cli_env(tmp_path), tmp_path / "scheduler.log").start()
    try:
        scheduler.wait_registered(sessions)
        toml.write_text("dags_paused_at_creation = [\n")
        os.kill(scheduler.pid, signal.SIGHUP)
        wait_until(lambda: "configuration not reloaded, the running one stays" in scheduler.log(), timeout=30, what="the refusal")
        assert scheduler.proc is not None and scheduler.proc.poll() is None
    finally:
        scheduler.cleanup()


def test_orch_env_selects_a_named_environment_section(tmp_path: Path) -> None:
    (tmp_path / "orchestrator.toml").write_text(
        f'database_url = "sqlite:///{tmp_path / "dev.db"}"\n[env.staging]\ndatabase_url = "sqlite:///{tmp_path / "staging.db"}"\n'
    )
    env = {k: v for k, v in cli_env(tmp_path).items() if k != "ORCH_DATABASE_URL"}
    assert orch(["db", "upgrade"], {**env, "ORCH_ENV": "staging"}).returncode == 0
    assert (tmp_path / "staging.db").exists() and not (tmp_path / "dev.db").exists()
    unknown = orch(["db", "upgrade"], {**env, "ORCH_ENV": "qa"})
    assert unknown.returncode != 0 and "ORCH_ENV=qa names no [env.qa] section" in unknown.stderr
