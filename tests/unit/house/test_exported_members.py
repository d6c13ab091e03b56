"""`orchestrator.__all__` is honest: what it lists exists, and nothing public is left out."""

from __future__ import annotations

import types

import orchestrator

# the authoring API that issue 2 names, exactly
ISSUE_API = {"DAG", "task", "PythonTask", "TriggerRule", "chain", "get_context"}


def test_every_exported_name_exists() -> None:
    assert [name for name in orchestrator.__all__ if not hasattr(orchestrator, name)] == []


def test_no_name_is_exported_twice() -> None:
    assert len(orchestrator.__all__) == len(set(orchestrator.__all__))


def test_the_issue_authoring_api_is_exported() -> None:
    assert ISSUE_API <= set(orchestrator.__all__)


def test_every_public_name_of_the_package_is_exported() -> None:
    # submodules become attributes when imported; they are reached by their dotted path instead
    public = {
        name
        for name, value in vars(orchestrator).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }
    assert public - set(orchestrator.__all__) == set()


def test_star_import_gives_exactly_the_exported_names() -> None:
    namespace: dict[str, object] = {}
    exec("from orchestrator import *", namespace)  # noqa: S102 - the behaviour under test
    assert set(namespace) - {"__builtins__"} == set(orchestrator.__all__)


def test_exported_names_are_defined_in_the_package_not_borrowed() -> None:
    foreign = [
        name
        for name in orchestrator.__all__
        if not getattr(getattr(orchestrator, name), "__module__", "orchestrator").startswith("orchestrator")
    ]
    assert foreign == []
