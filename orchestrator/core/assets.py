"""Data assets: `Asset` and `AnyOf` for authoring, and the pure decisions about them.

A task lists the assets it updates in `outlets=[Asset("warehouse.orders")]`; each success records
an update (an asset event, numbered in order). A DAG with `schedule=[Asset(...), ...]` runs once
all of them, with `schedule=AnyOf(...)` once any of them, were updated since its last
asset-triggered run: its cursors remember, per asset, the newest update it has run for (none yet:
every recorded update counts). Several updates before the run starts make one run.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field

from orchestrator.core.errors import DagDefinitionError

if TYPE_CHECKING:
    from orchestrator.core.spec import DagSpec

URI_MAX = 500  # asset_event.uri is String(500)
# any characters but white space and control characters, which no name needs. Spelled out rather
# than `\s`, which means other characters to other regex engines (U+0085 is white space to Rust's
# regex, which pydantic uses, and not to ECMAScript's, which the OpenAPI document's readers use)
URI_PATTERN = r"^[^\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff]{1,500}$"
LABEL_MAX = 100  # dag.schedule is String(100)


def _check_uri(uri: object) -> str:
    if not isinstance(uri, str) or re.fullmatch(URI_PATTERN, uri) is None:
        raise DagDefinitionError(f"Asset: the uri must be 1 to {URI_MAX} characters without spaces or control characters, not {uri!r}")
    return uri


@dataclass(frozen=True)
class Asset:
    """A piece of data that tasks update and DAGs wait for, named by a URI such as "warehouse.orders"."""

    uri: str

    def __post_init__(self) -> None:
        _check_uri(self.uri)


@dataclass(frozen=True, init=False)
class AnyOf:
    """`schedule=AnyOf(Asset("a"), Asset("b"))`: run when any of the assets was updated."""

    assets: tuple[Asset, ...]

    def __init__(self, *assets: Asset) -> None:
        object.__setattr__(self, "assets", tuple(assets))


class AssetCondition(BaseModel):
    """The code-free asset schedule of a DAG, kept in its DagSpec."""

    model_config = ConfigDict(frozen=True)

    mode: Literal["all", "any"] = Field(description="all: every asset must have been updated; any: one is enough")
    uris: tuple[str, ...] = Field(min_length=1)

    def label(self) -> str:
        """How lists show it: "assets: a, b" or "any of: a, b"."""
        return ("assets: " if self.mode == "all" else "any of: ") + ", ".join(self.uris)


def asset_condition(dag_id: str, schedule: object) -> AssetCondition:
    """The condition of `schedule=[Asset, ...]` (all) or `schedule=AnyOf(...)` (any); DagDefinitionError otherwise."""
    mode: Literal["all", "any"] = "any" if isinstance(schedule, AnyOf) else "all"
    items = schedule.assets if isinstance(schedule, AnyOf) else schedule
    if not isinstance(items, (list, tuple)):
        raise DagDefinitionError(
            f"DAG {dag_id!r}: schedule must be None, a cron string or a preset, a list of Asset(...) or AnyOf(Asset(...), ...), not {schedule!r}"
        )
    bad = [item for item in items if not isinstance(item, Asset)]
    if bad:
        raise DagDefinitionError(f"DAG {dag_id!r}: an asset schedule lists Asset(...) objects, not {bad[0]!r}")
    if not items:
        raise DagDefinitionError(f"DAG {dag_id!r}: an asset schedule needs at least one Asset(...)")
    return AssetCondition(mode=mode, uris=tuple(dict.fromkeys(a.uri for a in items)))


def outlet_uris(task_id: str, outlets: object) -> tuple[str, ...]:
    """The URIs of a task's `outlets` (a list of Asset), in order, each once."""
    items = outlets if isinstance(outlets, (list, tuple)) else [outlets]
    bad = [item for item in items if not isinstance(item, Asset)]
    if bad:
        raise DagDefinitionError(f"task {task_id!r}: outlets lists Asset(...) objects, not {bad[0]!r}")
    return tuple(dict.fromkeys(a.uri for a in items))


def due_updates(condition: AssetCondition, newest: Mapping[str, int], cursors: Mapping[str, int]) -> dict[str, int] | None:
    """Whether a DAG with `condition` is due, given the newest update (event id) of each asset and
    the DAG's cursors: the updates to consume (uri -> newest event id, the cursors' next values)
    when it is, else None."""
    updated = {u: newest[u] for u in condition.uris if newest.get(u, 0) > cursors.get(u, 0)}
    met = len(updated) == len(condition.uris) if condition.mode == "all" else bool(updated)
    return updated if met else None


def schedule_label(spec: DagSpec) -> str | None:
    """What lists show as a DAG's schedule: its cron, the assets it waits for, or the events that start it."""
    if spec.schedule is not None:
        return spec.schedule
    if spec.asset_schedule is not None:
        label = spec.asset_schedule.label()
    elif spec.triggers:
        label = "events: " + ", ".join(dict.fromkeys(t.type for t in spec.triggers))
    else:
        return None
    return label if len(label) <= LABEL_MAX else label[: LABEL_MAX - 1] + "…"


@dataclass
class AssetRefs:
    """Who updates an asset (DAG, task) and which DAGs wait for it."""

    producers: list[tuple[str, str]] = field(default_factory=list)
    consumers: list[str] = field(default_factory=list)


def asset_references(specs: Iterable[DagSpec]) -> dict[str, AssetRefs]:
    """uri -> its producers and consumers among `specs`."""
    refs: dict[str, AssetRefs] = {}
    for spec in specs:
        for task in spec.tasks:
            for uri in task.outlets:
                refs.setdefault(uri, AssetRefs()).producers.append((spec.dag_id, task.task_id))
        if spec.asset_schedule is not None:
            for uri in spec.asset_schedule.uris:
                refs.setdefault(uri, AssetRefs()).consumers.append(spec.dag_id)
    return refs
