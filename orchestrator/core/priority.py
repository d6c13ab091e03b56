"""Run priority: set when a run is triggered (by a user, the API or a schedule), it orders the
ready tasks of all runs: those of higher-priority runs are planned, packed and submitted first,
and Dask gets it as its own `priority=` so a busy cluster runs them first too."""

from __future__ import annotations

from orchestrator.core.errors import OrchestratorError

MIN_PRIORITY = -1000
MAX_PRIORITY = 1000
DEFAULT_PRIORITY = 0


class InvalidPriorityError(OrchestratorError, ValueError):
    """A priority outside MIN_PRIORITY..MAX_PRIORITY, or not an integer."""


def check_priority(value: object) -> int:
    """The priority, or InvalidPriorityError naming the allowed range."""
    if isinstance(value, bool) or not isinstance(value, int) or not MIN_PRIORITY <= value <= MAX_PRIORITY:
        raise InvalidPriorityError(f"a run's priority is an integer from {MIN_PRIORITY} to {MAX_PRIORITY} (higher runs first), not {value!r}")
    return value
