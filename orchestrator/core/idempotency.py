"""Idempotency keys: a task with `idempotency_key="charge-{{ params.order_id }}"` runs at most once
per rendered key, across runs and DAGs (seed 001's idempotent actions).

Before a try is sent to a worker, the scheduler renders the key (orchestrator.core.templating, over the
run's params, conf and logical date) and looks it up in the `idempotency_key` table. A key that
already succeeded is not run again: the task succeeds at once with the stored result, its try
recorded as `skipped_by_idempotency` (an event of that kind, and the try's log). A try that
succeeds records its key in the same transaction as the task's success, so retries, clears and a
scheduler restart all find it. The first success of a key wins; the key is kept forever.

Two tries of one key that are in flight at the same time both run: a key guards against running
again what already succeeded, not against concurrency. A key that cannot be rendered (a missing
param) fails the try without running it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from orchestrator.core.errors import OrchestratorError
from orchestrator.core.templating import TemplateRenderError, render

MAX_KEY_LENGTH = 250
"""Longer keys are stored as `sha256:<hex digest>` (the key column is String(250))."""

SKIPPED_BY_IDEMPOTENCY = "skipped_by_idempotency"
"""The kind of the event (and the start of the try's log) of a try that was not run because its key succeeded before."""


class IdempotencyKeyError(OrchestratorError):
    """A task's idempotency key could not be rendered, or rendered empty."""


def render_key(template: str, scope: Mapping[str, Any]) -> str:
    """The key a try of the task stands for; IdempotencyKeyError when it cannot be rendered."""
    try:
        key = render(template, scope).strip()
    except TemplateRenderError as exc:
        raise IdempotencyKeyError(f"the idempotency key cannot be rendered: {exc}") from None
    if not key:
        raise IdempotencyKeyError(f"the idempotency key {template!r} rendered empty")
    if len(key) > MAX_KEY_LENGTH:
        return "sha256:" + hashlib.sha256(key.encode()).hexdigest()
    return key


@dataclass(frozen=True)
class KeyRecord:
    """The success a key stands for: where it happened and what it returned."""

    key: str
    dag_id: str
    run_id: str
    task_id: str
    try_number: int
    result: Any
    succeeded_at: datetime

    def describe(self) -> str:
        return f"{SKIPPED_BY_IDEMPOTENCY}: key {self.key!r} already succeeded in {self.dag_id}/{self.run_id}/{self.task_id} try {self.try_number}"
