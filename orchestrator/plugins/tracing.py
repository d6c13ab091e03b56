"""OpenTelemetry traces of runs and tasks, sent to an OTLP/HTTP endpoint; off by default.

On with `tracing_otlp_endpoint` (ORCH_TRACING_OTLP_ENDPOINT=http://collector:4318) and the
`tracing` extra installed (`pip install 'orchestrator[tracing]'`): the OpenTelemetry SDK and its
OTLP/HTTP exporter.

It stays off the scheduler's hot path: a built-in plugin contributes a service (started by
`orchestrator standalone`) and the `orchestrator tracing` command (for a deployment whose
scheduler runs alone) that follow the committed event log from a cursor, as /metrics does, and
look up the times of the runs and tries that ended. So a change made by anyone (the scheduler,
a user cancelling in the web UI) is traced once, by the one exporter that runs.

One trace per run: a span `run <dag_id>` from the run's start to its end, and below it a span
`task <task_id>` for each try, from the try's start to its end. Spans are made when what they
describe has ended, with the recorded times; the trace and the run span get ids derived from
(dag_id, run_id), so a try's span can name its run's span as parent before that span exists and
an exporter restarted in the middle of a run still puts the run's spans in one trace.
"""

from __future__ import annotations

import contextvars
import hashlib
import logging
import threading
from datetime import datetime
from typing import TYPE_CHECKING, Any

from orchestrator.core.errors import ConfigError
from orchestrator.plugins.hookspecs import hookimpl
from orchestrator.store import event_feed

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

    from orchestrator.core.config import Config

log = logging.getLogger(__name__)

POLL_S = 1.0
SERVICE_NAME = "orchestrator"
_ERROR_STATES = {"failed", "up_for_retry", "upstream_failed", "cancelled"}


def trace_ids(dag_id: str, run_id: str) -> tuple[int, int]:
    """(trace id, run span id) of a run: the same wherever and whenever they are computed."""
    digest = hashlib.sha256(f"{dag_id}\0{run_id}".encode()).digest()
    # zero is not a valid id: an all-zero digest part (never seen) becomes 1
    return int.from_bytes(digest[:16], "big") or 1, int.from_bytes(digest[16:24], "big") or 1


def _ns(at: datetime) -> int:
    return int(at.timestamp() * 1_000_000_000)


class RunTracer:
    """Turns ended runs and tries into spans on an OpenTelemetry TracerProvider."""

    def __init__(self, endpoint: str, *, service_name: str = SERVICE_NAME, exporter: Any = None) -> None:
        try:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
            from opentelemetry.sdk.resources import Resource
            from opentelemetry.sdk.trace import TracerProvider
            from opentelemetry.sdk.trace.export import BatchSpanProcessor
            from opentelemetry.sdk.trace.id_generator import IdGenerator
        except ImportError as exc:
            raise ConfigError(
                f"tracing_otlp_endpoint is set but OpenTelemetry is not installed ({exc.name}): pip install 'orchestrator[tracing]'"
            ) from None

        chosen: contextvars.ContextVar[tuple[int, int] | None] = contextvars.ContextVar("chosen_ids", default=None)

        class ChosenIds(IdGenerator):  # type: ignore[misc]
            """Random ids, except the (trace, span) ids set in `chosen` for a run's own span."""

            def __init__(self) -> None:
                from opentelemetry.sdk.trace.id_generator import RandomIdGenerator

                self._random = RandomIdGenerator()

            def generate_trace_id(self) -> int:
                ids = chosen.get()
                return ids[0] if ids else self._random.generate_trace_id()

            def generate_span_id(self) -> int:
                ids = chosen.get()
                return ids[1] if ids else self._random.generate_span_id()

        self._chosen = chosen
        self.provider = TracerProvider(resource=Resource.create({"service.name": service_name}), id_generator=ChosenIds())
        url = endpoint.rstrip("/") + "/v1/traces"
        self.provider.add_span_processor(BatchSpanProcessor(exporter or OTLPSpanExporter(endpoint=url)))
        self.tracer = self.provider.get_tracer("orchestrator")

    def run_ended(self, dag_id: str, run_id: str, state: str, run: Any) -> None:
        """The span of a whole run (`run` has run_type, queued_at, start_date, end_date)."""
        from opentelemetry.trace import Status, StatusCode

        start = run.start_date or run.queued_at
        token = self._chosen.set(trace_ids(dag_id, run_id))
        try:
            span = self.tracer.start_span(
                f"run {dag_id}", start_time=_ns(start),
                attributes={"orchestrator.dag_id": dag_id, "orchestrator.run_id": run_id, "orchestrator.run_type": run.run_type,
                            "orchestrator.state": state},
            )
        finally:
            self._chosen.reset(token)
        if state in _ERROR_STATES:
            span.set_status(Status(StatusCode.ERROR, f"run {state}"))
        span.end(end_time=_ns(run.end_date or start))

    def try_ended(self, key: event_feed.TryKey, state: str, start: datetime, end: datetime) -> None:
        """The span of one try of a task, a child of its run's span."""
        from opentelemetry import trace
        from opentelemetry.trace import NonRecordingSpan, SpanContext, Status, StatusCode, TraceFlags

        dag_id, run_id, task_id, map_index, try_number = key
        trace_id, run_span_id = trace_ids(dag_id, run_id)
        parent = trace.set_span_in_context(NonRecordingSpan(SpanContext(trace_id, run_span_id, is_remote=True, trace_flags=TraceFlags(1))))
        attributes: dict[str, Any] = {
            "orchestrator.dag_id": dag_id, "orchestrator.run_id": run_id, "orchestrator.task_id": task_id,
            "orchestrator.try_number": try_number, "orchestrator.state": state,
        }
        if map_index >= 0:
            attributes["orchestrator.map_index"] = map_index
        span = self.tracer.start_span(f"task {task_id}", context=parent, start_time=_ns(start), attributes=attributes)
        if state in _ERROR_STATES:
            span.set_status(Status(StatusCode.ERROR, f"try {try_number} {state}"))
        span.end(end_time=_ns(end))

    def add(self, rows: list[Any], runs: dict[event_feed.RunKey, Any], tries: dict[event_feed.TryKey, tuple[datetime | None, datetime | None]]) -> None:
        """Spans for the runs and tries that `rows` (event feed rows) say ended."""
        for row in rows:
            if event_feed.is_try_end(row):
                start, end = tries.get(event_feed.try_key(row), (None, None))
                if start is not None and end is not None:
                    self.try_ended(event_feed.try_key(row), row.to_state, start, end)
            elif event_feed.is_run_end(row) and (run := runs.get((row.dag_id, row.run_id))) is not None:
                self.run_ended(row.dag_id, row.run_id, row.to_state, run)

    def close(self) -> None:
        """Send what is buffered, then stop."""
        self.provider.shutdown()


class TraceExporter:
    """The service: follows the event log from now on and traces what ended; `run()` blocks."""

    name = "tracing"

    def __init__(self, sessions: sessionmaker[Session], tracer: RunTracer, *, poll_s: float = POLL_S) -> None:
        self.sessions = sessions
        self.tracer = tracer
        self.poll_s = poll_s
        self._stopping = threading.Event()
        self.ready = threading.Event()

    def run(self) -> None:
        with self.sessions() as s:
            cursor = event_feed.EventCursor(position=event_feed.last_event_id(s))
        self.ready.set()
        while not self._stopping.is_set():
            self.follow(cursor)
            self._stopping.wait(self.poll_s)
        self.follow(cursor)  # what ended just before the stop
        self.tracer.close()

    def follow(self, cursor: event_feed.EventCursor) -> None:
        try:
            with self.sessions() as s:
                while rows := cursor.read(s):
                    run_keys, try_keys = event_feed.keys_named(rows)
                    self.tracer.add(rows, event_feed.run_times(s, run_keys), event_feed.try_times(s, try_keys))
                    if len(rows) < cursor.batch:
                        break
        except Exception:  # noqa: BLE001 - a database hiccup or an exporter bug must not end the service
            log.exception("tracing: reading the event log failed; trying again in %g s", self.poll_s)

    def stop(self) -> None:
        self._stopping.set()


def exporter_for(config: Config, sessions: sessionmaker[Session]) -> TraceExporter | None:
    """The exporter the configuration asks for, or None when tracing is off."""
    if not config.tracing_otlp_endpoint:
        return None
    return TraceExporter(sessions, RunTracer(config.tracing_otlp_endpoint, service_name=config.tracing_service_name))


@hookimpl
def orchestrator_services(config: Config, sessions: sessionmaker[Session], options: dict[str, Any]) -> list[Any]:
    exporter = exporter_for(config, sessions)
    return [exporter] if exporter is not None else []


