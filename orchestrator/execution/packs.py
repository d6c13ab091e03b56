"""Packs: the unit of work handed to Dask. One Dask task runs a pack's tries one after another.

A pack is a chain of tries (each continues from the one before it on the same worker, with no
round trip through any scheduler) or a batch of tiny tries (many of ours in one Dask task).
Each try is still reported and recorded on its own (orchestrator.execution.wire).

Exactly once: a pack claims its key on the Dask scheduler (`ClaimBook`) before it runs anything,
and a try's start is acknowledged by the Dask scheduler before the try's code runs (see
orchestrator.execution.wire.EachReporter), so a try that ran is never one the store does not know.
Dask runs a task again when the worker holding it died, or recomputes a finished one whose result
was lost with its worker; that second run finds its key claimed and runs nothing (`DUPLICATE`),
so no try the scheduler recorded is ever executed twice. The executor reports the tries the pack
never reported as lost with their worker.
"""

from __future__ import annotations

import logging
import pickle
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

from distributed.diagnostics.plugin import SchedulerPlugin

from orchestrator.execution.runtime import Outcome, WorkItem, run_task
from orchestrator.execution.wire import START_HANDLER, START_TOPIC, BatchReporter, EachReporter, dask_worker

log = logging.getLogger(__name__)

DUPLICATE = "orchestrator:duplicate-run"
"""What a pack returns when Dask ran it a second time: nothing was executed."""
CLAIM_HANDLER = "orchestrator_claim"


def seal(items: Sequence[WorkItem]) -> bytes:
    """A pack's tries as one pickle, made by our scheduler: Dask's scheduler then passes one bytes
    object along instead of unpickling and pickling again every try on its event loop."""
    return pickle.dumps(list(items), protocol=pickle.HIGHEST_PROTOCOL)


def run_pack(key: str, sealed: bytes, *, tiny: bool = False, bundle: bytes | None = None) -> list[Outcome] | str:
    """Run the pack `key`'s tries (`seal`ed) in order; a try whose chained upstream (an earlier
    item) did not succeed is not run. Returns the outcomes, or DUPLICATE when this pack already ran."""
    worker = dask_worker()
    if worker is not None and not _claim(worker, key):
        log.warning("Dask ran pack %s again (its first run's worker died?); nothing is run twice", key)
        return DUPLICATE
    reporter: Any = None
    if worker is not None:
        reporter = BatchReporter(worker) if tiny else EachReporter(worker)
    done: dict[str, Outcome] = {}
    items: list[WorkItem] = pickle.loads(sealed)
    for item in items:
        done[item.key] = run_task(item, *(done[k] for k in item.after), bundle=bundle, reporter=reporter)
    if isinstance(reporter, BatchReporter):
        reporter.flush()
    return list(done.values())


def _claim(worker: Any, key: str) -> bool:
    """Whether this is the pack's first run. A scheduler without the ClaimBook answers None: the
    pack runs as Dask decides. A worker that cannot reach the scheduler does not run it: the
    scheduler takes such a worker for lost and runs the pack elsewhere, where the claim is made."""
    from distributed.utils import sync

    try:
        return sync(worker.loop, getattr(worker.scheduler, CLAIM_HANDLER), key=key) is not False
    except Exception as exc:  # noqa: BLE001 - unreachable scheduler: refuse rather than risk a second run
        log.warning("cannot claim pack %s on the Dask scheduler (%s); not running it here", key, exc)
        return False


class ClaimBook(SchedulerPlugin):
    """On the Dask scheduler: the pack keys that started running, so none runs twice.

    A key is forgotten once Dask forgets its task (it can run no more), and the book keeps at most
    `limit` keys, oldest dropped first.
    """

    name = "orchestrator-claims"
    idempotent = True  # a scheduler that has the book keeps it: its claims must survive a new client

    def __init__(self, limit: int = 1_000_000) -> None:
        self.limit = limit
        self.claimed: OrderedDict[str, None] = OrderedDict()

    async def start(self, scheduler: Any) -> None:
        self.scheduler = scheduler
        scheduler.handlers[CLAIM_HANDLER] = self.claim
        scheduler.handlers[START_HANDLER] = self.started

    def started(self, msg: dict[str, Any]) -> bool:
        """Publish a try's start to the subscribed clients (orchestrator.execution.wire.EachReporter)."""
        self.scheduler.log_event(START_TOPIC, msg)
        return True

    def claim(self, key: str) -> bool:
        if key in self.claimed:
            return False
        self.claimed[key] = None
        if len(self.claimed) > self.limit:
            self.claimed.popitem(last=False)
        return True

    def transition(self, key: Any, start: str, finish: str, *args: Any, **kwargs: Any) -> None:
        if finish == "forgotten":
            self.claimed.pop(key, None)
