"""Every hook specification is documented: when it is called and what it returns."""

from __future__ import annotations

import inspect

import pytest

from orchestrator.plugins import hookspecs

SPECS = sorted(
    name for name, fn in vars(hookspecs).items() if callable(fn) and hasattr(fn, f"{hookspecs.PROJECT}_spec")
)


def test_the_hooks_the_issue_asks_for_are_specified() -> None:
    wanted = {
        "orchestrator_step_types", "orchestrator_connector_types", "orchestrator_on_task_state", "orchestrator_on_run_state",
        "orchestrator_notifiers", "orchestrator_cli_commands", "orchestrator_web_blueprints", "orchestrator_secrets_backends",
    }
    assert wanted <= set(SPECS)


@pytest.mark.parametrize("name", SPECS)
def test_every_hookspec_says_when_it_is_called_and_what_it_returns(name: str) -> None:
    doc = inspect.getdoc(getattr(hookspecs, name)) or ""
    assert "called" in doc.lower(), f"{name}: the docstring does not say when the hook is called"
    assert "return" in doc.lower(), f"{name}: the docstring does not say what the hook returns"
