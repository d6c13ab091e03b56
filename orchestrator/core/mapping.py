"""Dynamic task mapping: pure functions from a mapped task's inputs to its instances and back.

A task made with `.expand(x=...)` / `.map(items)` runs once per item (once per combination when
it is mapped over several arguments, as Airflow's cross product). The scheduler expands it once
its upstreams ended and their results are known: `map_length` says how many instances to make,
`map_items` what each instance receives, `gather_state` what the task's own state is once every
instance ended; the downstream receives the instances' results as one list in map_index order.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from math import prod
from typing import Any

from orchestrator.core.spec import MapSource
from orchestrator.core.states import TASK_FAILED_LIKE, TASK_TERMINAL, TaskState

KWARGS = "**"
"""The `arg` of a MapSource made by `expand_kwargs()`: each item is a dict of keyword arguments."""

MAX_MAP_LENGTH = 10_000
"""Instances one mapped task may expand into; more fails the task."""


class MappingError(ValueError):
    """A mapped task's input cannot be mapped: not a list, or too long."""


def source_list(source: MapSource, results: Mapping[str, Any]) -> Sequence[Any]:
    """The list an argument is mapped over: the literal, or the upstream's result (at `key`)."""
    if source.values is not None:
        return source.values
    assert source.task_id is not None
    value = results.get(source.task_id)
    where = f"the result of {source.task_id!r}" + ("" if source.key is None else f"[{source.key!r}]")
    if source.key is not None:
        try:
            value = value[source.key]  # type: ignore[index]
        except (KeyError, IndexError, TypeError):
            raise MappingError(f"cannot map {source.arg!r} over {where}: it has no such item") from None
    if not isinstance(value, (list, tuple)):
        raise MappingError(f"cannot map {source.arg!r} over {where}: it is {type(value).__name__}, not a list")
    if source.arg == KWARGS:
        for i, item in enumerate(value):
            if not isinstance(item, dict) or not all(isinstance(k, str) for k in item):
                raise MappingError(f"expand_kwargs() over {where} needs a list of dicts of arguments; item {i} is {item!r}")
    return value


def map_length(sources: Sequence[MapSource], results: Mapping[str, Any]) -> int:
    """How many instances the task expands into: the product of its lists' lengths.

    Raises MappingError when an input is not a list or the count is over MAX_MAP_LENGTH.
    """
    length = prod(len(source_list(s, results)) for s in sources)
    if length > MAX_MAP_LENGTH:
        raise MappingError(
            f"the task would expand into {length} instances, over the limit of {MAX_MAP_LENGTH}: "
            "map over fewer items, or batch them in the upstream task"
        )
    return length


def map_items(sources: Sequence[MapSource], results: Mapping[str, Any], map_index: int) -> dict[str, Any]:
    """The arguments instance `map_index` receives: one item of each list, the last argument
    varying fastest (so a single list maps index i to item i)."""
    lists = [source_list(s, results) for s in sources]
    items: dict[str, Any] = {}
    rest = map_index
    for source, values in zip(reversed(sources), reversed(lists)):
        rest, i = divmod(rest, len(values))
        if source.arg == KWARGS:
            items.update(values[i])  # dicts: checked by source_list
        else:
            items[source.arg] = values[i]
    return items


def gather_state(states: Iterable[TaskState]) -> TaskState | None:
    """The mapped task's state once all its instances ended (None while one has not): failed when
    an instance failed or was cancelled, success otherwise. Pass the newest instances first: they
    are the likeliest to be unfinished, which ends the look."""
    failed = False
    for state in states:
        if state not in TASK_TERMINAL:
            return None
        failed = failed or state in TASK_FAILED_LIKE
    return TaskState.FAILED if failed else TaskState.SUCCESS
