"""DAG files in the styles of Airflow's own examples (tests/airflow_dags, imports rewritten to
orchestrator.airflow, nothing else) run under `orchestrator dags test` and through the scheduler
process with its Dask workers, with the outcomes Airflow gives them."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from orchestrator.store.models import TaskInstance

from .harness import REPO_ROOT, SchedulerProcess, cli_env, orch, run_row, upgraded_sessions, wait_for_run

pytestmark = pytest.mark.slow  # `orchestrator` processes and a scheduler with Dask workers

EXAMPLES = REPO_ROOT / "tests" / "airflow_dags"
DAG_IDS = (
    "af_tutorial", "af_taskflow", "af_mapping", "af_task_groups", "af_setup_teardown", "af_short_circuit", "af_branch",
    "af_params_ui",
)


@dataclass
class Home:
    env: dict[str, str]
    sessions: sessionmaker[Session]


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Home:
    root = tmp_path_factory.mktemp("airflow_examples")
    shutil.copytree(EXAMPLES, root / "dags", ignore=shutil.ignore_patterns("__pycache__"))
    env = cli_env(root, dag_dir_scan_interval_s=1)
    assert orch(["db", "upgrade"], env).returncode == 0
    return Home(env, upgraded_sessions(f"sqlite:///{root / 'orchestrator.db'}"))


@pytest.mark.parametrize("dag_id", DAG_IDS)
def test_the_example_succeeds_under_dags_test(home: Home, dag_id: str) -> None:
    done = orch(["dags", "test", dag_id], home.env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip().splitlines()[-1].endswith(": success")


@pytest.fixture(scope="module")
def scheduled(home: Home, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """Each example triggered once and run to its end by `orchestrator scheduler`: dag_id -> run_id."""
    scheduler = SchedulerProcess(home.env, tmp_path_factory.mktemp("scheduler") / "scheduler.log")
    try:
        scheduler.start().wait_registered(home.sessions)
        runs = {}
        for dag_id in DAG_IDS:
            done = orch(["dags", "trigger", dag_id], home.env)
            assert done.returncode == 0, done.stderr
            runs[dag_id] = done.stdout.strip().splitlines()[-1]
        for dag_id, run_id in runs.items():
            wait_for_run(home.sessions, dag_id, run_id, timeout=120)
        yield runs
    finally:
        scheduler.cleanup()


def _tasks(home: Home, dag_id: str, run_id: str) -> dict[str, TaskInstance]:
    """The run's task instances by task_id (a mapped task's own row, not its instances')."""
    with home.sessions() as s:
        rows = s.scalars(select(TaskInstance).where(
            TaskInstance.dag_id == dag_id, TaskInstance.run_id == run_id, TaskInstance.map_index == -1,
        ))
        return {ti.task_id: ti for ti in rows}


def _states(home: Home, dag_id: str, run_id: str) -> dict[str, str]:
    return {tid: ti.state for tid, ti in _tasks(home, dag_id, run_id).items()}


@pytest.mark.parametrize("dag_id", DAG_IDS)
def test_the_example_succeeds_through_the_scheduler(home: Home, scheduled: dict[str, str], dag_id: str) -> None:
    assert run_row(home.sessions, dag_id, scheduled[dag_id]).state == "success"


def test_the_bash_tutorial_renders_its_jinja_loop(home: Home, scheduled: dict[str, str]) -> None:
    rows = _tasks(home, "af_tutorial", scheduled["af_tutorial"])
    assert rows["templated"].result.startswith("day ") and " plus 2: " in rows["templated"].result


def test_multiple_outputs_reach_load_by_key(home: Home, scheduled: dict[str, str]) -> None:
    assert _tasks(home, "af_taskflow", scheduled["af_taskflow"])["load"].result == 33.75


def test_mapping_over_mapped_output_gives_each_item_twice_plus_ten(home: Home, scheduled: dict[str, str]) -> None:
    rows = _tasks(home, "af_mapping", scheduled["af_mapping"])
    assert (rows["plus_ten"].result, rows["total"].result) == ([12, 14, 16], 42)


def test_each_task_group_call_is_its_own_group(home: Home, scheduled: dict[str, str]) -> None:
    states = _states(home, "af_task_groups", scheduled["af_task_groups"])
    assert {"section.step_3", "section__1.step_3", "section__2.step_3"} <= set(states)


def test_a_false_short_circuit_skips_its_downstream_but_all_done_runs(home: Home, scheduled: dict[str, str]) -> None:
    states = _states(home, "af_short_circuit", scheduled["af_short_circuit"])
    assert [states[t] for t in ("yes_2", "no_1", "no_2", "step_4", "step_6", "step_7")] == [
        "success", "skipped", "skipped", "skipped", "skipped", "success",
    ]


def test_the_branch_follows_one_path_and_the_join_runs(home: Home, scheduled: dict[str, str]) -> None:
    states = _states(home, "af_branch", scheduled["af_branch"])
    followed = [o for o in "abc" if states[f"branch_{o}"] == "success"]
    assert len(followed) == 1 and states[f"after_{followed[0]}"] == "success" and states["join"] == "success"


def test_the_params_defaults_choose_the_greetings(home: Home, scheduled: dict[str, str]) -> None:
    rows = _tasks(home, "af_params_ui", scheduled["af_params_ui"])
    assert rows["print_greetings"].result == ["Hello Ann!", "Hello Bo!", "Hallo Ann!", "Hallo Bo!"]
    assert rows["generate_french_greeting"].state == "skipped"


def test_setup_and_teardown_tasks_all_ran(home: Home, scheduled: dict[str, str]) -> None:
    states = _states(home, "af_setup_teardown", scheduled["af_setup_teardown"])
    assert set(states.values()) == {"success"}
    assert {"third", "remove_cluster", "inner.inner_teardown"} <= set(states)
