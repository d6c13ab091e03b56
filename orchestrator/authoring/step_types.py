"""Step types by name, for authoring that names one (`Action(step="http")` in a state machine).

The plugin manager owns the registry and hands its lookup in here when it is imported (the
`orchestrator` package imports it first), so authoring names a step type without importing the
plugin layer above it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from orchestrator.core.errors import PluginError

if TYPE_CHECKING:
    from orchestrator.authoring.tasks import BaseTask

_lookup: Callable[[str], type[BaseTask]] | None = None


def answer_with(lookup: Callable[[str], type[BaseTask]]) -> None:
    """Make `lookup` the source of step types by name (called by the plugin manager)."""
    global _lookup
    _lookup = lookup


def step_type(name: str) -> type[BaseTask]:
    """The step type registered under `name`; PluginError when none is."""
    if _lookup is None:
        raise PluginError(f"step type {name!r}: no plugin manager is loaded (import orchestrator first)")
    return _lookup(name)
