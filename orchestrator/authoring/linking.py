"""The `>>` and `<<` operators that tasks and task groups share, and edge labels."""

from __future__ import annotations

from typing import Any, Self


class Label:
    """A label on an edge: `decide >> Label("yes") >> approve` links decide to approve
    (Airflow's `Label`; the label names the path for readers of the DAG file)."""

    def __init__(self, label: str) -> None:
        self.label = label

    def __rrshift__(self, left: Any) -> _LabelledEdge:
        return _LabelledEdge(left, self)

    def __repr__(self) -> str:
        return f"Label({self.label!r})"


class _LabelledEdge:
    """`left >> Label(...)`, waiting for its right-hand side."""

    def __init__(self, left: Any, label: Label) -> None:
        self.left = left
        self.label = label

    def __rshift__(self, right: Any) -> Any:
        return self.left >> right


class Linkable:
    """`a >> b`, `a << b`, `[x, y] >> a` and `a << [x, y]` for a class that has `set_upstream(other)`
    and `set_downstream(other)`."""

    set_upstream: Any
    set_downstream: Any

    def __rshift__(self, other: Any) -> Any:
        if isinstance(other, Label):
            return _LabelledEdge(self, other)
        self.set_downstream(other)
        return other

    def __lshift__(self, other: Any) -> Any:
        self.set_upstream(other)
        return other

    def __rrshift__(self, other: Any) -> Self:
        self.set_upstream(other)
        return self

    def __rlshift__(self, other: Any) -> Self:
        self.set_downstream(other)
        return self
