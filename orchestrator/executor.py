"""The Executor interface and the in-process executor (used by `dags test` and unit tests).

An executor takes `WorkItem`s and reports back through a callback: `Started` when a try
begins (when the executor can tell) and `Completed` when it ends. Executors that can chain
work (`chains` is True) accept `after=` keys of in-flight work whose outcomes feed a new item,
so the downstream starts the moment its upstream ends, without a round trip to the scheduler.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from orchestrator.runtime import Outcome, WorkItem, run_task


@dataclass(frozen=True)
class Started:
    key: str
    start: datetime
    worker: str | None


@dataclass(frozen=True)
class Completed:
    """A try ended. `outcome` is None when the executor lost the work (`error` says how)."""

    key: str
    outcome: Outcome | None
    error: str | None = None


@dataclass(frozen=True)
class LogChunk:
    """New log text of a try that is still running."""

    key: str
    text: str


@dataclass(frozen=True)
class WorkerInfo:
    """One worker as the executor sees it, for the health page and metrics."""

    address: str
    nthreads: int
    executing: int
    memory_bytes: int


ExecutorEvent = Started | Completed | LogChunk
EventSink = Callable[[ExecutorEvent], None]


class Executor(Protocol):
    """Where task tries run."""

    chains: bool

    def start(self, sink: EventSink) -> None:
        """Begin; every later event goes to `sink` (which must be thread-safe)."""

    def submit(self, work: WorkItem, after: Sequence[str] = ()) -> None:
        """Run `work`; with `after`, once the in-flight items with those keys have ended."""

    def release(self, key: str) -> None:
        """The scheduler has handled the completion of `key`: drop what is held for it."""

    def cancel(self, key: str) -> None:
        """Stop `key` if it has not ended; no completion is reported for it."""

    def workers(self) -> list[WorkerInfo]:
        """The workers there are now, with their load."""

    def close(self) -> None:
        """Stop; no more events after this returns."""


class InProcessExecutor:
    """Runs each try synchronously in the calling thread. No chaining; for `dags test`."""

    chains = False

    def __init__(self) -> None:
        self._sink: EventSink | None = None

    def start(self, sink: EventSink) -> None:
        self._sink = sink

    def submit(self, work: WorkItem, after: Sequence[str] = ()) -> None:
        if after:
            raise ValueError("InProcessExecutor cannot chain work")
        assert self._sink is not None, "start() the executor first"
        outcome = run_task(work)
        self._sink(Completed(work.key, outcome))

    def release(self, key: str) -> None:
        return None

    def cancel(self, key: str) -> None:
        return None

    def workers(self) -> list[WorkerInfo]:
        return [WorkerInfo("in-process", 1, 0, 0)]

    def close(self) -> None:
        self._sink = None
