"""Outside events that start runs: `EventTrigger` for authoring, and the pure matching of one event.

An outside system posts `{"type": ..., "payload": {...}, "id": ...}` (`POST /api/v1/events`). A DAG's
trigger matches when the type fits its glob and its JMESPath `condition` (over that document) is
true; the run's conf is its `transform` of the document (JMESPath, or JSONata with
`transform_language="jsonata"`, orchestrator.core.jsonata_transforms), or the payload itself.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any, Literal

import jmespath
from jmespath.exceptions import JMESPathError
from jmespath.functions import Functions
from jmespath.parser import ParsedResult
from pydantic import BaseModel, ConfigDict, Field

from orchestrator.core.errors import DagDefinitionError
from orchestrator.core.jsonata_transforms import compile_jsonata, evaluate_jsonata

MAX_TYPE_LEN = 250  # external_event.type is String(250)
_FUNCTIONS: dict[str, Any] = Functions().FUNCTION_TABLE


class EventTriggerSpec(BaseModel):
    """The code-free form of an EventTrigger, kept in the DagSpec."""

    model_config = ConfigDict(frozen=True)

    type: str = Field(description="a glob over the event type, e.g. order.*")
    condition: str | None = Field(default=None, description="JMESPath over {type, payload, id}: the run starts when it is true")
    transform: str | None = Field(default=None, description="JMESPath over {type, payload, id}: the run's conf (default: the payload)")
    transform_language: Literal["jmespath", "jsonata"] = Field(default="jmespath", description="the language of `transform`")


class EventTrigger:
    """Start a run of the DAG for each outside event whose type matches `type` (a glob such as
    "order.*") and, if given, whose `condition` is true; its conf is `transform` of the event, or
    the payload. `condition` and `transform` are JMESPath over {"type", "payload", "id"};
    `transform_language="jsonata"` makes `transform` a JSONata expression instead."""

    def __init__(
        self, type: str, *, condition: str | None = None, transform: str | None = None, transform_language: str = "jmespath",
    ) -> None:
        if not isinstance(type, str) or not 0 < len(type) <= MAX_TYPE_LEN:
            raise DagDefinitionError(f"EventTrigger: type must be a glob of 1 to {MAX_TYPE_LEN} characters, not {type!r}")
        if transform_language not in ("jmespath", "jsonata"):
            raise DagDefinitionError(f"EventTrigger({type!r}): transform_language is 'jmespath' or 'jsonata', not {transform_language!r}")
        checks = [("condition", condition, compile_expression),
                  ("transform", transform, compile_jsonata if transform_language == "jsonata" else compile_expression)]
        for name, expression, check in checks:
            if expression is not None:
                try:
                    check(expression)
                except ValueError as exc:
                    raise DagDefinitionError(f"EventTrigger({type!r}): {name} {exc}") from None
        self.type = type
        self.condition = condition
        self.transform = transform
        self.transform_language = transform_language

    def to_spec(self) -> EventTriggerSpec:
        return EventTriggerSpec(type=self.type, condition=self.condition, transform=self.transform,
                                transform_language=self.transform_language)  # type: ignore[arg-type]

    def __repr__(self) -> str:
        return f"EventTrigger({self.type!r})"


@functools.lru_cache(maxsize=1024)
def compile_expression(expression: str) -> ParsedResult:
    """The parsed JMESPath expression; ValueError naming the problem if it is not valid, or calls a
    function that does not exist or with the wrong number of arguments (JMESPath finds those only
    when it runs)."""
    if not isinstance(expression, str) or not expression.strip():
        raise ValueError(f"must be a JMESPath expression, not {expression!r}")
    try:
        parsed = jmespath.compile(expression)
    except JMESPathError as exc:
        raise ValueError(f"{expression!r} is not valid JMESPath: {' '.join(str(exc).split())}") from None
    _check_functions(parsed.parsed, expression)
    return parsed


def _check_functions(node: Mapping[str, Any], expression: str) -> None:
    if node.get("type") == "function_expression":
        name, args = node["value"], node["children"]
        if name not in _FUNCTIONS:
            raise ValueError(f"{expression!r} calls {name}(), which JMESPath does not have")
        signature = _FUNCTIONS[name]["signature"]
        variadic = bool(signature) and signature[-1].get("variadic", False)
        if len(args) < len(signature) or (len(args) > len(signature) and not variadic):
            raise ValueError(f"{expression!r} calls {name}() with {len(args)} arguments; it takes {len(signature)}")
    for child in node.get("children", ()):
        if isinstance(child, Mapping):
            _check_functions(child, expression)


@dataclass(frozen=True)
class TriggerOutcome:
    """What one trigger makes of one event it matched by type: a run with `conf`, or an error."""

    conf: dict[str, Any] | None = None
    error: str | None = None


def truthy(value: Any) -> bool:
    """JMESPath's truth: false, null, "", [] and {} are false; every number is true (0 too)."""
    return not (value is None or value is False or (isinstance(value, (str, list, dict)) and not value))


def evaluate(trigger: EventTriggerSpec, event: Mapping[str, Any]) -> TriggerOutcome | None:
    """How `trigger` answers `event` ({"type", "payload", "id"}): None when the type or the
    condition does not match; otherwise the run's conf, or why the expressions failed."""
    if not fnmatchcase(str(event.get("type", "")), trigger.type):
        return None
    try:
        if trigger.condition is not None and not truthy(compile_expression(trigger.condition).search(event)):
            return None
        if trigger.transform is None:
            conf = event.get("payload")
        elif trigger.transform_language == "jsonata":
            conf = evaluate_jsonata(trigger.transform, dict(event))
        else:
            conf = compile_expression(trigger.transform).search(event)
    except Exception as exc:  # noqa: BLE001 - a failing expression is reported for this DAG, never fatal
        return TriggerOutcome(error=f"trigger {trigger.type!r}: {type(exc).__name__}: {' '.join(str(exc).split())}")
    if not isinstance(conf, dict):
        kind = "null" if conf is None else type(conf).__name__
        return TriggerOutcome(error=f"trigger {trigger.type!r}: the transform gave {kind}, but a run's conf must be a JSON object")
    return TriggerOutcome(conf=conf)


def first_match(triggers: Iterable[EventTriggerSpec], event: Mapping[str, Any]) -> TriggerOutcome | None:
    """The answer of the DAG's first trigger that matches `event`: one event starts a DAG at most once,
    and a trigger that fails keeps it from starting (the error says why)."""
    for trigger in triggers:
        outcome = evaluate(trigger, event)
        if outcome is not None:
            return outcome
    return None
