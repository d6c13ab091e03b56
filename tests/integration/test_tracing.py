"""OpenTelemetry traces of runs and tasks, sent over OTLP/HTTP to a real local receiver.

The receiver is a small HTTP server started by the test: it accepts the exporter's protobuf
posts on /v1/traces and keeps the decoded spans. Runs are driven to the end by `dags test`'s
runner while the exporter service follows the event log.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from sqlalchemy.orm import Session, sessionmaker

from orchestrator.core.config import Config
from orchestrator.core.errors import ConfigError
from orchestrator.operations.folder_sync import sync_dag_folder
from orchestrator.plugins.tracing import TraceExporter, exporter_for, trace_ids
from scheduler import testrun

from .harness import make_config, task_rows, upgraded_sessions, write_dag

DAG_FILE = """
    from orchestrator import DAG, PythonTask
    from tests.fixtures import fail_on_first_try, numbers

    with DAG("traced", tags=["tracing"]) as dag:
        PythonTask(task_id="numbers", python_callable=numbers) >> PythonTask(
            task_id="flaky", python_callable=fail_on_first_try, retries=1, retry_delay=0.05)
"""


@dataclass
class Receiver:
    """What the local OTLP receiver got: every span, with its resource's service name."""

    url: str
    spans: list[dict[str, Any]] = field(default_factory=list)
    posts: list[str] = field(default_factory=list)  # the paths and content types posted to


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    got = Receiver("")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - the http.server API
            body = self.rfile.read(int(self.headers["Content-Length"]))
            got.posts.append(f"{self.path} {self.headers['Content-Type']}")
            request = ExportTraceServiceRequest()
            request.ParseFromString(body)
            for resource_spans in request.resource_spans:
                service = next(a.value.string_value for a in resource_spans.resource.attributes if a.key == "service.name")
                for scope in resource_spans.scope_spans:
                    for span in scope.spans:
                        got.spans.append({
                            "service": service, "name": span.name, "trace_id": span.trace_id.hex(), "span_id": span.span_id.hex(),
                            "parent_span_id": span.parent_span_id.hex(), "start": span.start_time_unix_nano, "end": span.end_time_unix_nano,
                            "status": span.status.code, "attributes": {a.key: _value(a.value) for a in span.attributes},
                        })
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    got.url = f"http://127.0.0.1:{server.server_port}"
    try:
        yield got
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


def _value(v: Any) -> Any:
    return getattr(v, v.WhichOneof("value"))


@pytest.fixture
def store(tmp_path: Path) -> tuple[Config, sessionmaker[Session]]:
    config = make_config(tmp_path, f"sqlite:///{tmp_path / 'orchestrator.db'}")
    write_dag(config.resolved_dags_folder, "traced.py", DAG_FILE)
    sessions = upgraded_sessions(config.resolved_database_url)
    sync_dag_folder(sessions, config)
    return config, sessions


def _traced_run(config: Config, sessions: sessionmaker[Session], endpoint: str) -> tuple[str, TraceExporter]:
    """Start the exporter, drive one run of `traced` to its end, stop the exporter (which flushes)."""
    exporter = exporter_for(config.model_copy(update={"tracing_otlp_endpoint": endpoint}), sessions)
    assert exporter is not None
    exporter.poll_s = 0.05
    thread = threading.Thread(target=exporter.run, daemon=True)
    thread.start()
    try:
        assert exporter.ready.wait(10)
        run_id = testrun.test_run(sessions, config, "traced", {}).run_id
    finally:
        exporter.stop()
        thread.join(30)
    assert not thread.is_alive()
    return run_id, exporter


def test_tracing_is_off_unless_an_endpoint_is_configured(store: tuple[Config, sessionmaker[Session]]) -> None:
    config, sessions = store
    assert config.tracing_otlp_endpoint is None
    assert exporter_for(config, sessions) is None


def test_a_run_is_one_trace_with_a_span_per_task_try_under_the_run_span(
    store: tuple[Config, sessionmaker[Session]], receiver: Receiver
) -> None:
    config, sessions = store
    run_id, _ = _traced_run(config, sessions, receiver.url)
    assert receiver.posts and all(p == "/v1/traces application/x-protobuf" for p in receiver.posts)
    trace_hex, run_span_hex = f"{trace_ids('traced', run_id)[0]:032x}", f"{trace_ids('traced', run_id)[1]:016x}"
    spans = {(s["name"], s["attributes"].get("orchestrator.try_number")): s for s in receiver.spans}
    assert set(spans) == {("run traced", None), ("task numbers", 1), ("task flaky", 1), ("task flaky", 2)}
    run_span = spans[("run traced", None)]
    assert (run_span["trace_id"], run_span["span_id"], run_span["parent_span_id"]) == (trace_hex, run_span_hex, "")
    assert run_span["attributes"] == {
        "orchestrator.dag_id": "traced", "orchestrator.run_id": run_id, "orchestrator.run_type": "test", "orchestrator.state": "success",
    }
    for key in [("task numbers", 1), ("task flaky", 1), ("task flaky", 2)]:
        assert (spans[key]["trace_id"], spans[key]["parent_span_id"]) == (trace_hex, run_span_hex), key
        assert run_span["start"] <= spans[key]["start"] <= spans[key]["end"] <= run_span["end"]
    assert {s["service"] for s in receiver.spans} == {"orchestrator"}


def test_a_failed_try_is_an_error_span_and_spans_carry_the_recorded_times(
    store: tuple[Config, sessionmaker[Session]], receiver: Receiver
) -> None:
    config, sessions = store
    run_id, _ = _traced_run(config, sessions, receiver.url)
    tries = {s["attributes"]["orchestrator.try_number"]: s for s in receiver.spans if s["name"] == "task flaky"}
    error, ok = 2, 0  # opentelemetry's StatusCode values on the wire (STATUS_CODE_ERROR, _UNSET)
    assert (tries[1]["status"], tries[1]["attributes"]["orchestrator.state"]) == (error, "up_for_retry")
    assert (tries[2]["status"], tries[2]["attributes"]["orchestrator.state"]) == (ok, "success")
    flaky = task_rows(sessions, "traced", run_id)["flaky"]
    assert flaky.end_date is not None
    assert tries[2]["end"] == int(flaky.end_date.timestamp() * 1_000_000_000)


def test_events_before_the_exporter_started_are_not_traced_again(
    store: tuple[Config, sessionmaker[Session]], receiver: Receiver
) -> None:
    config, sessions = store
    earlier = testrun.test_run(sessions, config, "traced", {}).run_id
    later, _ = _traced_run(config, sessions, receiver.url)
    assert {s["attributes"]["orchestrator.run_id"] for s in receiver.spans} == {later} != {earlier}


def test_a_configured_endpoint_without_opentelemetry_installed_is_a_clear_error(
    store: tuple[Config, sessionmaker[Session]], monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    config, sessions = store
    # the package missing from this environment: importing it fails as it would when not installed
    monkeypatch.setitem(sys.modules, "opentelemetry.exporter.otlp.proto.http.trace_exporter", None)
    with pytest.raises(ConfigError, match=r"orchestrator\[tracing\]"):
        exporter_for(config.model_copy(update={"tracing_otlp_endpoint": "http://127.0.0.1:1"}), sessions)
