"""Listeners off the scheduler's thread: committed events handed to the plugins' listener hooks, so a slow plugin never stalls the scheduler."""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from orchestrator.plugins.manager import Plugins
from orchestrator.store.events import take_appended

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

log = logging.getLogger(__name__)


class ListenerThread:
    """Hands committed events to the listener hooks on a thread of its own.

    The scheduler only puts rows on a queue: a slow or failing listener can never stall it.
    When listeners fall more than `max_backlog` events behind, new events are dropped (logged).
    """

    def __init__(self, plugins: Plugins, *, max_backlog: int = 100_000) -> None:
        self.plugins = plugins
        self._queue: queue.Queue[list[dict[str, Any]] | None] = queue.Queue(maxsize=max_backlog)
        self._thread = threading.Thread(target=self._run, name="orchestrator-listeners", daemon=True)
        self._started = False
        self._heard: tuple[str, ...] | None = None  # "task.", "deadline.": the kinds some plugin hears
        self.dropped = 0

    def publish(self, rows: Iterable[dict[str, Any]]) -> None:
        if self._heard is None:
            # one startswith over the heard prefixes: the scheduler publishes every transition it writes
            self._heard = tuple(f"{kind}." for kind in self.plugins.listened_kinds())
        if not self._heard:
            return
        # only what someone hears crosses to the thread (the built-in notify plugin hears deadline misses only)
        rows = [r for r in rows if str(r.get("kind", "")).startswith(self._heard)]
        if not rows:
            return
        if not self._started:
            self._started = True
            self._thread.start()
        try:
            self._queue.put_nowait(list(rows))
        except queue.Full:
            self.dropped += len(rows)
            log.warning("listeners are %d batches behind: dropped %d events", self._queue.qsize(), len(rows))

    def _run(self) -> None:
        while True:
            rows = self._queue.get()
            if rows is None:
                return
            self.plugins.notify_listeners(rows)

    def close(self, timeout: float = 5.0) -> None:
        """Deliver what is queued (up to `timeout` seconds), then stop."""
        if self._started:
            try:
                self._queue.put(None, timeout=timeout)
            except queue.Full:
                return
            self._thread.join(timeout)


@contextmanager
def publishing(sessions: sessionmaker[Session], listeners: ListenerThread | None) -> Iterator[Session]:
    """`sessions.begin()` for a user action (cancel, clear, pause): once the transaction commits,
    the event rows it appended go to the listener hooks, as the scheduler's own changes do."""
    with sessions.begin() as session:
        yield session
    rows = take_appended(session)
    if listeners is not None:
        listeners.publish(rows)
