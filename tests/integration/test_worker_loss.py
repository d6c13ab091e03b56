"""Exactly once when a Dask worker dies: a worker process is killed with SIGKILL while it runs a
chain whose tasks each leave a side effect; what the tasks did and what the store recorded agree."""

from __future__ import annotations

import os
import signal
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from orchestrator.execution.dask_executor import DaskExecutor

from .conftest import DaskProcesses
from .harness import SchedulerThread, make_config, tries_of, trigger, upgraded_sessions, wait_for_run, wait_until, write_dag

pytestmark = pytest.mark.slow

CHAIN = """
    from orchestrator import DAG, PythonTask, chain
    from tests.fixtures import record_try

    with DAG("effects"):
        chain(*[PythonTask(task_id=f"t{i}", python_callable=record_try, op_args=[LINES, 1.0], tiny=False) for i in range(5)])
"""


@dataclass
class Outcome:
    state: str
    lines: list[tuple[str, int]]
    tries: list
    killed: int


@pytest.fixture(scope="module")
def killed_mid_chain(cluster: DaskProcesses, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Outcome]:
    """The chain runs; once t2 started, the worker running it is killed; the run goes on on the other one."""
    home = tmp_path_factory.mktemp("worker_loss")
    lines = home / "lines.txt"
    lines.touch()
    write_dag(home / "dags", "effects.py", CHAIN.replace("LINES", repr(str(lines))))
    url = f"sqlite:///{home / 'orchestrator.db'}"
    sessions = upgraded_sessions(url)
    try:
        with SchedulerThread(make_config(home, url), sessions, DaskExecutor(cluster.address)):
            run_id = trigger(sessions, "effects")
            started = wait_until(lambda: [ln for ln in lines.read_text().splitlines() if ln.startswith("t2 ")], timeout=60, what="t2 to start")
            pid = int(started[0].split()[2])
            assert pid in cluster.worker_pids
            os.kill(pid, signal.SIGKILL)
            run = wait_for_run(sessions, "effects", run_id, timeout=120)
        written = [(ln.split()[0], int(ln.split()[1])) for ln in lines.read_text().splitlines()]
        yield Outcome(run.state, written, tries_of(sessions, "effects", run_id), pid)
    except BaseException:
        print(cluster.log.read_text()[-5000:])
        raise
    finally:
        sessions.kw["bind"].dispose()


def test_the_run_succeeds_on_the_worker_left(killed_mid_chain: Outcome) -> None:
    assert killed_mid_chain.state == "success"


def test_side_effects_and_recorded_tries_agree_exactly(killed_mid_chain: Outcome) -> None:
    assert Counter(killed_mid_chain.lines) == Counter((t.task_id, t.try_number) for t in killed_mid_chain.tries)


def test_no_task_recorded_as_succeeded_runs_again(killed_mid_chain: Outcome) -> None:
    runs = Counter(task for task, _ in killed_mid_chain.lines)
    assert runs["t0"] == runs["t1"] == 1


def test_the_try_cut_short_is_recorded_as_lost_with_its_worker_and_a_new_try_follows(killed_mid_chain: Outcome) -> None:
    t2 = sorted((t.try_number, t.state, (t.error or "")[:11]) for t in killed_mid_chain.tries if t.task_id == "t2")
    assert t2 == [(1, "failed", "worker lost"), (2, "success", "")]
