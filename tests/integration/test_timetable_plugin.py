"""A timetable from a plugin file in the plugins folder schedules a DAG: `orchestrator dags list`
shows its next run from the plugin's ticks, and the schedule math cuts intervals between them."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

from orchestrator.core.schedule import DataInterval, intervals_between, next_interval
from orchestrator.plugins.manager import load_plugins

from .harness import REPO_ROOT, cli_env, orch, write_dag

PLUGIN = REPO_ROOT / "plugins" / "business_days.py"

DAG = """
    from datetime import datetime
    from orchestrator import DAG, EmptyTask

    with DAG("weekdays", schedule="timetable:business_days", start_date=datetime(2026, 1, 1), catchup=True) as dag:
        EmptyTask(task_id="work")
"""


def _register_the_plugin(tmp_path: Path) -> None:
    """Load the plugins folder as the scheduler does when it starts: its timetables become known."""
    (tmp_path / "plugins").mkdir()
    shutil.copy(PLUGIN, tmp_path / "plugins" / "business_days.py")
    load_plugins(folder=tmp_path / "plugins")


def test_the_dag_list_schedules_the_dag_on_the_plugins_ticks(tmp_path: Path) -> None:
    (tmp_path / "plugins").mkdir()
    shutil.copy(PLUGIN, tmp_path / "plugins" / "business_days.py")  # the default folder, beside dags/
    write_dag(tmp_path / "dags", "weekdays.py", DAG)
    env = cli_env(tmp_path)
    assert orch(["db", "upgrade"], env).returncode == 0
    listed = orch(["dags", "list", "--json"], env)
    assert listed.returncode == 0, listed.stderr
    (dag,) = json.loads(listed.stdout)
    # 2026-01-01 is a Thursday: the first interval runs to Friday 06:00
    assert (dag["schedule"], dag["next_run"]) == ("timetable:business_days", "2026-01-02T06:00:00+00:00")


def test_fridays_interval_spans_the_weekend(tmp_path: Path) -> None:
    _register_the_plugin(tmp_path)
    after_friday = next_interval(
        "timetable:business_days", "UTC", datetime(2026, 1, 2, 6, tzinfo=UTC),
        DataInterval(datetime(2026, 1, 1, 6, tzinfo=UTC), datetime(2026, 1, 2, 6, tzinfo=UTC)),
        datetime(2026, 1, 6, tzinfo=UTC), catchup=True,
    )
    assert after_friday == DataInterval(datetime(2026, 1, 2, 6, tzinfo=UTC), datetime(2026, 1, 5, 6, tzinfo=UTC))


def test_a_backfill_over_a_week_has_five_intervals(tmp_path: Path) -> None:
    _register_the_plugin(tmp_path)
    found = intervals_between("timetable:business_days", "UTC", datetime(2026, 1, 5), datetime(2026, 1, 11), datetime(2026, 2, 1, tzinfo=UTC))
    assert [i.start.day for i in found] == [5, 6, 7, 8, 9]
