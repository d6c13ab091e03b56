"""KILLW: kill -9 a random Dask worker ten times during a 20-task chain with side effects (issue 11).

Each task appends one line, "<task_id> <try_number>", to a file, then sleeps. While the run goes
on, a random worker process of the scheduler's LocalCluster is killed with SIGKILL every
0.4-0.9 s, ten times (its nanny starts a new one). Once the run ended, the file is compared with
the store: `side_effect_lines` must equal `recorded_tries` exactly, `duplicate_lines` (one try
run twice) and `succeeded_reruns` (a task run again after its success was recorded) must be 0.
"""

from __future__ import annotations

import os
import random
import signal
import time
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import select

from bench import dagfiles
from bench.env import fresh_env, now, running_scheduler, trigger, wait_runs

if TYPE_CHECKING:
    from bench.workloads import Figures, Options

DAG_ID = "killw_chain"
LENGTH = 20
KILLS = 10


def chain_with_side_effects(dag_id: str, length: int, lines: Path, sleep_s: float) -> str:
    return f'''import time
from datetime import datetime
from orchestrator import DAG, PythonTask, chain, get_context


def step():
    ctx = get_context()
    with open({str(lines)!r}, "a") as f:
        f.write(f"{{ctx.task_id}} {{ctx.try_number}}\\n")
    time.sleep({sleep_s})


with DAG("{dag_id}", schedule=None, start_date=datetime(2026, 1, 1)):
    chain(*[PythonTask(task_id=f"t{{i:02d}}", python_callable=step, tiny=False) for i in range({length})])
'''


def _worker_pids(client: object) -> list[int]:
    try:
        return list(client.run(os.getpid, wait=True).values())  # type: ignore[attr-defined]
    except Exception:  # noqa: BLE001 - a worker dying while asked: ask again next time
        return []


def _ended(env: object, run_id: str) -> bool:
    from orchestrator.store.models import DagRun

    with env.sessions() as session:  # type: ignore[attr-defined]
        return session.get(DagRun, (DAG_ID, run_id)).state in ("success", "failed")  # type: ignore[union-attr]


def kill_workers(opts: Options) -> Figures:
    from orchestrator.store.models import TaskInstance, TaskTry

    rng = random.Random()
    with fresh_env(opts.db, opts.workers) as env:
        lines = env.home / "side_effects.txt"
        lines.touch()
        dagfiles.write(env.dags_folder, "killw.py", chain_with_side_effects(DAG_ID, LENGTH, lines, 0.4))
        with running_scheduler(env, opts.workers) as sched:
            client = sched.executor.client  # type: ignore[attr-defined]
            run_id = trigger(env, DAG_ID)
            t0 = now()
            kills = 0
            deadline = time.monotonic() + 120
            while kills < KILLS and time.monotonic() < deadline and not _ended(env, run_id):
                time.sleep(rng.uniform(0.4, 0.9))
                pids = _worker_pids(client)  # the nannies bring killed workers back
                if pids:
                    os.kill(rng.choice(pids), signal.SIGKILL)
                    kills += 1
            try:
                rows = wait_runs(env, DAG_ID, [run_id], timeout_s=300)
            except TimeoutError as exc:
                with env.sessions() as session:
                    stuck = session.execute(select(TaskInstance.task_id, TaskInstance.state, TaskInstance.try_number)).all()
                    ended = session.execute(select(TaskTry.task_id, TaskTry.try_number, TaskTry.state, TaskTry.error)).all()
                raise TimeoutError(f"{exc}; tasks {sorted(map(tuple, stuck))}; tries {sorted(map(tuple, ended))}") from None
        with env.sessions() as session:
            tries = session.execute(select(TaskTry.task_id, TaskTry.try_number, TaskTry.state, TaskTry.error)).all()
            states = dict(session.execute(select(TaskInstance.task_id, TaskInstance.state)).all())
        written = Counter(tuple(line.split()) for line in lines.read_text().splitlines())
    recorded = Counter((t.task_id, str(t.try_number)) for t in tries)
    succeeded_try = {t.task_id: t.try_number for t in tries if t.state == "success"}
    reruns = sum(n for (tid, tr), n in written.items() if tid in succeeded_try and int(tr) > succeeded_try[tid])
    if rows[0].state != "success" or any(s != "success" for s in states.values()):
        raise RuntimeError(f"KILLW: the run ended {rows[0].state}; tasks {Counter(states.values())}")
    return {
        "kills": float(kills),
        "side_effect_lines": float(sum(written.values())),
        "recorded_tries": float(len(tries)),
        "mismatched_tries": float(sum(((written - recorded) + (recorded - written)).values())),
        "duplicate_lines": float(sum(n - 1 for n in written.values() if n > 1)),
        "succeeded_reruns": float(reruns),
        "worker_lost_tries": float(sum(1 for t in tries if (t.error or "").startswith("worker lost"))),
        "wall_s": (rows[0].end_date - t0).total_seconds(),
    }
