"""The runtime: runs one task try where the work lands (a Dask worker or this process).

It loads the task's callable from the DAG file, runs it with its context, captures what it
prints and logs, enforces `execution_timeout`, and returns an `Outcome`. It never raises:
every failure is an outcome, so Dask can start a downstream the moment an upstream ends.
"""

from __future__ import annotations

import contextvars
import ctypes
import io
import json
import logging
import os
import socket
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, Protocol

from orchestrator.authoring.dag import DAG
from orchestrator.core.connections import (
    ConnectionNotFoundError,
    Masker,
    masker_for,
    reset_connections,
    reset_masker,
    set_connections,
    set_masker,
)
from orchestrator.core.error_routing import code_of
from orchestrator.core.errors import NotFoundError, TaskTimeoutError
from orchestrator.core.retry import may_retry, retryable
from orchestrator.core.run_data import RunData
from orchestrator.core.sensors import Reschedule, TaskSkipped
from orchestrator.execution.context import TaskContext
from orchestrator.execution.current import reset_context, set_context
from orchestrator.execution.template_context import render_task

OutcomeStatus = Literal["success", "failed", "not_run", "skipped", "reschedule"]
"""`skipped`: the task raised TaskSkipped; `reschedule`: a reschedule-mode sensor's poke found its
condition not met (orchestrator.core.sensors)."""


@dataclass(frozen=True)
class WorkItem:
    """Everything a worker needs to run one try; picklable, no database handle."""

    key: str
    dag_id: str
    run_id: str
    task_id: str
    try_number: int
    fileloc: str
    dags_root: str | None
    map_index: int = -1
    map_items: dict[str, Any] = field(default_factory=dict)
    """For one instance of a mapped task: its items, by argument name (orchestrator.core.mapping.map_items)."""
    logical_date: datetime | None = None
    data_interval_start: datetime | None = None
    data_interval_end: datetime | None = None
    params: dict[str, Any] = field(default_factory=dict)
    upstream_results: dict[str, Any] = field(default_factory=dict)
    chained_upstreams: tuple[str, ...] = ()
    """Upstream task ids whose results come from tries run just before this one, in the same pack."""
    after: tuple[str, ...] = ()
    """The keys of those tries (one per `chained_upstreams` entry): earlier items of the same pack."""
    execution_timeout_s: float | None = None
    max_result_bytes: int = 1_000_000
    connections: dict[str, dict[str, Any]] = field(default_factory=dict)
    """conn_id -> Connection as a dict, resolved by the scheduler; read with get_connection."""
    connection_error: str | None = None
    """Why the task's connection could not be resolved: the try fails with it before running."""
    priority: int = 0
    """The run's priority: the executor runs higher ones first (Dask's `priority=`)."""
    max_tries: int = 1
    """The task instance's max_tries: a failed try below it runs on_retry, otherwise on_failure."""
    routed_error: dict[str, Any] | None = None
    """For an error handler: the failure routed to it (TaskContext.routed_error)."""
    dag_callback: Literal["success", "failed", "deadline_miss"] | None = None
    """Set on a callback item (task_id DAG_CALLBACK_TASK_ID): which DAG callback to call (a run's end,
    or a missed deadline: the DAG's on_deadline_miss, or with `callback_task` that task's)."""
    callback_task: str | None = None
    run_data: dict[str, Any] = field(default_factory=dict)
    """The run's variables when the try was dispatched (orchestrator.core.run_data)."""
    code_bundle: str | None = None
    """The name of the code bundle holding the DAG folder, when the worker gets the code with the work
    (orchestrator.execution.code_bundle); `fileloc` is then read relative to `dags_root` inside the bundle."""


DAG_CALLBACK_TASK_ID = "__dag_callback__"
"""The task_id of the work item that calls a DAG's run callback when the run ended."""


@dataclass(frozen=True)
class Outcome:
    """How a try ended. `not_run`: a chained upstream did not succeed, so it never started."""

    key: str
    task_id: str
    try_number: int
    status: OutcomeStatus
    start: datetime | None = None
    end: datetime | None = None
    worker: str | None = None
    result: Any = None
    error: str | None = None
    traceback: str | None = None
    log: str = ""
    error_type: str | None = None
    """The exception's class name, for retry_on / no_retry_on and the retry-decision hook."""
    error_bases: tuple[str, ...] = ()
    """The class names of the exception's bases (so `retry_on=[OSError]` matches a ConnectionError)."""
    error_code: str | None = None
    """The exception's `error_code` (or `code`) attribute, for `on_failure` routes by errorCode."""
    follow: tuple[str, ...] | None = None
    """After a success: the direct downstream tasks to follow (a branch's decision); None: all."""
    busy_s: float | None = None
    """How long the task's own code ran (without loading its DAG file): what tells a tiny task."""
    rendered: dict[str, Any] = field(default_factory=dict)
    """The task's templated fields as the try rendered them (secrets masked), by field name."""
    data_changes: dict[str, Any] = field(default_factory=dict)
    """The run variables the try set (orchestrator.core.run_data), by name."""


_HOSTNAME = socket.gethostname()

# -- log capture: stdout, stderr and logging are routed to the running try's buffer --------
class LogBuffer:
    """A try's log text; written by the task's threads, read by the log pump."""

    def __init__(self) -> None:
        self._parts: list[str] = []
        self._lock = threading.Lock()

    def write(self, text: str) -> int:
        with self._lock:
            self._parts.append(text)
        return len(text)

    def getvalue(self) -> str:
        with self._lock:
            joined = "".join(self._parts)
            self._parts = [joined]
            return joined


_buffer: contextvars.ContextVar[LogBuffer | None] = contextvars.ContextVar("orchestrator_log_buffer", default=None)




class _RoutedStream(io.TextIOBase):
    """Writes go to the current try's buffer when one is set, else to the original stream."""

    def __init__(self, original: Any) -> None:
        self.original = original

    def write(self, s: str) -> int:
        buf = _buffer.get()
        if buf is not None:
            return buf.write(s)
        return self.original.write(s)

    def flush(self) -> None:
        if _buffer.get() is None:
            self.original.flush()

    def isatty(self) -> bool:
        return False

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self.original, "encoding", "utf-8")


class _BufferHandler(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        buf = _buffer.get()
        if buf is not None:
            buf.write(self.format(record) + "\n")


_install_lock = threading.Lock()
_installed = False


def _install_capture() -> None:
    """Route stdout/stderr to the running try's buffer and add the logging handler (once).

    The streams are checked on every try: whoever replaced sys.stdout since (a test runner's
    capture, say) would otherwise keep every later try's output out of its log.
    """
    global _installed
    if _installed and isinstance(sys.stdout, _RoutedStream) and isinstance(sys.stderr, _RoutedStream):
        return
    with _install_lock:
        if not isinstance(sys.stdout, _RoutedStream):
            sys.stdout = _RoutedStream(sys.stdout)
        if not isinstance(sys.stderr, _RoutedStream):
            sys.stderr = _RoutedStream(sys.stderr)
        if _installed:
            return
        handler = _BufferHandler()
        handler.setFormatter(logging.Formatter("[%(asctime)s] %(levelname)s %(name)s: %(message)s"))
        logging.getLogger().addHandler(handler)
        task_logger = logging.getLogger("orchestrator.task")
        task_logger.setLevel(logging.INFO)
        _installed = True


# -- loading the task's code -------------------------------------------------------------------
_dag_cache: dict[tuple[str, int], dict[str, DAG]] = {}
_cache_lock = threading.Lock()


def load_dag(fileloc: str, dag_id: str, dags_root: str | None) -> DAG:
    """The DAG `dag_id` from `fileloc`, imported once per file version in this process."""
    from orchestrator.execution.dagfile import import_dag_file

    try:
        mtime = os.stat(fileloc).st_mtime_ns
    except FileNotFoundError:
        raise NotFoundError(f"DAG file {fileloc} does not exist on worker {socket.gethostname()}") from None
    cache_key = (fileloc, mtime)
    with _cache_lock:
        dags = _dag_cache.get(cache_key)
        if dags is None:
            dags = {d.dag_id: d for d in import_dag_file(Path(fileloc), Path(dags_root) if dags_root else None)}
            for stale in [k for k in _dag_cache if k[0] == fileloc]:
                del _dag_cache[stale]
            _dag_cache[cache_key] = dags
    if dag_id not in dags:
        raise NotFoundError(f"{fileloc} no longer defines DAG {dag_id!r}")
    return dags[dag_id]


def _from_bundle(work: WorkItem, bundle: bytes) -> WorkItem:
    """The work item with its DAG file and folder inside the unpacked code bundle."""
    from orchestrator.execution.code_bundle import unpacked

    assert work.code_bundle is not None and work.dags_root is not None
    folder = unpacked(work.code_bundle, bundle)
    relative = Path(work.fileloc).relative_to(work.dags_root)
    return replace(work, fileloc=str(folder / relative), dags_root=str(folder))


def _interrupt(thread: threading.Thread) -> None:
    """Best effort: raise TaskTimeoutError in a thread that ran past its deadline."""
    if thread.ident is not None:
        ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread.ident), ctypes.py_object(TaskTimeoutError))


def _call_with_timeout(fn: Any, timeout_s: float | None) -> Any:
    if timeout_s is None:
        return fn()
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - handed to the caller below
            box["error"] = exc

    thread = threading.Thread(target=contextvars.copy_context().run, args=(target,), daemon=True)
    thread.start()
    thread.join(timeout_s)
    if thread.is_alive():
        _interrupt(thread)
        raise TaskTimeoutError(f"the task ran longer than its execution_timeout of {timeout_s:g} s")
    if "error" in box:
        raise box["error"]
    return box.get("value")


def _now() -> datetime:
    return datetime.now(UTC)


class Reporter(Protocol):
    """Where a try says it started and how it ended (orchestrator.execution.wire on a Dask worker)."""

    def started(self, key: str, start: datetime, worker: str, log: LogBuffer, masker: Masker) -> None:
        """The try began; `log` fills as it runs (a reporter may send it on while it does)."""

    def done(self, outcome: Outcome) -> None:
        """The try ended (or was not run)."""


def run_task(work: WorkItem, *chained: Outcome, bundle: bytes | None = None, reporter: Reporter | None = None) -> Outcome:
    """Run one try and describe how it ended. `chained` are the outcomes of chained upstreams;
    `bundle` is the zipped DAG folder named by `work.code_bundle`, for workers without the folder;
    `reporter` hears the start and the outcome as they happen."""
    worker = _HOSTNAME
    if work.code_bundle is not None and bundle is not None:
        work = _from_bundle(work, bundle)
    if work.dag_callback is not None:
        outcome = _run_dag_callback(work)
        if reporter is not None:
            reporter.done(outcome)
        return outcome
    for up in chained:
        if up.status != "success":
            skipped = Outcome(work.key, work.task_id, work.try_number, "not_run", worker=worker)
            if reporter is not None:
                reporter.done(skipped)
            return skipped
    upstream_results = dict(work.upstream_results)
    for name, up in zip(work.chained_upstreams, chained):
        upstream_results[name] = up.result
    with _capture(work) as (buf, masker):
        start = _now()
        status: OutcomeStatus = "failed"
        busy_s: float | None = None
        result: Any = None
        error: str | None = None
        tb: str | None = None
        error_type: str | None = None
        error_bases: tuple[str, ...] = ()
        error_code: str | None = None
        follow: tuple[str, ...] | None = None
        rendered: dict[str, Any] = {}
        # a try chained after its upstreams (same pack) sees what they set, as a later dispatch would
        run_data = RunData({**work.run_data, **{k: v for up in chained for k, v in up.data_changes.items()}})
        ctx_token = None
        try:
            task = context = failure = None
            try:
                dag = load_dag(work.fileloc, work.dag_id, work.dags_root)
                task = dag.get_task(work.task_id)
                if work.map_index >= 0:
                    task = task.for_map_items(work.map_items)
                context = _context(work, task=task, upstream_results=upstream_results, run_data=run_data)
                ctx_token = set_context(context)
                if work.connection_error is not None:
                    raise ConnectionNotFoundError(work.connection_error)
                task, rendered = render_task(task, context)
                if reporter is not None:
                    # announced right before the task's own code, after its DAG file is loaded: a worker
                    # killed meanwhile leaves no recorded try for a side effect that never happened
                    reporter.started(work.key, start, worker, buf, masker)
                called = time.perf_counter()
                try:
                    value = _call_with_timeout(lambda: task.execute(context, upstream_results), work.execution_timeout_s)
                finally:
                    busy_s = time.perf_counter() - called
                result = _check_result(value, work.max_result_bytes)
                follow = task.follow(result)
                status = "success"
            except (TaskSkipped, Reschedule) as exc:
                status = "skipped" if isinstance(exc, TaskSkipped) else "reschedule"
                error = str(exc) or None
                buf.write(f"{'skipped' if status == 'skipped' else 'not yet: rescheduled'}{f' ({error})' if error else ''}\n")
                context = None  # neither a success nor a failure: no callback
            except BaseException as exc:  # noqa: BLE001 - user code may raise anything
                failure = exc
                error = f"{type(exc).__name__}: {exc}"
                error_type = type(exc).__name__
                error_bases = tuple(c.__name__ for c in type(exc).__mro__[1:] if c not in (BaseException, object))
                error_code = code_of(exc)
                tb = traceback.format_exc()
                buf.write(tb)
            if task is not None and context is not None:
                _task_callback(task, work, context, failure, (error_type, *error_bases) if error_type else ())
        finally:
            if ctx_token is not None:
                reset_context(ctx_token)
    # secrets of the task's connections never leave the worker, whatever the task printed or raised
    outcome = Outcome(
        work.key, work.task_id, work.try_number, status, start, _now(), worker, result,
        masker.mask(error), masker.mask(tb), masker.mask(buf.getvalue()) or "",
        error_type=error_type, error_bases=error_bases, error_code=error_code, follow=follow, busy_s=busy_s, rendered=rendered,
        data_changes=run_data.changes if status == "success" else {},
    )
    if reporter is not None:
        reporter.done(outcome)
    return outcome


@contextmanager
def _capture(work: WorkItem) -> Iterator[tuple[LogBuffer, Any]]:
    """What a try sees while it runs: its log buffer (stdout, stderr, logging) and its connections;
    yields the buffer and the masker that keeps the connections' secrets out of what leaves."""
    _install_capture()
    buf = LogBuffer()
    buf_token = _buffer.set(buf)
    conn_token = set_connections(work.connections)
    masker = masker_for(work.connections)
    mask_token = set_masker(masker)  # a sensitive Variable the task reads joins it
    try:
        yield buf, masker
    finally:
        reset_masker(mask_token)
        reset_connections(conn_token)
        _buffer.reset(buf_token)


def _context(work: WorkItem, **extra: Any) -> TaskContext:
    return TaskContext(
        dag_id=work.dag_id,
        task_id=work.task_id,
        run_id=work.run_id,
        try_number=work.try_number,
        map_index=work.map_index,
        logical_date=work.logical_date,
        data_interval_start=work.data_interval_start,
        data_interval_end=work.data_interval_end,
        params=dict(work.params),
        routed_error=work.routed_error,
        **extra,
    )


# -- callbacks: part of the try, after its outcome is known; they never change it ---------------
def _task_callback(task: Any, work: WorkItem, context: TaskContext, failure: BaseException | None, error_types: tuple[str, ...]) -> None:
    """Run the task's on_success, on_retry or on_failure callback for this try's outcome.

    The worker cannot know the scheduler's retry decision for sure (a plugin may overrule it):
    on_retry runs when tries are left and the task's retry_on / no_retry_on allow this error.
    """
    if failure is None:
        name = "on_success"
    elif may_retry(work.try_number, work.max_tries) and retryable(task.to_spec(), error_types):
        name = "on_retry"
    else:
        name = "on_failure"
    try:
        fn = task.callback(name)
    except Exception as exc:  # noqa: BLE001 - reported in the log like a failing callback
        _log_callback_error(name, exc)
        return
    if fn is not None:
        _call_callback(name, fn, replace(context, exception=failure), work.execution_timeout_s)


def _call_callback(name: str, fn: Callable[[TaskContext], Any], context: TaskContext, timeout_s: float | None) -> bool:
    """Call a callback; an error goes to the try's log. Returns whether it succeeded."""
    try:
        _call_with_timeout(lambda: fn(context), timeout_s)
    except BaseException as exc:  # noqa: BLE001 - a callback's failure must never change the outcome
        _log_callback_error(name, exc)
        return False
    return True


def _log_callback_error(name: str, exc: BaseException) -> None:
    buf = _buffer.get()
    if buf is not None:
        text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        buf.write(f"{name} callback failed (the try's outcome stands): {type(exc).__name__}: {exc}\n{text}")


_CALLBACK_NAMES = {"success": "on_success_callback", "failed": "on_failure_callback", "deadline_miss": "on_deadline_miss"}


def _run_dag_callback(work: WorkItem) -> Outcome:
    """Call the DAG's on_success_callback / on_failure_callback for a run that ended (or the DAG's or
    a task's on_deadline_miss for a missed deadline); `success`
    when it ran (or there is none), `failed` with the error otherwise. Its output is the log."""
    start = _now()
    name = _CALLBACK_NAMES[work.dag_callback or "failed"]
    with _capture(work) as (buf, masker):
        ok = True
        try:
            dag = load_dag(work.fileloc, work.dag_id, work.dags_root)
            fn = getattr(dag.tasks[work.callback_task] if work.callback_task else dag, name)
        except Exception as exc:  # noqa: BLE001 - the file may have changed since the run
            _log_callback_error(name, exc)
            ok = False
            fn = None
        if fn is not None:
            context = _context(work, run_state=None if work.dag_callback == "deadline_miss" else work.dag_callback)
            ctx_token = set_context(context)
            try:
                ok = _call_callback(name, fn, context, work.execution_timeout_s)
            finally:
                reset_context(ctx_token)
    log_text = masker.mask(buf.getvalue()) or ""
    error = None if ok else masker.mask(log_text.splitlines()[0] if log_text else f"{name} failed")
    return Outcome(work.key, work.task_id, work.try_number, "success" if ok else "failed", start, _now(), _HOSTNAME, log=log_text, error=error)


def _check_result(value: Any, max_bytes: int) -> Any:
    """Results flow downstream as JSON: refuse what JSON cannot hold, or what is too big."""
    try:
        encoded = json.dumps(value)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"the task returned {type(value).__name__}, which is not JSON-serializable: {exc}") from None
    if len(encoded) > max_bytes:
        raise ValueError(f"the task's result is {len(encoded)} bytes as JSON, over the {max_bytes} byte limit")
    return value
