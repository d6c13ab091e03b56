"""Importable task callables for the tests: DAG files written by tests reference these.

Several test suites add to this module: append new callables, do not rewrite existing ones.
"""

from __future__ import annotations

# -- used by tests/integration --------------------------------------------------------------------
import os as _os
import time as _time

from orchestrator import get_context as _get_context


def numbers(n: int = 3) -> list[int]:
    """[1, ..., n]: a JSON result for downstream tasks."""
    return list(range(1, n + 1))


def total(values: list[int]) -> int:
    return sum(values)


def describe(value: int) -> dict[str, int]:
    return {"total": value, "double": 2 * value}


def context_params() -> dict:
    """The params the running task sees (DAG params merged with the run's conf)."""
    return dict(_get_context().params)


def fail_on_first_try() -> str:
    """Fails on try 1 and succeeds on any later try; prints which try runs (goes to the try's log)."""
    ctx = _get_context()
    print(f"{ctx.task_id} running try {ctx.try_number}")
    if ctx.try_number == 1:
        raise RuntimeError("failing on purpose on try 1")
    return f"succeeded on try {ctx.try_number}"


def always_fail() -> None:
    raise RuntimeError("this task always fails")


def succeed() -> str:
    return "ok"


def sleep_for(seconds: float) -> float:
    """Sleep in short steps, so an execution_timeout that interrupts the thread lands promptly."""
    deadline = _time.monotonic() + seconds
    while _time.monotonic() < deadline:
        _time.sleep(0.02)
    return seconds


def append_line(path: str, line: str, sleep_s: float = 0.0) -> str:
    """Append `line` to `path` as this try starts (a side effect tests count), then sleep."""
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(line + "\n")
        fh.flush()
        _os.fsync(fh.fileno())
    sleep_for(sleep_s)
    return line


def worker_pid() -> int:
    """The pid of the process the task ran in (tells which Dask worker ran it)."""
    return _os.getpid()


# -- used by tests/integration/test_run_actions.py -----------------------------------------------
def print_slowly(lines: int, every_s: float) -> int:
    """Print a numbered line every `every_s` seconds (a log that grows while the try runs)."""
    for i in range(lines):
        print(f"line {i}", flush=True)
        sleep_for(every_s)
    return lines


def fail_unless_file_exists(path: str) -> str:
    """Fails while `path` is missing: a test creates it, clears the task and watches it succeed."""
    if not _os.path.exists(path):
        raise RuntimeError(f"{path} does not exist yet")
    return "found"


# -- used by tests/integration/test_resilience.py (circuit breakers, pools) ----------------------
def get_from_connection(conn_id: str, path: str = "/") -> int:
    """GET http://<host>:<port><path> of the task's connection; an HTTP 500 raises urllib's HTTPError."""
    import urllib.request

    from orchestrator.connections import get_connection

    conn = get_connection(conn_id)
    with urllib.request.urlopen(f"http://{conn.host}:{conn.port}{path}", timeout=10) as response:
        return response.status


def note_interval(path: str, sleep_s: float) -> list[float]:
    """Sleep `sleep_s` and append this try's [start, end] (epoch seconds) to `path`, for counting overlaps."""
    start = _time.time()
    sleep_for(sleep_s)
    end = _time.time()
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(f"{start} {end}\n")
    return [start, end]


# -- used by tests/integration/test_connections_e2e.py ---------------------------------------------
def print_connection_secret(conn_id: str, hold_s: float = 0.0) -> dict:
    """Read the task's connection, print its password and a secret extra (the log must mask them),
    wait `hold_s` so the live log is sent while it runs, and return the non-secret fields."""
    from orchestrator.connections import get_connection

    conn = get_connection(conn_id)
    print(f"connecting as {conn.login} with password {conn.password} and token {conn.extra.get('api_token')}", flush=True)
    sleep_for(hold_s)
    print("done", flush=True)
    return {"host": conn.host, "port": conn.port, "login": conn.login, "schema": conn.schema}


def raise_connection_secret(conn_id: str) -> None:
    """Fail with the password in the error message (the stored error and traceback must mask it)."""
    from orchestrator.connections import get_connection

    raise RuntimeError(f"could not log in with {get_connection(conn_id).password}")


# -- used by tests/integration/test_dag_dependencies.py and test_trigger_dag_run.py ----------------
def fail_when_asked() -> str:
    """Fails when the run's conf (or the DAG's params) has "fail": true; succeeds otherwise."""
    if _get_context().params.get("fail"):
        raise RuntimeError("failing because the run's conf asked for it")
    return "ok"
