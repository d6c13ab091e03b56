"""GET /data/stream: server-sent events from a real threaded server, fed by the event log."""

from __future__ import annotations

import http.client
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from orchestrator.store import events
from orchestrator.store.db import make_engine, make_sessionmaker
from webui.server import WebServer

from ..harness import make_config
from .conftest import Seed, copy_store


class Stream:
    """One open event stream, read message by message."""

    def __init__(self, port: int, query: str, token: str) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        self.conn.request("GET", f"/data/stream?{query}", headers={"Authorization": f"Bearer {token}", "Accept": "text/event-stream"})
        self.response = self.conn.getresponse()

    def next_message(self) -> dict[str, Any]:
        """The next event (comments skipped): its fields, with `data` decoded."""
        fields: dict[str, Any] = {}
        while True:
            line = self.response.readline().decode().rstrip("\n")
            if line.startswith(":"):
                continue
            if not line:
                if "event" in fields:
                    return fields
                continue
            name, _, value = line.partition(": ")
            fields[name] = json.loads(value) if name == "data" else value

    def close(self) -> None:
        self.conn.close()


@pytest.fixture
def served(seed: Seed, tmp_path: Path) -> Iterator[tuple[int, Any]]:
    db = copy_store(seed, tmp_path)
    config = make_config(tmp_path, f"sqlite:///{db}", secret_key="test", dags_folder=seed.dags_folder)
    sessions = make_sessionmaker(make_engine(config.resolved_database_url))
    server = WebServer(config, sessions, "127.0.0.1", 0)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        yield server.port, sessions
    finally:
        server.stop()
        thread.join(10)
        sessions.kw["bind"].dispose()


def _append(sessions: Any, *rows: tuple[str, str, str]) -> None:
    with sessions.begin() as s:
        events.append(s, [events.event(kind, datetime.now(UTC), dag_id=dag_id, run_id=run_id) for kind, dag_id, run_id in rows])


def test_a_stream_says_hello_then_names_the_runs_of_its_dag_that_moved(served: tuple[int, Any], seed: Seed) -> None:
    port, sessions = served
    stream = Stream(port, "dag=etl", seed.tokens["viewer"])
    try:
        assert stream.response.status == 200
        assert stream.response.getheader("Content-Type").startswith("text/event-stream")
        assert stream.next_message()["event"] == "hello"
        _append(sessions, ("run.queued", "flaky", "other"), ("run.queued", "etl", "r1"), ("run.running", "etl", "r1"))
        message = stream.next_message()
    finally:
        stream.close()
    assert message["event"] == "change"
    assert message["data"] == {"changes": [{"dag_id": "etl", "run_id": "r1", "kinds": ["run.queued", "run.running"]}], "more": False}
    assert int(message["id"]) > 0


def test_a_stream_for_one_run_hears_nothing_of_the_others(served: tuple[int, Any], seed: Seed) -> None:
    port, sessions = served
    stream = Stream(port, "dag=etl&run=r2", seed.tokens["viewer"])
    try:
        stream.next_message()
        _append(sessions, ("run.queued", "etl", "r1"))
        _append(sessions, ("run.queued", "etl", "r2"))
        message = stream.next_message()
    finally:
        stream.close()
    assert [c["run_id"] for c in message["data"]["changes"]] == ["r2"]


def test_every_open_page_gets_each_change(served: tuple[int, Any], seed: Seed) -> None:
    port, sessions = served
    streams = [Stream(port, "", seed.tokens["viewer"]) for _ in range(3)]
    try:
        for s in streams:
            s.next_message()
        _append(sessions, ("dag.paused", "quiet", None))  # type: ignore[arg-type]
        got = [s.next_message()["data"]["changes"] for s in streams]
    finally:
        for s in streams:
            s.close()
    assert got == [[{"dag_id": "quiet", "run_id": None, "kinds": ["dag.paused"]}]] * 3


def test_the_stream_wants_a_logged_in_user(served: tuple[int, Any]) -> None:
    port, _ = served
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", "/data/stream")
        response = conn.getresponse()
        assert response.status in (302, 401)
    finally:
        conn.close()
