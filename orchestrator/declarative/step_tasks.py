"""The tasks a workflow file's steps and a machine file's actions become (orchestrator.declarative.workflow).

`FunctionStep` calls a `module:function` taskId, `ForeachItems` computes a foreach step's items;
a taskId that is not `module:function` names a step type (orchestrator.plugins.manager).
"""

from __future__ import annotations

import copy
import importlib
import inspect
import re
from collections.abc import Callable
from typing import Any

from orchestrator.authoring.step_types import step_type
from orchestrator.authoring.tasks import BaseTask
from orchestrator.core.errors import PluginError
from orchestrator.core.expressions import compile_expression
from orchestrator.declarative.workflow import ITEM_NAMES


class FunctionStep(BaseTask):
    """A step that calls `module:function` with the step's `input` as keyword arguments, and
    `data`, `params`, `context` for those the function names."""

    step_type = "python"

    def __init__(self, *, task_id: str, ref: str, function: Callable[..., Any], arguments: dict[str, Any], **kwargs: Any) -> None:
        super().__init__(task_id=task_id, **kwargs)
        self.ref = ref
        self.function = function
        self.arguments = dict(arguments)
        try:
            self._wants = frozenset(inspect.signature(function).parameters) & {"data", "params", "context"}
        except (TypeError, ValueError):
            self._wants = frozenset()

    def execute(self, context: Any, upstream_results: dict[str, Any]) -> Any:
        extra: dict[str, Any] = {}
        if "data" in self._wants:
            extra["data"] = _data(upstream_results)
        if "params" in self._wants:
            extra["params"] = context.params
        if "context" in self._wants:
            extra["context"] = context
        return self.function(**{**self.arguments, **extra})

    def callable_ref(self) -> str:
        return self.ref

    def args_repr(self) -> str:
        return repr(self.arguments)[:2000] if self.arguments else ""

    def accepts(self, name: str) -> bool:
        """Whether the function takes `name` as a keyword argument (a foreach's item)."""
        try:
            params = inspect.signature(self.function).parameters
        except (TypeError, ValueError):
            return True
        return name in params or any(p.kind is p.VAR_KEYWORD for p in params.values())

    def for_map_items(self, items: dict[str, Any]) -> FunctionStep:
        """This step as one instance of its foreach: its item added to the keyword arguments."""
        instance = copy.copy(self)
        instance.arguments = {**self.arguments, **items}
        return instance


class ForeachItems(BaseTask):
    """The task before a foreach step whose items are an expression: its result is the list the
    step is mapped over, the expression evaluated over `data`, `params` and `input`."""

    step_type = "python"

    def __init__(self, *, task_id: str, expression: str, **kwargs: Any) -> None:
        super().__init__(task_id=task_id, **kwargs)
        self.expression = expression

    def execute(self, context: Any, upstream_results: dict[str, Any]) -> Any:
        scope = {"data": _data(upstream_results), "params": context.params, "input": context.params}
        return compile_expression(self.expression, ITEM_NAMES).evaluate(scope)

    def args_repr(self) -> str:
        return self.expression


def _data(upstream_results: dict[str, Any]) -> Any:
    """A step's `data`: its upstream step's result; a dict by task id when there are several."""
    return next(iter(upstream_results.values())) if len(upstream_results) == 1 else (upstream_results or None)


class TaskIdError(Exception):
    """A step's taskId names no step type or no importable function."""


def import_function(ref: str) -> Callable[..., Any]:
    """The function a `module:function` reference names; TaskIdError saying why not."""
    module_name, _, qualname = ref.partition(":")
    try:
        target: Any = importlib.import_module(module_name)
    except Exception as exc:  # noqa: BLE001 - any failure to import is the file's problem
        raise TaskIdError(f"cannot import module {module_name!r} (from the DAG folder or installed): {type(exc).__name__}: {exc}") from None
    for part in qualname.split("."):
        target = getattr(target, part, None)
        if target is None:
            raise TaskIdError(f"module {module_name!r} has no {qualname!r}")
    if not callable(target):
        raise TaskIdError(f"{ref!r} is not a function")
    return target  # type: ignore[no-any-return]


def resolve_step_type(name: str) -> type[BaseTask]:
    """The step type registered as `name`; TaskIdError when there is none."""
    try:
        return step_type(name)
    except PluginError as exc:
        raise TaskIdError(f"{exc}, and it is not module:function") from None


def type_error_text(exc: TypeError) -> str:
    """A step type's TypeError for bad arguments, without the `Class.__init__()` noise."""
    text = str(exc)
    # "HttpTask.__init__() got an unexpected keyword argument 'x'" -> which argument, for which step type
    return re.sub(r"^\S*?__init__\(\) ", "", text)
