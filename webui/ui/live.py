"""Live pages by server-sent events: GET /data/stream tells a page that what it shows has changed.

One `LiveHub` per app reads the event log forward from a cursor (orchestrator.store.event_feed)
in a short read-only transaction every `POLL_S`, whatever the number of open pages, and hands
each batch to the streams subscribed; it stops reading when the last page goes. A stream sends
`change` messages naming the runs and DAGs that moved (filtered by ?dag= and ?run=); the page
then fetches its own JSON route again. Nothing holds a database transaction open between reads.

A stream ends after `STREAM_S` (the browser reconnects at once and the identity is checked
again); comments keep proxies from closing an idle one. A page fetches its data each time its
stream says hello: that covers what happened between the page's first view (or a drop) and the
subscription, which gets everything after.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from collections.abc import Iterator
from typing import Any

from flask import Response, current_app, request, stream_with_context
from sqlalchemy.exc import SQLAlchemyError

from orchestrator.store import event_feed
from orchestrator.store.users import Role
from webui.auth import requires
from webui.state import web_state
from webui.ui import ui_blueprint

log = logging.getLogger(__name__)

POLL_S = 0.5
KEEPALIVE_S = 15.0
STREAM_S = 300.0
RETRY_MS = 2000
MAX_CHANGES = 200
"""Changes named in one message at most; past that the message says `more` and pages refetch all."""
_EXTENSION = "orchestrator.live"


class LiveHub:
    """Reads new events for every open stream; one thread, only while someone listens."""

    def __init__(self, read_sessions: Any, poll_s: float = POLL_S) -> None:
        self._sessions = read_sessions
        self._poll_s = poll_s
        self._lock = threading.Lock()
        self._subscribers: set[queue.SimpleQueue[list[Any]]] = set()
        self._thread: threading.Thread | None = None
        self._cursor: event_feed.EventCursor | None = None

    def subscribe(self) -> queue.SimpleQueue[list[Any]]:
        """A new inbox that gets every event committed from now on (the page fetches its data
        once it has subscribed, which covers what came before)."""
        inbox: queue.SimpleQueue[list[Any]] = queue.SimpleQueue()
        with self._lock:
            if self._thread is None:
                # the cursor is placed before the inbox exists, so nothing falls between the two
                with self._sessions() as s:
                    self._cursor = event_feed.EventCursor(position=event_feed.last_event_id(s))
                self._thread = threading.Thread(target=self._follow, name="live-events", daemon=True)
                self._thread.start()
            self._subscribers.add(inbox)
        return inbox

    def unsubscribe(self, inbox: queue.SimpleQueue[list[Any]]) -> None:
        with self._lock:
            self._subscribers.discard(inbox)

    @property
    def position(self) -> int:
        return self._cursor.position if self._cursor else 0

    def _follow(self) -> None:
        while True:
            with self._lock:
                if not self._subscribers:
                    # the next listener starts from its own present, not from where this one stopped
                    self._thread, self._cursor = None, None
                    return
                inboxes = list(self._subscribers)
            try:
                rows = self._read()
            except SQLAlchemyError as exc:  # the database is away for a moment: pages keep what they show
                log.warning("live updates cannot read the event log: %s", exc)
                rows = []
            if rows:
                for inbox in inboxes:
                    inbox.put(rows)
            time.sleep(self._poll_s)

    def _read(self) -> list[Any]:
        assert self._cursor is not None
        with self._sessions() as s:
            return self._cursor.read(s)


def live_hub() -> LiveHub:
    hub = current_app.extensions.get(_EXTENSION)
    if hub is None:
        hub = current_app.extensions[_EXTENSION] = LiveHub(web_state().read_sessions)
    return hub  # type: ignore[no-any-return]


def changes(rows: list[Any], dags: set[str], runs: set[str]) -> list[dict[str, Any]]:
    """What a page with these ?dag= and ?run= filters hears of `rows`: one entry per run (or DAG)
    that moved, in order; an empty filter lets everything through."""
    seen: dict[tuple[str | None, str | None], dict[str, Any]] = {}
    for row in rows:
        if row.dag_id is None or (dags and row.dag_id not in dags) or (runs and row.run_id not in runs):
            continue
        entry = seen.setdefault((row.dag_id, row.run_id), {"dag_id": row.dag_id, "run_id": row.run_id, "kinds": []})
        if row.kind not in entry["kinds"]:
            entry["kinds"].append(row.kind)
    return list(seen.values())


def sse(event: str, data: Any, event_id: int | None = None) -> str:
    """One server-sent event (data on one line: JSON never holds a raw newline)."""
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


@ui_blueprint.get("/data/stream")
@requires(Role.VIEWER)
def stream() -> Response:
    """text/event-stream: `hello` once, then `change` {changes, more} whenever a matching event
    is committed; `: keepalive` comments in between."""
    dags = set(request.args.getlist("dag"))
    runs = set(request.args.getlist("run"))
    hub = live_hub()

    def messages() -> Iterator[str]:
        inbox = hub.subscribe()
        try:
            yield f"retry: {RETRY_MS}\n" + sse("hello", {"position": hub.position})
            ends = time.monotonic() + STREAM_S
            while (left := ends - time.monotonic()) > 0:
                try:
                    rows = inbox.get(timeout=min(KEEPALIVE_S, left))
                except queue.Empty:
                    yield ": keepalive\n\n"
                    continue
                found = changes(rows, dags, runs)
                if found:
                    yield sse("change", {"changes": found[:MAX_CHANGES], "more": len(found) > MAX_CHANGES}, rows[-1].id)
        finally:
            hub.unsubscribe(inbox)

    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return Response(stream_with_context(messages()), mimetype="text/event-stream", headers=headers)
