"""Browser tests: the real `orchestrator standalone` in a subprocess, driven with Playwright for
Python through Debian's Chromium (/usr/bin/chromium; never a downloaded browser).

One server serves the whole session (it takes seconds to start: database, Dask, DAG folder);
each test uses its own DAG so that tests do not see each other's runs. Every page a test visits
is kept as a screenshot in artifacts/screenshots/.
"""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import textwrap
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.helpers import ACTION_TIMEOUT_MS, ORCHESTRATOR, REPO_ROOT, VIEWER, Pages, Server

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]

# The DAGs of the e2e tests: task callables come from tests/fixtures.py
DAG_FILES = {
    "e2e_dags.py": '''
        from orchestrator import DAG, PythonTask, XComArg
        from tests.fixtures import describe, numbers, print_slowly, total

        def chain(dag_id, tags, description):
            with DAG(dag_id, schedule=None, tags=tags, description=description, params={"n": 3}) as dag:
                first = PythonTask(task_id="numbers", python_callable=numbers, op_args=[3])
                second = PythonTask(task_id="total", python_callable=total, op_args=[XComArg(first)])
                PythonTask(task_id="describe", python_callable=describe, op_args=[XComArg(second)])
            return dag

        trigger_me = chain("e2e_trigger", ["e2e", "chain"], "Triggered from the DAGs list")
        browse_me = chain("e2e_browse", ["e2e", "chain"], "Grid, graph, code and durations")
        pause_me = chain("e2e_pause", ["e2e"], "Paused from the DAGs list")

        with DAG("e2e_logs", schedule=None, tags=["e2e", "logs"], description="A log that grows for a few seconds") as logs:
            talk = PythonTask(task_id="talk", python_callable=print_slowly, op_args=[20, 0.5])
            talk >> PythonTask(task_id="after", python_callable=total, op_args=[[1, 2]])

        with DAG("e2e_cancel", schedule=None, tags=["e2e"], description="A slow run to cancel, then clear") as cancel:
            slow = PythonTask(task_id="slow", python_callable=print_slowly, op_args=[16, 0.5])
            slow >> PythonTask(task_id="done", python_callable=total, op_args=[[1, 2]])
    ''',
    "e2e_patterns.py": '''
        from orchestrator import DAG, PythonTask, TaskGroup, task
        from tests.fixtures import numbers, square, total

        with DAG("e2e_patterns", schedule=None, tags=["e2e"], description="A task group and a mapped task") as patterns:
            with TaskGroup("extract", tooltip="where the numbers come from") as extract:
                items = task(numbers)(3)
                with TaskGroup("check"):
                    task(total)(items)
            squares = task(square).expand(x=items)
            task(total)(squares)
    ''',
    "e2e_airflow.py": '''
        from orchestrator.airflow import DAG, BashOperator, Param

        with DAG("e2e_params", schedule=None, tags=["e2e"], doc_md="### Greets people\\n\\nPick **who** on the form.",
                 params={"names": Param(["Ann"], type="array", title="Names"), "loud": Param(False, type="boolean", title="Loud"),
                         "times": Param(1, type="integer", minimum=1, title="Times")}) as params_dag:
            BashOperator(task_id="greet", bash_command="echo {% for n in params.names %}hi {{ n }} {% endfor %}x{{ params.times }}")
    ''',
    "e2e_broken.py": '''
        raise RuntimeError("this DAG file is broken on purpose")
    ''',
    "e2e_ui.py": '''
        from datetime import datetime
        from orchestrator import DAG, PythonTask, TriggerRule, WaitForEvent
        from tests.fixtures import always_fail, succeed

        with DAG("e2e_past_failures", schedule=None, tags=["e2e", "ui"], description="An all_done join lets the run succeed past a failure") as past:
            boom = PythonTask(task_id="boom", python_callable=always_fail)
            boom >> PythonTask(task_id="cleanup", python_callable=succeed, trigger_rule=TriggerRule.ALL_DONE)

        def extract_orders():
            return ["order-1", "order-2"]

        with DAG("e2e_long_names", schedule="@daily", start_date=datetime(2026, 1, 1), tags=["e2e", "ui"],
                 description="Task names longer than a default graph node") as long_names:
            first = PythonTask(task_id="extract_the_orders_from_the_shop_database", python_callable=extract_orders)
            first >> PythonTask(task_id="load_the_orders_into_the_warehouse_table", python_callable=succeed)

        with DAG("e2e_live", schedule=None, tags=["e2e", "ui"], description="Runs started elsewhere appear on open pages") as live:
            PythonTask(task_id="quick", python_callable=succeed)

        with DAG("e2e_many_runs", schedule=None, tags=["e2e", "ui"], description="Many short runs for the grid", max_active_runs=50) as many:
            wait = WaitForEvent("e2e.never_sent", task_id="wait_briefly", timeout=1)
            wait >> PythonTask(task_id="after_the_wait", python_callable=succeed, trigger_rule=TriggerRule.ALL_DONE)
    ''',
    "e2e_controls.py": '''
        from datetime import timedelta
        from orchestrator import DAG, Deadline, PythonTask
        from tests.fixtures import print_slowly, succeed

        # a fan-out after the slow task: nothing is chained to it, so a pause holds what follows
        with DAG("e2e_controls", schedule=None, tags=["e2e", "controls"], description="Paused, resumed and marked from the run page") as controls:
            slow = PythonTask(task_id="slow", python_callable=print_slowly, op_args=[60, 0.5])
            slow >> [PythonTask(task_id="left", python_callable=succeed), PythonTask(task_id="right", python_callable=succeed)]

        with DAG("e2e_late", schedule=None, tags=["e2e", "controls"], description="Misses its one-second deadline",
                 deadline=Deadline(after=timedelta(seconds=1))) as late:
            PythonTask(task_id="takes_a_while", python_callable=print_slowly, op_args=[6, 0.5])

        with DAG("e2e_team", schedule=None, tags=["team"], description="What a DAG role with trigger only may do") as team:
            PythonTask(task_id="only", python_callable=succeed)
    ''',
    "e2e_flow.yaml": '''
        workflowId: e2e_flow
        name: Conditional edges
        description: A declarative workflow whose next steps carry conditions
        tags: [e2e, declarative]
        steps:
          - stepId: check
            taskId: tests.fixtures:succeed
            next:
              - {stepId: big_order, condition: data.amount > 1000}
              - {stepId: small_order, condition: data.amount <= 1000}
          - stepId: big_order
            taskId: tests.fixtures:succeed
          - stepId: small_order
            taskId: tests.fixtures:succeed
    ''',
    "e2e_machine.yaml": '''
        machineId: e2e_machine
        description: A state machine with a loop back and a guard
        tags: [e2e, machine]
        initial: draft
        actions:
          - {actionId: check, taskId: "tests.fixtures:succeed"}
        states:
          - {name: draft}
          - {name: review, onEnter: [check]}
          - {name: done, final: true}
        transitions:
          - {from: draft, to: review, event: submit}
          - {from: review, to: draft, event: reject}
          - {from: review, to: done, event: approve, guard: "event.ok == true"}
    ''',
}
DAG_COUNT = 16
"""How many DAGs the files define: the server is ready once all of them are parsed."""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _log_tail(path: Path, lines: int = 40) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else "(no log)"


def _wait_for(predicate, *, timeout: float, what: str, log: Path) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}; server log:\n{_log_tail(log)}")
        time.sleep(0.25)


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as res:
            return res.status == 200
    except (urllib.error.URLError, OSError):
        return False


def _dags_loaded(db: Path) -> int:
    """How many DAGs the server's database knows (0 while it is being created)."""
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
            return int(conn.execute("SELECT count(*) FROM dag WHERE is_active").fetchone()[0])
    except sqlite3.Error:
        return 0


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """`orchestrator standalone` on a free port with its own ORCH_HOME and DAG folder."""
    home = tmp_path_factory.mktemp("e2e_home")
    dags = home / "dags"
    dags.mkdir()
    for name, source in DAG_FILES.items():
        (dags / name).write_text(textwrap.dedent(source).lstrip())
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORCH_")}
    env.update(
        ORCH_HOME=str(home),
        PYTHONPATH=os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p),
        ORCH_DASK_WORKERS="2",
        ORCH_HEARTBEAT_INTERVAL_S="1",
    )
    port = _free_port()
    log = home / "standalone.log"
    with log.open("wb") as out:
        # its own session, so the LocalCluster's worker processes can be stopped with it
        proc = subprocess.Popen(
            [str(ORCHESTRATOR), "standalone", "--port", str(port), "--dags", str(dags)],
            env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        password_file = home / "standalone_admin_password.txt"
        _wait_for(lambda: proc.poll() is None and password_file.exists() and _answers(f"{url}/login"), timeout=120, what="the web UI", log=log)
        _wait_for(lambda: _dags_loaded(home / "orchestrator.db") >= DAG_COUNT, timeout=120, what="the DAG folder to be parsed", log=log)
        srv = Server(url, home, env, password_file.read_text().strip())
        made = srv.cli("users", "create", "--username", VIEWER[0], "--role", "viewer", "--password", VIEWER[1])
        assert made.returncode == 0, made.stderr
        yield srv
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    """Debian's Chromium, headless, through Playwright (no browser download)."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium), as .ci/run does")
    from playwright.sync_api import expect, sync_playwright

    # The same patience as a page action's (Pages sets 15 s): on a loaded machine a write behind a
    # button (log out, pause) can take the server longer than Playwright's 5 s default to answer.
    expect.set_options(timeout=ACTION_TIMEOUT_MS)
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def pages(browser: object, server: Server) -> Iterator[Pages]:
    opened = Pages(browser, server)
    yield opened
    opened.close()
    assert not opened.js_errors, "JavaScript errors: " + "; ".join(opened.js_errors)
