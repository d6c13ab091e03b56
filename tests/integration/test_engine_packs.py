"""How tries reach Dask (orchestrator.execution.packing, orchestrator.execution.packs): a linear chain continues on
one worker as one Dask task, tiny tasks go in batches, other tasks one Dask task each, and
every try is still recorded on its own."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from orchestrator.execution.dask_executor import DaskExecutor
from orchestrator.execution.runtime import WorkItem

from .harness import SchedulerThread, events_of, make_config, task_rows, tries_of, trigger, upgraded_sessions, wait_for_run, write_dag

pytestmark = pytest.mark.slow


class RecordingExecutor(DaskExecutor):
    """The real Dask executor, keeping which task ids went to Dask together."""

    def __init__(self, address: str) -> None:
        super().__init__(address)
        self.packs: list[tuple[list[str], bool]] = []

    def submit(self, pack: Sequence[WorkItem], *, tiny: bool = False) -> None:
        self.packs.append(([w.task_id for w in pack], tiny))
        super().submit(pack, tiny=tiny)


@dataclass
class Ran:
    run_id: str
    packs: list[tuple[list[str], bool]]
    home: Path


@pytest.fixture
def run_dag(tmp_path: Path, dask_address: str) -> Iterator:
    """Runs a DAG file's DAG once through the scheduler; returns the run and the packs submitted."""
    url = f"sqlite:///{tmp_path / 'orchestrator.db'}"
    sessions = upgraded_sessions(url)

    def run(dag_id: str, source: str) -> Ran:
        write_dag(tmp_path / "dags", f"{dag_id}.py", source.replace("LINES", repr(str(tmp_path / "lines.txt"))))
        executor = RecordingExecutor(dask_address)
        with SchedulerThread(make_config(tmp_path, url), sessions, executor):
            run_id = trigger(sessions, dag_id)
            assert wait_for_run(sessions, dag_id, run_id).state == "success"
        return Ran(run_id, executor.packs, tmp_path)

    run.sessions = sessions  # type: ignore[attr-defined]
    yield run
    sessions.kw["bind"].dispose()


CHAIN = """
    from orchestrator import DAG, PythonTask, chain
    from tests.fixtures import record_try

    with DAG("line"):
        chain(*[PythonTask(task_id=f"t{i}", python_callable=record_try, op_args=[LINES], tiny=False) for i in range(5)])
"""


def test_a_linear_chain_goes_to_dask_as_one_pack(run_dag) -> None:
    ran = run_dag("line", CHAIN)
    assert ran.packs == [(["t0", "t1", "t2", "t3", "t4"], False)]


def test_a_chain_continues_on_the_worker_that_ran_its_first_task(run_dag) -> None:
    ran = run_dag("line", CHAIN)
    pids = {line.split()[2] for line in (ran.home / "lines.txt").read_text().splitlines()}
    assert len(pids) == 1


def test_each_task_of_a_chain_is_recorded_on_its_own(run_dag) -> None:
    ran = run_dag("line", CHAIN)
    tries = tries_of(run_dag.sessions, "line", ran.run_id)
    assert sorted((t.task_id, t.try_number, t.state) for t in tries) == [(f"t{i}", 1, "success") for i in range(5)]
    assert all(t.start_date <= t.end_date for t in tries)
    starts = sorted(t.start_date for t in tries)
    ends = sorted(t.end_date for t in tries)
    assert all(ends[i] <= starts[i + 1] for i in range(4))  # one after the other


TINY = """
    from orchestrator import DAG, PythonTask
    from tests.fixtures import say_and_return

    with DAG("tiny"):
        [PythonTask(task_id=f"n{i}", python_callable=say_and_return, op_args=[i], tiny=True) for i in range(40)]
"""


def test_tiny_tasks_go_to_dask_in_batches(run_dag) -> None:
    ran = run_dag("tiny", TINY)
    assert all(tiny for _, tiny in ran.packs)
    assert len(ran.packs) < 40
    assert sorted(tid for ids, _ in ran.packs for tid in ids) == sorted(f"n{i}" for i in range(40))


def test_a_batched_task_keeps_its_own_try_log_and_result(run_dag) -> None:
    ran = run_dag("tiny", TINY)
    rows = task_rows(run_dag.sessions, "tiny", ran.run_id)
    assert {tid: (r.state, r.result) for tid, r in rows.items()} == {f"n{i}": ("success", i) for i in range(40)}
    tries = {t.task_id: t for t in tries_of(run_dag.sessions, "tiny", ran.run_id)}
    assert all(f"tiny task {tid[1:]} ran" in tries[tid].log for tid in rows)
    assert all(tries[tid].start_date is not None and tries[tid].end_date is not None for tid in rows)


def test_every_transition_of_a_batched_task_has_its_event(run_dag) -> None:
    ran = run_dag("tiny", TINY)
    kinds = [(e.task_id, e.kind) for e in events_of(run_dag.sessions, "tiny", ran.run_id) if e.task_id == "n7"]
    assert kinds == [("n7", "task.queued"), ("n7", "task.running"), ("n7", "task.success")]


def test_tasks_that_are_not_tiny_keep_a_dask_task_each(run_dag) -> None:
    ran = run_dag("wide", """
        from orchestrator import DAG, PythonTask
        from tests.fixtures import record_try

        with DAG("wide"):
            [PythonTask(task_id=f"w{i}", python_callable=record_try, op_args=[LINES], tiny=False) for i in range(4)]
    """)
    assert sorted(ran.packs) == [([f"w{i}"], False) for i in range(4)]


def test_a_wide_fan_out_of_a_kind_never_seen_is_batched_once_a_probe_ends(run_dag) -> None:
    ran = run_dag("unseen", """
        from orchestrator import DAG, PythonTask
        from tests.fixtures import say_and_return

        with DAG("unseen"):
            [PythonTask(task_id=f"u{i}", python_callable=say_and_return, op_args=[i]) for i in range(60)]
    """)
    singles = [ids for ids, tiny in ran.packs if not tiny]
    assert 1 <= len(singles) <= 4  # the probes: one per worker thread at most
    assert any(tiny for _, tiny in ran.packs)
    assert sorted(tid for ids, _ in ran.packs for tid in ids) == sorted(f"u{i}" for i in range(60))
