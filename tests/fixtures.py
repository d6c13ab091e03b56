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
