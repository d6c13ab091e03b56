"""What clearing tasks clears: the tasks, the setups they depend on and those setups' teardowns. Pure."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from orchestrator.core.spec import DagSpec


def clear_scope(spec: DagSpec, targets: Sequence[str]) -> list[str]:
    """`targets` with the setups they depend on (directly or not) and those setups' teardowns,
    in the order found: what clearing `targets` clears."""
    out = list(dict.fromkeys(targets))
    seen = set(out)
    setups: list[str] = []
    for tid in list(out):
        for ancestor in _ancestors(spec, tid):
            if spec.task_map[ancestor].setup_teardown == "setup" and ancestor not in seen:
                seen.add(ancestor)
                setups.append(ancestor)
    teardowns = [
        d for s in setups for d in spec.downstream[s] if spec.task_map[d].setup_teardown == "teardown"
    ]
    for tid in [*setups, *teardowns]:
        if tid not in out:
            out.append(tid)
    return out


def _ancestors(spec: DagSpec, task_id: str) -> Iterable[str]:
    stack = list(spec.task_map[task_id].upstream)
    seen: set[str] = set()
    while stack:
        tid = stack.pop()
        if tid not in seen:
            seen.add(tid)
            yield tid
            stack.extend(spec.task_map[tid].upstream)
