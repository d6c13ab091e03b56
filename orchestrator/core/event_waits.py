"""Waiting for an outside event: the spec a WaitForEvent carries, and the pure matching of events.

A wait matches an event posted through `POST /api/v1/events` after the wait began, whose type
fits the wait's glob and whose JMESPath `match` is true over {"type", "payload", "id", "params"}
(`params`: the run's params, so that `payload.invoice_id == params.invoice_id` ties an event to
one run). Like an EventTrigger's condition, but with the run in scope.

Correlation keeps matching cheap with thousands of waits on one event type: when `match` is (or
begins with `... &&`) an equality between a plain path into the event and a constant or a path
into `params`, the wait gets a key, a hash of (event path, value). An event's keys are the hashes
of its own scalar fields, so the store finds the waits an event may match by key; `match` itself
still decides.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator, Mapping
from typing import Any, Literal

from jmespath.visitor import TreeInterpreter
from pydantic import BaseModel, ConfigDict, Field, field_validator

from orchestrator.core.durations import duration_seconds
from orchestrator.core.triggers import MAX_TYPE_LEN, compile_expression, truthy

EVENT_FIELDS = ("type", "payload", "id")
MAX_KEY_DEPTH = 6  # path segments of an event field that can correlate (payload.a.b.c.d.e)
MAX_EVENT_KEYS = 512  # scalar fields of one event that are indexed; an event with more is matched by scan
_GLOB = re.compile(r"[*?\[]")
TIMEOUT_ERROR_TYPE = "EventWaitTimeout"
"""The error type of a wait that timed out, for `on_failure={"EventWaitTimeout": ...}`."""


class EventWaitSpec(BaseModel):
    """What a WaitForEvent waits for (kept in its TaskSpec as `wait`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["event"] = "event"
    type: str = Field(min_length=1, max_length=MAX_TYPE_LEN, description="the event type, or a glob over it (order.*)")
    match: str | None = Field(default=None, description="JMESPath over {type, payload, id, params}: the event must make it true")
    timeout: float | None = Field(default=None, description="seconds to wait before the task fails")

    @field_validator("match")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            compile_expression(value)
        return value

    @field_validator("timeout", mode="before")
    @classmethod
    def _seconds(cls, value: Any) -> float | None:
        return None if value is None else duration_seconds(value, "timeout")


def is_glob(pattern: str) -> bool:
    return _GLOB.search(pattern) is not None


def document(type: str, payload: Mapping[str, Any], event_id: str | None, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """What `match` is evaluated over."""
    doc: dict[str, Any] = {"type": type, "payload": dict(payload), "id": event_id}
    if params is not None:
        doc["params"] = dict(params)
    return doc


def matches(match: str | None, doc: Mapping[str, Any]) -> bool:
    """Whether `match` is true over `doc` (no match: true). Raises what a failing expression raises."""
    return match is None or truthy(compile_expression(match).search(doc))


# -- correlation keys -----------------------------------------------------------------------------------
def _key(path: tuple[str, ...], value: Any) -> str:
    return hashlib.sha256(json.dumps([list(path), value], separators=(",", ":")).encode()).hexdigest()[:40]


def _scalar(value: Any) -> Any:
    """The value as keys hash it: JMESPath's `==` holds 1 and 1.0 equal (but not true and 1)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, (str, int, float, bool))


def _path(node: Mapping[str, Any]) -> tuple[str, ...] | None:
    """The field names of a plain path (a.b.c), or None for any other expression."""
    if node.get("type") == "field":
        return (str(node["value"]),)
    if node.get("type") == "subexpression":
        out: list[str] = []
        for child in node.get("children", ()):
            part = _path(child)
            if part is None:
                return None
            out.extend(part)
        return tuple(out)
    return None


def _equalities(node: Mapping[str, Any]) -> Iterator[tuple[Mapping[str, Any], Mapping[str, Any]]]:
    """The `a == b` terms that must all hold for the expression to be true."""
    if node.get("type") == "comparator" and node.get("value") == "eq":
        left, right = node["children"]
        yield left, right
    elif node.get("type") == "and_expression":
        for child in node.get("children", ()):
            yield from _equalities(child)


def wait_key(match: str | None, params: Mapping[str, Any]) -> str | None:
    """The wait's correlation key, if its match has a usable `event.path == constant` term."""
    if match is None:
        return None
    for left, right in _equalities(compile_expression(match).parsed):
        for event_side, other in ((left, right), (right, left)):
            path = _path(event_side)
            if path is None or path[0] not in EVENT_FIELDS or len(path) > MAX_KEY_DEPTH:
                continue
            if other.get("type") == "literal":
                value = other.get("value")
            elif (other_path := _path(other)) is not None and other_path[0] == "params":
                value = TreeInterpreter().visit(dict(other), {"params": dict(params)})
            else:
                continue
            # a null on the wait's side would equal any missing field of the event: no key for it
            if value is not None and _is_scalar(value):
                return _key(path, _scalar(value))
    return None


def event_keys(doc: Mapping[str, Any]) -> set[str] | None:
    """The correlation keys of an event: one per scalar field up to MAX_KEY_DEPTH deep; None
    when it has more than MAX_EVENT_KEYS of them (every wait of its type is then looked at)."""
    keys: set[str] = set()

    def walk(prefix: tuple[str, ...], value: Any) -> bool:
        if isinstance(value, Mapping):
            if len(prefix) < MAX_KEY_DEPTH:
                return all(walk((*prefix, str(name)), child) for name, child in value.items())
        elif _is_scalar(value) and value is not None:
            keys.add(_key(prefix, _scalar(value)))
        return len(keys) <= MAX_EVENT_KEYS

    return keys if all(walk((name,), doc.get(name)) for name in EVENT_FIELDS) else None
