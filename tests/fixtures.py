"""Importable task callables for the tests: DAG files written by tests reference these.

Several test suites add to this module: append new callables, do not rewrite existing ones.
"""

from __future__ import annotations

# -- used by tests/integration --------------------------------------------------------------------
import os as _os
import time as _time
from typing import Any

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

    from orchestrator.core.connections import get_connection

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
    from orchestrator.core.connections import get_connection

    conn = get_connection(conn_id)
    print(f"connecting as {conn.login} with password {conn.password} and token {conn.extra.get('api_token')}", flush=True)
    sleep_for(hold_s)
    print("done", flush=True)
    return {"host": conn.host, "port": conn.port, "login": conn.login, "schema": conn.schema}


def raise_connection_secret(conn_id: str) -> None:
    """Fail with the password in the error message (the stored error and traceback must mask it)."""
    from orchestrator.core.connections import get_connection

    raise RuntimeError(f"could not log in with {get_connection(conn_id).password}")


# -- used by tests/integration/test_dag_dependencies.py and test_trigger_dag_run.py ----------------
def fail_when_asked() -> str:
    """Fails when the run's conf (or the DAG's params) has "fail": true; succeeds otherwise."""
    if _get_context().params.get("fail"):
        raise RuntimeError("failing because the run's conf asked for it")
    return "ok"


# -- used by tests/integration/test_several_schedulers.py -------------------------------------------
def record_execution(path: str, sleep_s: float = 0.0) -> str:
    """Append "dag/run/task" of this try to `path` as it starts (executions are counted), then sleep."""
    ctx = _get_context()
    line = f"{ctx.dag_id}/{ctx.run_id}/{ctx.task_id}"
    append_line(path, line, sleep_s)
    return line


# -- used by tests/integration/test_branches_mapping_groups.py ------------------------------------
def square(x: int) -> int:
    return x * x


def label(letter: str, number: int) -> str:
    """One combination of a task mapped over two lists."""
    return f"{letter}{number}"


def square_flaky_on(x: int, flaky: int) -> int:
    """Like square, but the instance whose item is `flaky` fails its first try."""
    ctx = _get_context()
    if x == flaky and ctx.try_number == 1:
        raise RuntimeError(f"instance {ctx.map_index} fails its first try on purpose")
    return x * x


def square_failing_on(x: int, bad: int) -> int:
    if x == bad:
        raise ValueError(f"cannot square {x}")
    return x * x


def choose(which: object) -> object:
    """A branch's callable: returns what it is given (task ids to follow)."""
    return which


def choose_by_param() -> object:
    """A branch's callable: follows the task ids in the run's conf "follow"."""
    return _get_context().params.get("follow")


# -- used by tests/integration/test_declarative_workflows.py (runs pinned to their version) -------
def hold_until_file_exists(started: str, release: str, timeout_s: float = 60.0) -> str:
    """Create `started`, then wait (up to `timeout_s`) until a test creates `release`: the test
    changes things while this try runs."""
    with open(started, "w", encoding="utf-8"):
        pass
    deadline = _time.monotonic() + timeout_s
    while not _os.path.exists(release):
        if _time.monotonic() > deadline:
            raise TimeoutError(f"{release} did not appear within {timeout_s:g} s")
        _time.sleep(0.02)
    return "released"


# -- used by tests/integration/test_error_transitions.py and test_idempotency_keys.py -----------------
def raise_error(kind: str | None = None) -> None:
    """Fails with the named built-in exception (TimeoutError, ValueError...; default: the run's
    conf "error"), for error routing."""
    kind = kind or _get_context().params["error"]
    raise {"TimeoutError": TimeoutError, "ValueError": ValueError, "KeyError": KeyError}[kind](f"{kind} raised on purpose")


def routed_error_seen() -> dict | None:
    """The error a handler handles, as its context gives it."""
    return _get_context().routed_error


def upstream_value(value: object) -> object:
    """Returns what it is given (an upstream's result, to see what a downstream received)."""
    return value


def review(path: str, approve_on: int) -> str:
    """Record this try in `path`; "approved" once it is the `approve_on`-th, "rejected" before."""
    record_execution(path)
    with open(path, encoding="utf-8") as fh:
        seen = sum(1 for _ in fh)
    return "approved" if seen >= approve_on else "rejected"


def is_approved(results: dict) -> bool:
    """A loop group's repeat_until: done once any task of the group said "approved"."""
    return "approved" in results.values()


def charge_order(path: str) -> dict:
    """A side effect counted in `path`; returns a charge id made of the run's order_id."""
    record_execution(path)
    return {"charge_id": f"ch_{_get_context().params['order_id']}"}


# -- used by tests/integration/test_sub_workflows.py ----------------------------------------------------
def quote_price() -> dict:
    """A child run's task: prices the conf's sku and qty; fails when the conf says "fail"."""
    params = _get_context().params
    if params.get("fail"):
        raise RuntimeError("pricing failed because the conf asked for it")
    return {"sku": params["sku"], "amount": params["qty"] * 2.5}


def fail_once(path: str) -> str:
    """Fails the first time (creating `path`), succeeds every time after."""
    if not _os.path.exists(path):
        with open(path, "w", encoding="utf-8"):
            pass
        raise RuntimeError("failing once on purpose")
    return "ok"


def fail_once_file_exists(path: str, timeout_s: float = 60.0) -> None:
    """Wait until a test (or another task) creates `path`, then fail."""
    deadline = _time.monotonic() + timeout_s
    while not _os.path.exists(path) and _time.monotonic() < deadline:
        _time.sleep(0.02)
    raise ValueError(f"failing now that {path} exists")


# -- used by tests/integration/test_engine_packs.py ------------------------------------------------
def record_try(path: str, sleep_s: float = 0.0) -> int:
    """Append "task_id try_number pid" to `path` as this try starts (side effects are counted
    against recorded tries), then sleep; returns the pid of the worker it ran in."""
    ctx = _get_context()
    append_line(path, f"{ctx.task_id} {ctx.try_number} {_os.getpid()}", sleep_s)
    return _os.getpid()


def say_and_return(index: int) -> int:
    """Print a line naming `index` (each try's own log) and return it (each try's own result)."""
    print(f"tiny task {index} ran")
    return index


# -- used by tests/integration/test_templated_steps.py ----------------------------------------------
from orchestrator.authoring.tasks import BaseTask as _BaseTask  # noqa: E402


class Greeter(_BaseTask):
    """A custom step type with a templated field of its own."""

    step_type = "greeter"
    template_fields = ("greeting",)

    def __init__(self, *, task_id: str, greeting: str, **kwargs: object) -> None:
        super().__init__(task_id=task_id, **kwargs)  # type: ignore[arg-type]
        self.greeting = greeting

    def execute(self, context: object, upstream_results: dict) -> str:
        return self.greeting


def echo_kwargs(**kwargs: object) -> dict:
    """Returns what it was called with (templates_dict included), for rendering tests."""
    return {k: v for k, v in kwargs.items() if k in ("when", "tag", "templates_dict")}


# -- used by tests/integration/test_sensors.py ------------------------------------------------------
def file_exists(path: str) -> bool:
    """A sensor's poke: whether `path` exists."""
    return _os.path.exists(path)


def file_text_when_there(path: str) -> object:
    """A sensor's poke that returns the file's text as its value once it exists."""
    from orchestrator import PokeReturnValue

    if not _os.path.exists(path):
        return PokeReturnValue(False)
    with open(path, encoding="utf-8") as fh:
        return PokeReturnValue(True, fh.read())


def busy_interval(seconds: float) -> dict:
    """Occupy the worker's thread for `seconds`; returns which process ran it, and when (wall clock)."""
    start = _time.time()
    sleep_for(seconds)
    return {"pid": _os.getpid(), "start": start, "end": _time.time()}


class CodedError(Exception):
    """An error that carries a code, as seed 002's errorCode routes match."""

    def __init__(self, code: str) -> None:
        super().__init__(f"failed with code {code}")
        self.error_code = code


def raise_coded(code: str) -> None:
    """Fails with CodedError carrying `code`."""
    raise CodedError(code)


# -- state machines (tests/integration/test_state_machines.py) --------------------------------------
def score_document(context: Any) -> dict[str, Any]:
    """A review action: each review scores one higher than the last; the score is run data."""
    score = int(context.run_data.get("score", 0)) + 1
    context.run_data.set("score", score)
    context.run_data.set("reviews", context.run_data.get("reviews", []) + [score])
    return {"score": score}


def archive_document(context: Any) -> str:
    """A final state's entry action: records who archived it as run data."""
    context.run_data.set("archived", True)
    return "archived"
