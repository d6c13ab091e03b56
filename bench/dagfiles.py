"""The generated DAG files each workload runs: no-op tasks, written into a DAG folder."""

from __future__ import annotations

from pathlib import Path

_HEADER = '''from datetime import datetime
from orchestrator import DAG, PythonTask, chain


def noop():
    return None


'''


def _dag(dag_id: str, body: str, *, max_active_runs: str = "16") -> str:
    return (
        _HEADER
        + f'with DAG("{dag_id}", schedule=None, start_date=datetime(2026, 1, 1), max_active_runs={max_active_runs}):\n'
        + body
    )


def chain_dag(dag_id: str, length: int) -> str:
    """t0 >> t1 >> ... >> t{length-1}."""
    return _dag(dag_id, f'    chain(*[PythonTask(task_id=f"t{{i}}", python_callable=noop) for i in range({length})])\n')


def fanout_dag(dag_id: str, width: int, *, max_active_runs: str = "16") -> str:
    """start >> [width parallel tasks] >> join."""
    return _dag(
        dag_id,
        '    start = PythonTask(task_id="start", python_callable=noop)\n'
        f'    middle = [PythonTask(task_id=f"m{{i}}", python_callable=noop) for i in range({width})]\n'
        '    join = PythonTask(task_id="join", python_callable=noop)\n'
        "    chain(start, middle, join)\n",
        max_active_runs=max_active_runs,
    )


def unlimited_chain_dag(dag_id: str, length: int) -> str:
    """A chain whose DAG allows any number of active runs (W4)."""
    return _dag(
        dag_id,
        f'    chain(*[PythonTask(task_id=f"t{{i}}", python_callable=noop) for i in range({length})])\n',
        max_active_runs="None",
    )


def sleeping_chain_dag(dag_id: str, length: int, sleep_s: float) -> str:
    """A chain of tasks that each sleep `sleep_s` (ADOPT: runs still busy when a scheduler dies)."""
    return (
        "import time\n" + _HEADER
        + f'with DAG("{dag_id}", schedule=None, start_date=datetime(2026, 1, 1), max_active_runs=None):\n'
        + f'    chain(*[PythonTask(task_id=f"t{{i}}", python_callable=time.sleep, op_args=[{sleep_s}]) for i in range({length})])\n'
    )


def minutely_dags(prefix: str, count: int) -> str:
    """`count` one-task DAGs in one file, each due every minute (L1)."""
    return _HEADER + (
        f"for i in range({count}):\n"
        f'    with DAG(f"{prefix}_{{i:02d}}", schedule="* * * * *", start_date=datetime(2026, 1, 1)):\n'
        '        PythonTask(task_id="t", python_callable=noop)\n'
    )


def write(folder: Path, name: str, source: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(source)
    return path
