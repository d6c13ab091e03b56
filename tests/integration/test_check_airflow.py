"""`orchestrator dags check-airflow FILE` on files written with Airflow's imports: the copy has ours,
loads and runs; what will not run is listed, and a copy that cannot load fails the command."""

from __future__ import annotations

from pathlib import Path

import pytest

from .harness import cli_env, orch, write_dag

pytestmark = pytest.mark.slow  # `orchestrator` processes

AIRFLOW_FILE = """
    from datetime import timedelta
    import pendulum
    from airflow import DAG
    from airflow.decorators import task
    from airflow.operators.bash import BashOperator
    from airflow.utils.trigger_rule import TriggerRule

    with DAG("from_airflow", schedule=timedelta(hours=1), start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
             catchup=False, orientation="LR") as dag:
        @task
        def count():
            return 3

        count() >> BashOperator(task_id="say", bash_command="echo {{ ds }}", trigger_rule=TriggerRule.ALL_DONE, sla=timedelta(hours=1))
"""


def test_the_copy_has_our_imports_loads_and_runs(tmp_path: Path) -> None:
    env = cli_env(tmp_path)
    original = write_dag(tmp_path / "dags", "from_airflow.py", AIRFLOW_FILE)
    done = orch(["dags", "check-airflow", str(original), "--output", str(tmp_path / "dags" / "converted.py")], env)
    assert done.returncode == 0, done.stdout + done.stderr
    converted = (tmp_path / "dags" / "converted.py").read_text()
    assert "airflow import" not in converted.replace("orchestrator.airflow import", "")
    assert "from orchestrator.airflow import pendulum" in converted
    assert "line 8: orientation= has no effect here" in done.stdout and "sla= has no effect here" in done.stdout
    assert "the copy loads: from_airflow" in done.stdout
    original.unlink()
    assert orch(["db", "upgrade"], env).returncode == 0
    run = orch(["dags", "test", "from_airflow"], env)
    assert run.returncode == 0, run.stdout + run.stderr


def test_a_copy_that_cannot_load_fails_and_names_the_feature(tmp_path: Path) -> None:
    original = write_dag(tmp_path, "venv.py", """
        from airflow.decorators import dag, task
        from airflow.providers.standard.core.operators.python import is_venv_installed

        @dag()
        def venv():
            @task.virtualenv(requirements=["numpy"])
            def crunch(): ...
            crunch()

        venv()
    """)
    done = orch(["dags", "check-airflow", str(original)], cli_env(tmp_path))
    assert done.returncode == 1
    assert "is_venv_installed (from airflow.providers.standard.core.operators.python) is not available here" in done.stdout
    assert "@task.virtualenv is not supported" in done.stderr
    assert (tmp_path / "venv_orchestrator.py").exists()


SENSOR_FILE = """
    import os
    from datetime import datetime, timedelta
    from airflow import DAG
    from airflow.decorators import task
    from airflow.sensors.base import PokeReturnValue
    from airflow.sensors.filesystem import FileSensor
    from airflow.sensors.time_delta import TimeDeltaSensor

    with DAG("sensing_from_airflow", schedule=None, start_date=datetime(2024, 1, 1)) as dag:
        @task.sensor(poke_interval=0.1, timeout=60, mode="reschedule")
        def ready():
            return PokeReturnValue(is_done=True, xcom_value=7)

        here = FileSensor(task_id="here", filepath=__file__, poke_interval=0.1, timeout=60)
        soon = TimeDeltaSensor(task_id="soon", delta=timedelta(seconds=0), deferrable=True)
        [ready(), here, soon]
"""


def test_sensors_are_no_longer_reported_and_run_in_dags_test(tmp_path: Path) -> None:
    env = cli_env(tmp_path)
    original = write_dag(tmp_path / "dags", "sensing.py", SENSOR_FILE)
    done = orch(["dags", "check-airflow", str(original), "--output", str(tmp_path / "dags" / "converted.py")], env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "nothing found that will not run" in done.stdout and "the copy loads: sensing_from_airflow" in done.stdout
    original.unlink()
    assert orch(["db", "upgrade"], env).returncode == 0
    run = orch(["dags", "test", "sensing_from_airflow"], env)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "run test__" in run.stdout and ": success" in run.stdout
