"""The `>>` and `<<` operators that tasks and task groups share."""

from __future__ import annotations

from typing import Any, Self


class Linkable:
    """`a >> b`, `a << b`, `[x, y] >> a` and `a << [x, y]` for a class that has `set_upstream(other)`
    and `set_downstream(other)`."""

    set_upstream: Any
    set_downstream: Any

    def __rshift__(self, other: Any) -> Any:
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
