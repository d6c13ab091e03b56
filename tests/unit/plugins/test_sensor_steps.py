"""Sensor step types: what their specs say, and one try of each mode run in this process (runtime.run_task)."""

from __future__ import annotations

import textwrap
from datetime import timedelta
from pathlib import Path

import pytest

from orchestrator import DAG, Sensor, task
from orchestrator.airflow import DateTimeSensor, FileSensor, HttpSensor, PythonSensor, SqlSensor, TimeDeltaSensor
from orchestrator.airflow import task as airflow_task
from orchestrator.airflow.migrate import rewrite
from orchestrator.core.errors import DagDefinitionError
from orchestrator.core.sensors import TIMEOUT_ERROR_TYPE, SensorSpec, TriggerWaitSpec
from orchestrator.execution.runtime import WorkItem, run_task


def never() -> bool:
    return False


def test_a_sensor_spec_says_how_it_pokes_and_a_timeout_is_never_retried() -> None:
    with DAG("d"):
        s = Sensor(task_id="s", python_callable=never, mode="reschedule", poke_interval=timedelta(seconds=30), timeout=600,
                   exponential_backoff=True, soft_fail=True, retries=2)
    got = s.to_spec()
    assert got.sensor == SensorSpec(mode="reschedule", poke_interval_s=30.0, timeout_s=600.0, exponential_backoff=True, soft_fail=True)
    assert (got.wait, got.retries, got.step_type) == (None, 2, "sensor")
    assert TIMEOUT_ERROR_TYPE in got.no_retry_on


def test_a_deferrable_file_sensor_waits_for_a_file_trigger_and_has_no_worker_spec() -> None:
    with DAG("d"):
        s = FileSensor(task_id="f", filepath="/data/in/*.csv", deferrable=True, poke_interval=2, timeout=60, soft_fail=True)
    got = s.to_spec()
    assert got.wait == TriggerWaitSpec(trigger="file", args={"path": "/data/in/*.csv", "recursive": False, "poll_s": 2.0},
                                       timeout_s=60.0, soft_fail=True)
    assert (got.sensor, got.retries) == (None, 0)


@pytest.mark.parametrize(("make", "trigger"), [
    (lambda: TimeDeltaSensor(task_id="t", delta=timedelta(minutes=5), deferrable=True), ("time", {"delta_s": 300.0})),
    (lambda: DateTimeSensor(task_id="t", target_time="2026-01-01T10:00:00+00:00", deferrable=True),
     ("time", {"moment": "2026-01-01T10:00:00+00:00"})),
])
def test_time_sensors_defer_to_a_time_trigger(make: object, trigger: tuple[str, dict[str, object]]) -> None:
    with DAG("d"):
        got = make().to_spec()  # type: ignore[operator]
    assert (got.wait.trigger, got.wait.args) == trigger  # type: ignore[union-attr]


def test_a_python_sensor_cannot_be_deferrable() -> None:
    with DAG("d"):
        s = PythonSensor(task_id="p", python_callable=never, deferrable=True)
    with pytest.raises(DagDefinitionError, match="cannot be deferrable.*mode='reschedule'"):
        s.to_spec()


def test_a_deferrable_sensor_cannot_wait_for_a_template() -> None:
    with DAG("d"):
        s = FileSensor(task_id="f", filepath="/data/{{ ds }}.csv", deferrable=True)
    with pytest.raises(DagDefinitionError, match="path cannot be a template"):
        s.to_spec()


def test_a_deferrable_sensor_cannot_send_a_templated_header() -> None:
    with DAG("d"):
        s = HttpSensor(task_id="h", endpoint="/health", headers={"X-Day": "{{ ds }}"}, deferrable=True)
    with pytest.raises(DagDefinitionError, match="headers cannot be a template"):
        s.to_spec()


def test_a_deferrable_http_sensor_cannot_run_a_response_check() -> None:
    with DAG("d"), pytest.raises(DagDefinitionError, match="response_check"):
        HttpSensor(task_id="h", endpoint="/health", response_check=lambda r: True, deferrable=True)


def test_a_deferrable_sensor_cannot_be_mapped() -> None:
    with DAG("d"):
        ready = task.sensor(lambda path: True, task_id="ready", deferrable=True)
        mapped = ready.expand(path=["/a", "/b"])
    with pytest.raises(DagDefinitionError, match="cannot be mapped"):
        mapped.task.to_spec()


def test_an_unknown_mode_is_refused() -> None:
    with DAG("d"), pytest.raises(DagDefinitionError, match="mode must be 'poke' or 'reschedule'"):
        Sensor(task_id="s", python_callable=never, mode="smart")


def test_a_sensor_needs_a_check() -> None:
    with DAG("d"), pytest.raises(DagDefinitionError, match="python_callable"):
        Sensor(task_id="s")


def test_task_sensor_makes_a_sensor_of_the_function_in_both_apis() -> None:
    with DAG("d") as dag:
        @task.sensor(mode="reschedule", poke_interval=5)
        def ready() -> bool:
            return True

        @airflow_task.sensor(poke_interval=5, timeout=30)
        def ready_too() -> bool:
            return True

        ready()
        ready_too()
    assert {t.task_id: type(t).__name__ for t in dag.tasks.values()} == {"ready": "Sensor", "ready_too": "Sensor"}
    assert dag.tasks["ready"].to_spec().sensor.mode == "reschedule"  # type: ignore[union-attr]


def test_sql_sensor_resolves_its_connection_on_the_worker() -> None:
    with DAG("d"):
        s = SqlSensor(task_id="q", conn_id="warehouse", sql="select count(*) from t")
    assert s.to_spec().conn_id == "warehouse"


def test_check_airflow_no_longer_reports_sensors() -> None:
    source = textwrap.dedent("""
        from airflow.decorators import task
        from airflow.sensors.filesystem import FileSensor
        from airflow.sensors.base import PokeReturnValue

        @task.sensor(poke_interval=30, mode="reschedule")
        def ready():
            return PokeReturnValue(is_done=True)
    """)
    migrated = rewrite(source)
    assert migrated.findings == []
    assert "from orchestrator.airflow import FileSensor" in migrated.source


# -- one try, in this process --------------------------------------------------------------------------
DAG_FILE = """
from orchestrator import DAG, PokeReturnValue, Sensor

def not_yet():
    return False

def ready():
    return PokeReturnValue(True, {"rows": 3})

with DAG("sensing") as dag:
    Sensor(task_id="reschedule_not_yet", python_callable=not_yet, mode="reschedule")
    Sensor(task_id="reschedule_ready", python_callable=ready, mode="reschedule")
    Sensor(task_id="poke_times_out", python_callable=not_yet, poke_interval=0.01, timeout=0.05)
    Sensor(task_id="poke_soft_fails", python_callable=not_yet, poke_interval=0.01, timeout=0.05, soft_fail=True)
"""


@pytest.fixture(scope="module")
def dag_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("dags") / "sensing.py"
    path.write_text(DAG_FILE)
    return path


def one_try(dag_file: Path, task_id: str) -> object:
    return run_task(WorkItem(key=f"sensing/r/{task_id}/1", dag_id="sensing", run_id="r", task_id=task_id, try_number=1,
                             fileloc=str(dag_file), dags_root=None))


def test_a_reschedule_poke_that_finds_nothing_ends_as_reschedule(dag_file: Path) -> None:
    outcome = one_try(dag_file, "reschedule_not_yet")
    assert (outcome.status, outcome.error) == ("reschedule", None)  # type: ignore[attr-defined]


def test_a_poke_that_holds_succeeds_with_its_xcom_value(dag_file: Path) -> None:
    outcome = one_try(dag_file, "reschedule_ready")
    assert (outcome.status, outcome.result) == ("success", {"rows": 3})  # type: ignore[attr-defined]


def test_a_poke_mode_sensor_fails_at_its_timeout(dag_file: Path) -> None:
    outcome = one_try(dag_file, "poke_times_out")
    assert (outcome.status, outcome.error_type) == ("failed", "SensorTimeout")  # type: ignore[attr-defined]


def test_a_poke_mode_soft_fail_sensor_is_skipped_at_its_timeout(dag_file: Path) -> None:
    outcome = one_try(dag_file, "poke_soft_fails")
    assert outcome.status == "skipped"  # type: ignore[attr-defined]
    assert "soft_fail" in (outcome.error or "")  # type: ignore[attr-defined]
