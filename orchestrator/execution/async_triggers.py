"""Async triggers: what a deferrable sensor waits for in the scheduler's own event loop.

A trigger type is a `BaseTrigger` subclass with a unique `name`, built from the JSON `args` its
sensor's spec keeps and a `TriggerContext`; `await trigger.run()` returns a `TriggerEvent` once
the condition holds (its payload becomes the task's result). It must not block the loop: sleep
with `asyncio.sleep`, do blocking I/O with `asyncio.to_thread`. The built-in types (time, file,
http) are registered through the hook `orchestrator_trigger_types` like a plugin's;
scheduler/triggerer.py runs them, with the timeout.
"""

from __future__ import annotations

import asyncio
import glob
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from orchestrator.core.connections import Connection
from orchestrator.core.errors import OrchestratorError
from orchestrator.plugins.hookspecs import hookimpl
from orchestrator.plugins.steps.http import base_url, connection_headers, request

DEFAULT_POLL_S = 5.0


class TriggerArgumentError(OrchestratorError):
    """A trigger was given arguments it cannot work with (named in the message)."""


@dataclass(frozen=True)
class TriggerEvent:
    """A trigger fired: `payload` (JSON) becomes the sensor's result."""

    payload: Any = None


@dataclass(frozen=True)
class TriggerContext:
    """What a trigger may know of the run it waits for, and how to reach a named connection."""

    dag_id: str
    run_id: str
    task_id: str
    started_at: datetime
    logical_date: datetime | None = None
    data_interval_end: datetime | None = None
    connection: Callable[[str], dict[str, Any] | None] = field(default=lambda _conn_id: None, repr=False)


class BaseTrigger:
    """Base class of a trigger type; subclasses set `name` and implement `run`."""

    name: ClassVar[str] = ""

    def __init__(self, args: dict[str, Any], context: TriggerContext) -> None:
        self.args = args
        self.context = context

    async def run(self) -> TriggerEvent:
        raise NotImplementedError(f"{type(self).__name__} does not implement run()")

    def _number(self, key: str, default: float) -> float:
        value = self.args.get(key, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise TriggerArgumentError(f"trigger {self.name}: {key} must be a number of seconds >= 0, not {value!r}")
        return float(value)


class TimeTrigger(BaseTrigger):
    """Fires at `moment` (ISO 8601), or `delta_s` after the run's data interval end (else its logical
    date, else when the wait began): TimeDeltaSensor and DateTimeSensor."""

    name = "time"

    def moment(self) -> datetime:
        if "moment" in self.args:
            try:
                moment = datetime.fromisoformat(str(self.args["moment"]))
            except ValueError:
                raise TriggerArgumentError(f"trigger time: moment must be an ISO 8601 date-time, not {self.args['moment']!r}") from None
            return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
        base = self.context.data_interval_end or self.context.logical_date or self.context.started_at
        return base + timedelta(seconds=self._number("delta_s", 0.0))

    async def run(self) -> TriggerEvent:
        moment = self.moment()
        while (left := (moment - datetime.now(UTC)).total_seconds()) > 0:
            await asyncio.sleep(min(left, 60.0))  # short naps: a suspended machine's clock jump is noticed
        return TriggerEvent(moment.isoformat())


class FileTrigger(BaseTrigger):
    """Fires once `path` (a glob works) names an existing file or directory; checks every `poll_s`."""

    name = "file"

    async def run(self) -> TriggerEvent:
        path = str(self.args.get("path") or "")
        if not path:
            raise TriggerArgumentError("trigger file: path must name a file, a directory or a glob")
        poll = self._number("poll_s", DEFAULT_POLL_S)
        while True:
            found = await asyncio.to_thread(matching_paths, path, bool(self.args.get("recursive", False)))
            if found:
                return TriggerEvent(found[0])
            await asyncio.sleep(poll)


def matching_paths(path: str, recursive: bool = False) -> list[str]:
    """The existing files and directories `path` (a glob) names, sorted."""
    if not glob.has_magic(path):
        return [path] if os.path.exists(path) else []
    return sorted(glob.glob(path, recursive=recursive))


class HttpTrigger(BaseTrigger):
    """Fires once `method` on `endpoint` (on the connection `conn_id`, or a full URL) answers with a
    2xx status; tries every `poll_s`. The payload is the response's JSON (its text when not JSON)."""

    name = "http"

    async def run(self) -> TriggerEvent:
        url, headers = self._target()
        poll = self._number("poll_s", DEFAULT_POLL_S)
        method = str(self.args.get("method", "GET")).upper()
        params = self.args.get("params") or None
        while True:
            try:
                response = await asyncio.to_thread(request, method, url, headers=headers, params=params, timeout_s=30.0)
            except OSError:
                response = None  # not up yet: try again at the next poll
            if response is not None and 200 <= response.status < 300:
                return TriggerEvent(response.value())
            await asyncio.sleep(poll)

    def _target(self) -> tuple[str, dict[str, str]]:
        endpoint = str(self.args.get("endpoint") or "")
        headers = {str(k): str(v) for k, v in dict(self.args.get("headers") or {}).items()}
        conn_id = self.args.get("conn_id")
        if not conn_id:
            if not endpoint.startswith(("http://", "https://")):
                raise TriggerArgumentError(f"trigger http: without conn_id, endpoint must be a full http(s):// URL, not {endpoint!r}")
            return endpoint, headers
        found = self.context.connection(str(conn_id))
        if found is None:
            raise TriggerArgumentError(f"trigger http: unknown connection {conn_id!r} (add it with `orchestrator connections add`)")
        conn = Connection.model_validate(dict(found))
        root = base_url(conn)
        return (root + "/" + endpoint.lstrip("/") if endpoint else root), {**connection_headers(conn), **headers}


@hookimpl
def orchestrator_trigger_types() -> list[type[BaseTrigger]]:
    return [TimeTrigger, FileTrigger, HttpTrigger]
