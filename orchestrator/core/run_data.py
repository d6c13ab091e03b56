"""Run data: named variables kept per run (seed 001's `data`), read and set by tasks and actions.

A try sees the run's data as it stood when the try was dispatched (`context.run_data.get`); what it
sets (`context.run_data.set`) travels back with its outcome, and the scheduler records each change
as a `run_data.set` event in the transaction that ends the try. A state machine's guards read the
data as `data`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from orchestrator.core.errors import OrchestratorError

RUN_DATA_SET = "run_data.set"
"""The event kind of one change of a run variable: payload {"key", "value"}."""

MAX_KEY_LENGTH = 200


class RunDataError(OrchestratorError):
    """A run variable cannot be set: its name is not a short string, or its value is not JSON."""


class RunData:
    """The run's variables as one try sees them, and what the try changed."""

    def __init__(self, values: Mapping[str, Any] | None = None) -> None:
        self._values = dict(values or {})
        self.changes: dict[str, Any] = {}

    def get(self, key: str, default: Any = None) -> Any:
        """The variable's value, or `default` when the run has no such variable."""
        return self._values.get(key, default)

    def set(self, key: str, value: Any) -> None:
        """Set a variable of the run (a JSON value); recorded as an event when the try ends."""
        if not isinstance(key, str) or not 0 < len(key) <= MAX_KEY_LENGTH:
            raise RunDataError(f"a run variable's name must be a string of 1-{MAX_KEY_LENGTH} characters, not {key!r}")
        try:
            json.dumps(value)
        except (TypeError, ValueError) as exc:
            raise RunDataError(f"run variable {key!r}: the value must be JSON (a dict, list, str, number, bool or None): {exc}") from None
        self._values[key] = value
        self.changes[key] = value

    def as_dict(self) -> dict[str, Any]:
        return dict(self._values)

    def __contains__(self, key: object) -> bool:
        return key in self._values


def apply_changes(data: Mapping[str, Any] | None, changes: Mapping[str, Any]) -> dict[str, Any]:
    """The run's data after a try's changes."""
    return {**(data or {}), **changes}
