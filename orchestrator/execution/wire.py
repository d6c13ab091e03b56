"""What crosses from a worker to the scheduler while tries run: starts, outcomes and log lines.

They travel on Dask's event stream (`Worker.log_event`), which reaches the scheduler before a
Dask task's own completion, so no result is fetched per try. Outcomes are sent as lists: a pack
of tiny tries reports many in one message. An outcome too big for one event is cut into parts
that the executor joins again (`OutcomeParts`), so nothing ever has to be fetched from Dask.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import msgpack

from orchestrator.core.connections import Masker
from orchestrator.execution.runtime import LogBuffer, Outcome

START_TOPIC = "orchestrator.started"
DONE_TOPIC = "orchestrator.done"
LOG_TOPIC = "orchestrator.log"
EVENT_BYTES = 16_384
"""The most an outcome message carries; a bigger outcome goes in parts of this size."""
FLUSH_S = 0.005
"""How long a pack of tiny tries keeps outcomes before sending them together."""


def outcome_to_wire(outcome: Outcome) -> list[Any]:
    """The outcome as plain msgpack-able values (Dask's event stream carries nothing else): a list
    in Outcome's field order, which packs and unpacks faster than a dict naming every field, and
    the times as POSIX timestamps."""
    o = outcome
    return [
        o.key, o.task_id, o.try_number, o.status, o.start.timestamp() if o.start else None, o.end.timestamp() if o.end else None,
        o.worker, o.result, o.error, o.traceback, o.log, o.error_type, o.error_bases, o.error_code, o.follow, o.busy_s,
        o.rendered, o.data_changes,
    ]


def outcome_from_wire(values: list[Any]) -> Outcome:
    """The Outcome that `outcome_to_wire` made `values` of."""
    (key, task_id, try_number, status, start, end, worker, result, error, traceback, log, error_type, error_bases,
     error_code, follow, busy_s, rendered, data_changes) = values
    return Outcome(
        key, task_id, try_number, status, None if start is None else datetime.fromtimestamp(start, UTC),
        None if end is None else datetime.fromtimestamp(end, UTC), worker, result, error, traceback, log, error_type,
        tuple(error_bases), error_code, None if follow is None else tuple(follow), busy_s, rendered, data_changes,
    )


def encode(outcome: Outcome) -> bytes:
    return msgpack.packb(outcome_to_wire(outcome))


def messages(encoded: Iterable[bytes]) -> list[dict[str, Any]]:
    """DONE_TOPIC messages for these packed outcomes: whole ones together up to EVENT_BYTES, big
    ones in parts (`{"part": [key, index, count], "data": ...}`)."""
    out: list[dict[str, Any]] = []
    batch: list[bytes] = []
    size = 0
    for blob in encoded:
        if len(blob) > EVENT_BYTES:
            key = msgpack.unpackb(blob)[0]
            count = -(-len(blob) // EVENT_BYTES)
            out.extend(
                {"part": [key, i, count], "data": blob[i * EVENT_BYTES:(i + 1) * EVENT_BYTES]} for i in range(count)
            )
            continue
        if batch and size + len(blob) > EVENT_BYTES:
            out.append({"outcomes": batch})
            batch, size = [], 0
        batch.append(blob)
        size += len(blob)
    if batch:
        out.append({"outcomes": batch})
    return out


class OutcomeParts:
    """Joins outcomes that came in parts (the executor's side of `messages`)."""

    def __init__(self) -> None:
        self._parts: dict[str, dict[int, bytes]] = {}

    def take(self, msg: dict[str, Any]) -> list[Outcome]:
        """The outcomes a DONE_TOPIC message completes."""
        if "outcomes" in msg:
            return [outcome_from_wire(msgpack.unpackb(b)) for b in msg["outcomes"]]
        key, index, count = msg["part"]
        parts = self._parts.setdefault(key, {})
        parts[index] = msg["data"]
        if len(parts) < count:
            return []
        del self._parts[key]
        return [outcome_from_wire(msgpack.unpackb(b"".join(parts[i] for i in range(count))))]

    def drop(self, key: str) -> None:
        """Forget the parts of an outcome that will never be complete (its worker died)."""
        self._parts.pop(key, None)


def dask_worker() -> Any:
    """The Dask worker running this code, or None elsewhere."""
    try:
        from distributed import get_worker

        return get_worker()
    except (ImportError, ValueError):
        return None


class _LogPump:
    """One thread per worker process that sends the new log lines of running tries each second,
    so a try's log can be followed while it runs."""

    interval_s = 1.0

    def __init__(self) -> None:
        self._running: dict[str, tuple[LogBuffer, Any, Masker]] = {}
        self._sent: dict[str, int] = {}
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def watch(self, key: str, buf: LogBuffer, worker: Any, masker: Masker) -> None:
        with self._lock:
            self._running[key] = (buf, worker, masker)
            self._sent[key] = 0
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="orchestrator-log-pump", daemon=True)
                self._thread.start()

    def unwatch(self, key: str) -> None:
        with self._lock:
            self._running.pop(key, None)
            self._sent.pop(key, None)

    def _loop(self) -> None:
        while True:
            time.sleep(self.interval_s)
            with self._lock:
                items = list(self._running.items())
            for key, (buf, worker, masker) in items:
                text = buf.getvalue()
                # with secrets to mask, only whole lines go: a secret may be half written yet
                end = text.rfind("\n") + 1 if masker else len(text)
                with self._lock:
                    if key not in self._sent:
                        continue
                    offset = self._sent[key]
                    if end > offset:
                        self._sent[key] = end
                if end > offset:
                    worker.log_event(LOG_TOPIC, {"key": key, "text": masker.mask(text[offset:end])})


_pump = _LogPump()


START_HANDLER = "orchestrator_started"
"""The Dask scheduler's handler (orchestrator.execution.packs.ClaimBook) that publishes a try's start."""


class EachReporter:
    """Reports every start and outcome at once, and the log of a running try each second
    (tries that may run for a while).

    A start is handed to the Dask scheduler and acknowledged before the try's code runs, so a
    worker killed the moment after cannot take it along: every try that ran is recorded. (An
    event sent with the worker's own batched stream could still be in it.) Without that handler
    (a scheduler without the ClaimBook) the start goes with the stream."""

    def __init__(self, worker: Any) -> None:
        self.worker = worker

    def started(self, key: str, start: datetime, worker: str, log: LogBuffer, masker: Masker) -> None:
        from distributed.utils import sync

        msg = {"key": key, "start": start.timestamp(), "worker": worker}
        try:
            acknowledged = sync(self.worker.loop, getattr(self.worker.scheduler, START_HANDLER), msg=msg) is True
        except Exception:  # noqa: BLE001 - the stream is the fallback; losing the worker now loses both
            acknowledged = False
        if not acknowledged:
            self.worker.log_event(START_TOPIC, msg)
        _pump.watch(key, log, self.worker, masker)

    def done(self, outcome: Outcome) -> None:
        _pump.unwatch(outcome.key)
        for msg in messages([encode(outcome)]):
            self.worker.log_event(DONE_TOPIC, msg)


class BatchReporter:
    """Reports the outcomes of tiny tries together, at most FLUSH_S after the first one kept; no
    starts (an outcome carries its start) and no live log. `flush` sends what is left."""

    def __init__(self, worker: Any) -> None:
        self.worker = worker
        self._kept: list[bytes] = []
        self._since = 0.0

    def started(self, key: str, start: datetime, worker: str, log: LogBuffer, masker: Masker) -> None:
        return None

    def done(self, outcome: Outcome) -> None:
        now = time.monotonic()
        if not self._kept:
            self._since = now
        self._kept.append(encode(outcome))
        if now - self._since >= FLUSH_S:
            self.flush()

    def flush(self) -> None:
        kept, self._kept = self._kept, []
        for msg in messages(kept):
            self.worker.log_event(DONE_TOPIC, msg)
