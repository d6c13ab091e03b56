"""The scheduler's own asyncio event loop, where deferrable sensors wait without any Dask task.

One thread runs the loop; each waiting sensor is one coroutine awaiting its trigger's `run()`
(orchestrator.execution.async_triggers) within what is left of its timeout. What fires (or times out, or
breaks) is collected and the scheduler's loop is woken; scheduler/waits.py settles the tasks in
its next poll, in the poll's transaction, as for a WaitForEvent. Thousands of waiting sensors
cost thousands of coroutines, not worker slots.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple

from orchestrator.core.sensors import TriggerWaitSpec
from orchestrator.execution.async_triggers import BaseTrigger, TriggerContext
from orchestrator.store.runs import RunKey

log = logging.getLogger(__name__)


class WatchKey(NamedTuple):
    """One try of a deferred sensor."""

    run: RunKey
    task_id: str
    try_number: int


@dataclass(frozen=True)
class Fired:
    """How a watch ended: the trigger fired (`payload`), the timeout passed, or the trigger failed (`error`)."""

    key: WatchKey
    at: datetime
    payload: Any = None
    timed_out: bool = False
    error: str | None = None


class Triggerer:
    """Runs triggers in an event loop of its own thread; thread-safe `watch`, `cancel`, `take_fired`."""

    def __init__(self, trigger_types: dict[str, type[BaseTrigger]], wake: Callable[[], None]) -> None:
        self.trigger_types = trigger_types
        self._wake = wake
        self._loop: asyncio.AbstractEventLoop | None = None  # made by start(): a scheduler that never runs has none
        self._thread = threading.Thread(target=self._run, name="scheduler-triggerer", daemon=True)
        self._lock = threading.Lock()
        self._fired: list[Fired] = []
        self._watches: dict[WatchKey, Future[None]] = {}

    def start(self) -> None:
        """Start the event loop's thread (the scheduler does, once it runs)."""
        if self._loop is None:
            self._loop = asyncio.new_event_loop()
            self._thread.start()

    def _run(self) -> None:
        assert self._loop is not None
        asyncio.set_event_loop(self._loop)
        self._loop.run_forever()

    # -- the scheduler's side ------------------------------------------------------------------
    def watch(self, key: WatchKey, spec: TriggerWaitSpec, context: TriggerContext, deadline: datetime) -> None:
        """Start awaiting the trigger `spec` names until `deadline` (nothing happens if `key` is watched already)."""
        if self._loop is None:
            raise RuntimeError("start() the triggerer before it watches")
        with self._lock:
            if key in self._watches:
                return
            cls = self.trigger_types.get(spec.trigger)
            if cls is None:
                known = ", ".join(sorted(self.trigger_types)) or "none"
                self._fired.append(Fired(key, datetime.now(UTC), error=f"no trigger type named {spec.trigger!r} is registered (known: {known}); "
                                                    "is the plugin that provides it installed?"))
                self._wake()
                return
            self._watches[key] = asyncio.run_coroutine_threadsafe(self._await(key, cls, spec, context, deadline), self._loop)

    def cancel(self, key: WatchKey) -> None:
        with self._lock:
            future = self._watches.pop(key, None)
        if future is not None:
            future.cancel()

    def watched(self) -> list[WatchKey]:
        with self._lock:
            return list(self._watches)

    def has_fired(self) -> bool:
        with self._lock:
            return bool(self._fired)

    def take_fired(self) -> list[Fired]:
        with self._lock:
            fired, self._fired = self._fired, []
        return fired

    def close(self) -> None:
        """Cancel every watch and stop the loop (the tasks stay waiting in the store: the next
        scheduler to drive their runs watches them again)."""
        with self._lock:
            self._watches.clear()
        loop = self._loop
        if loop is None:
            return
        if self._thread.is_alive():
            try:
                asyncio.run_coroutine_threadsafe(_cancel_all(), loop).result(timeout=10)
            except TimeoutError:
                log.warning("some triggers did not stop within 10 s")
            loop.call_soon_threadsafe(loop.stop)
            self._thread.join(10)
        if not self._thread.is_alive() and not loop.is_closed():
            loop.close()

    # -- the loop's side --------------------------------------------------------------------------
    async def _await(self, key: WatchKey, cls: type[BaseTrigger], spec: TriggerWaitSpec, context: TriggerContext, deadline: datetime) -> None:
        left = max((deadline - datetime.now(UTC)).total_seconds(), 0.0)
        try:
            event = await asyncio.wait_for(cls(dict(spec.args), context).run(), timeout=left)
            ended = Fired(key, datetime.now(UTC), payload=event.payload)
        except TimeoutError:
            ended = Fired(key, datetime.now(UTC), timed_out=True)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - a broken trigger fails its task, never the loop
            log.warning("trigger %s of %s/%s/%s failed", spec.trigger, key.run.dag_id, key.run.run_id, key.task_id, exc_info=True)
            ended = Fired(key, datetime.now(UTC), error=f"trigger {spec.trigger} failed: {type(exc).__name__}: {exc}")
        with self._lock:
            if self._watches.pop(key, None) is None:
                return  # cancelled meanwhile
            self._fired.append(ended)
        self._wake()


async def _cancel_all() -> None:
    """Cancel every trigger still awaited, and let each finish its cancellation."""
    waiting = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    for t in waiting:
        t.cancel()
    await asyncio.gather(*waiting, return_exceptions=True)
