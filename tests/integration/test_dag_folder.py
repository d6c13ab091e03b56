"""Loading the DAG folder: broken files become import errors, the rest loads; only changes are re-parsed."""

from __future__ import annotations

import os
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from orchestrator.core.config import Config
from orchestrator.operations.folder_sync import SyncReport, sync_dag_folder
from orchestrator.store import queries
from orchestrator.store.models import Dag, ImportError_

from .harness import make_config, upgraded_sessions, write_dag

GOOD = """
    from orchestrator import DAG, PythonTask
    from tests.fixtures import succeed

    with DAG("{dag_id}") as dag:
        PythonTask(task_id="only", python_callable=succeed)
"""

# file name -> (source, what the import error's message must say)
BROKEN: dict[str, tuple[str, str]] = {
    "syntax_error.py": ("def broken(:\n    pass\n", "SyntaxError"),
    "import_error.py": ("import module_that_does_not_exist_anywhere\n", "No module named 'module_that_does_not_exist_anywhere'"),
    "cycle.py": (
        """
        from orchestrator import DAG, PythonTask
        from tests.fixtures import succeed

        with DAG("cyclic") as dag:
            a = PythonTask(task_id="a", python_callable=succeed)
            b = PythonTask(task_id="b", python_callable=succeed)
            a >> b >> a
        """,
        "cycle",
    ),
    "duplicate_task_ids.py": (
        """
        from orchestrator import DAG, PythonTask
        from tests.fixtures import succeed

        with DAG("duplicated_tasks") as dag:
            PythonTask(task_id="same", python_callable=succeed)
            PythonTask(task_id="same", python_callable=succeed)
        """,
        "already has a task with id 'same'",
    ),
    # sorts after good_a.py, which defines the dag_id first
    "good_b_same_dag_id.py": (GOOD.format(dag_id="good_a"), "'good_a' is already defined in"),
    "hangs.py": ("import time\ntime.sleep(120)\n", "limit"),
    "exits.py": ("import os\nos._exit(3)\n", "exit code 3"),
}
RAISING = ["syntax_error.py", "import_error.py", "cycle.py", "duplicate_task_ids.py"]
TIMEOUT_S = 1.0


@dataclass
class Synced:
    folder: Path
    config: Config
    sessions: sessionmaker[Session]
    report: SyncReport


def _sync(tmp: Path, files: dict[str, str]) -> Synced:
    config = make_config(tmp, f"sqlite:///{tmp / 'orchestrator.db'}", dag_file_timeout_s=TIMEOUT_S)
    for name, source in files.items():
        write_dag(config.resolved_dags_folder, name, source)
    sessions = upgraded_sessions(config.resolved_database_url)
    return Synced(config.resolved_dags_folder, config, sessions, sync_dag_folder(sessions, config))


@pytest.fixture(scope="module")
def broken_folder(tmp_path_factory: pytest.TempPathFactory) -> Synced:
    """One pass over a folder holding two good files and one file of each broken kind."""
    files = {"good_a.py": GOOD.format(dag_id="good_a"), "good_c.py": GOOD.format(dag_id="good_c")}
    files.update({name: source for name, (source, _) in BROKEN.items()})
    return _sync(tmp_path_factory.mktemp("broken"), files)


@pytest.fixture
def good_folder(tmp_path: Path) -> Synced:
    return _sync(tmp_path, {f"{name}.py": GOOD.format(dag_id=name) for name in ("one", "two", "three")})


def _import_errors(synced: Synced) -> dict[str, ImportError_]:
    with synced.sessions() as session:
        return {Path(e.filename).name: e for e in queries.list_import_errors(session)}


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_broken_file_becomes_an_import_error(broken_folder: Synced, name: str) -> None:
    errors = _import_errors(broken_folder)
    assert name in errors
    assert errors[name].filename == str(broken_folder.folder / name)
    assert BROKEN[name][1] in errors[name].message


@pytest.mark.parametrize("name", RAISING)
def test_import_error_keeps_the_traceback(broken_folder: Synced, name: str) -> None:
    error = _import_errors(broken_folder)[name]
    exception_type = error.message.split(":")[0]
    assert error.traceback.startswith("Traceback")
    assert exception_type in error.traceback.strip().splitlines()[-1]


def test_good_files_load_next_to_broken_ones(broken_folder: Synced) -> None:
    with broken_folder.sessions() as session:
        loaded = {d.dag_id: d.fileloc for d in queries.list_dags(session)}
    assert loaded == {"good_a": str(broken_folder.folder / "good_a.py"), "good_c": str(broken_folder.folder / "good_c.py")}


def test_file_that_hangs_is_stopped_at_the_time_limit(broken_folder: Synced) -> None:
    hang = next(r for r in broken_folder.report.parsed if r.path.endswith("hangs.py"))
    assert f"longer than the {TIMEOUT_S:g} s limit (dag_file_timeout_s)" in (hang.error or "")


def test_only_changed_files_are_parsed_again(good_folder: Synced) -> None:
    path = good_folder.folder / "two.py"
    path.write_text(path.read_text() + "\n# changed\n")
    report = sync_dag_folder(good_folder.sessions, good_folder.config)
    assert [r.path for r in report.parsed] == [str(path)]
    assert report.unchanged == 2


def test_touched_but_unchanged_file_is_not_parsed_again(good_folder: Synced) -> None:
    path = good_folder.folder / "one.py"
    stat = path.stat()
    os.utime(path, (stat.st_atime + 10, stat.st_mtime + 10))
    report = sync_dag_folder(good_folder.sessions, good_folder.config)
    assert report.parsed == []
    assert report.unchanged == 3


def test_unchanged_folder_parses_nothing(good_folder: Synced) -> None:
    report = sync_dag_folder(good_folder.sessions, good_folder.config)
    assert (report.parsed, report.removed, report.unchanged) == ([], [], 3)


def test_deleted_file_deactivates_its_dags(good_folder: Synced) -> None:
    path = good_folder.folder / "three.py"
    path.unlink()
    report = sync_dag_folder(good_folder.sessions, good_folder.config)
    assert report.removed == [str(path)]
    with good_folder.sessions() as session:
        assert session.get(Dag, "three").is_active is False
        assert sorted(d.dag_id for d in queries.list_dags(session)) == ["one", "two"]


def test_fixing_a_broken_file_clears_its_import_error(good_folder: Synced) -> None:
    path = good_folder.folder / "one.py"
    good_source = path.read_text()
    path.write_text("def broken(:\n")
    sync_dag_folder(good_folder.sessions, good_folder.config)
    assert "one.py" in _import_errors(good_folder)
    path.write_text(good_source + "\n# fixed\n")
    sync_dag_folder(good_folder.sessions, good_folder.config)
    assert "one.py" not in _import_errors(good_folder)


def _clashing_pair(tmp_path: Path) -> Synced:
    """a.py and b.py both define dag_id "shared"; a.py, parsed first, owns it."""
    return _sync(tmp_path, {"a.py": GOOD.format(dag_id="shared"), "b.py": GOOD.format(dag_id="shared")})


def test_dag_id_freed_by_a_deleted_file_loads_from_the_other_file(tmp_path: Path) -> None:
    synced = _clashing_pair(tmp_path)
    (synced.folder / "a.py").unlink()
    sync_dag_folder(synced.sessions, synced.config)
    with synced.sessions() as session:
        assert [(d.dag_id, d.fileloc) for d in queries.list_dags(session)] == [("shared", str(synced.folder / "b.py"))]
    assert _import_errors(synced) == {}


def test_dag_id_freed_by_a_renamed_dag_loads_from_the_other_file(tmp_path: Path) -> None:
    synced = _clashing_pair(tmp_path)
    (synced.folder / "a.py").write_text(textwrap.dedent(GOOD.format(dag_id="renamed")))
    sync_dag_folder(synced.sessions, synced.config)
    with synced.sessions() as session:
        loaded = {d.dag_id: Path(d.fileloc).name for d in queries.list_dags(session)}
    assert loaded == {"renamed": "a.py", "shared": "b.py"}
    assert _import_errors(synced) == {}


@pytest.mark.postgres
def test_schedulers_syncing_one_folder_at_once_store_each_dag_once(postgres_server: str, tmp_path: Path) -> None:
    import threading

    from sqlalchemy import func, select

    from orchestrator.store.models import DagFile
    from tests.conftest import temporary_postgres_database

    for i in range(4):
        write_dag(tmp_path / "dags", f"dag_{i}.py", GOOD.format(dag_id=f"good_{i}"))
    with temporary_postgres_database("orch_sync") as url:
        sessions = upgraded_sessions(url)
        config = make_config(tmp_path, url)
        failures: list[BaseException] = []

        def sync() -> None:
            try:
                sync_dag_folder(sessions, config)
            except BaseException as exc:  # noqa: BLE001 - reported below
                failures.append(exc)

        threads = [threading.Thread(target=sync) for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        with sessions() as s:
            files = s.scalar(select(func.count()).select_from(DagFile))
            dags = s.scalar(select(func.count()).select_from(Dag))
        sessions.kw["bind"].dispose()
    assert failures == []
    assert (files, dags) == (4, 4)
