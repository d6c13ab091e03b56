"""Left-to-right layout of a DAG for its SVG picture, computed from the DagSpec alone.

Layers by longest path from the sources (a task sits one column right of its furthest upstream),
then a few barycenter sweeps order each column so edges cross less. Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

from orchestrator.spec import DagSpec

NODE_W = 170
NODE_H = 34
COL_GAP = 70
ROW_GAP = 16
MARGIN = 12
SWEEPS = 4


@dataclass(frozen=True)
class Node:
    task_id: str
    layer: int
    x: float
    y: float
    label: str


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    path: str


@dataclass(frozen=True)
class Layout:
    nodes: list[Node]
    edges: list[Edge]
    width: float
    height: float


def longest_path_layers(spec: DagSpec) -> dict[str, int]:
    """task_id -> its column: 0 for sources, else one more than its deepest upstream."""
    layer: dict[str, int] = {}
    # spec.tasks lists every task after its upstreams, so one pass suffices
    for t in spec.tasks:
        layer[t.task_id] = 1 + max((layer[u] for u in t.upstream if u in layer), default=-1)
    return layer


def _order_columns(spec: DagSpec, layer: dict[str, int]) -> list[list[str]]:
    columns: list[list[str]] = [[] for _ in range(max(layer.values(), default=-1) + 1)]
    for t in spec.tasks:
        columns[layer[t.task_id]].append(t.task_id)
    upstream = {t.task_id: t.upstream for t in spec.tasks}
    downstream = spec.downstream
    for sweep in range(SWEEPS):
        # alternate: order by upstream positions going right, by downstream positions going left
        forward = sweep % 2 == 0
        indices = range(1, len(columns)) if forward else range(len(columns) - 2, -1, -1)
        for i in indices:
            pos = {tid: k for k, tid in enumerate(columns[i - 1 if forward else i + 1])}
            current = {tid: k for k, tid in enumerate(columns[i])}

            def barycenter(tid: str) -> float:
                linked = [pos[n] for n in (upstream[tid] if forward else downstream[tid]) if n in pos]
                return sum(linked) / len(linked) if linked else float(current[tid])

            columns[i].sort(key=lambda tid: (barycenter(tid), current[tid]))
    return columns


def _label(task_id: str, limit: int = 22) -> str:
    return task_id if len(task_id) <= limit else task_id[: limit - 1] + "…"


def layout(spec: DagSpec) -> Layout:
    """Positions of every task and the curve of every edge, in SVG user units."""
    layer = longest_path_layers(spec)
    columns = _order_columns(spec, layer)
    tallest = max((len(c) for c in columns), default=0)
    height = MARGIN * 2 + tallest * NODE_H + max(tallest - 1, 0) * ROW_GAP
    nodes: dict[str, Node] = {}
    for i, column in enumerate(columns):
        # centre each column vertically so short columns sit in the middle of tall ones
        used = len(column) * NODE_H + max(len(column) - 1, 0) * ROW_GAP
        top = (height - used) / 2
        for k, tid in enumerate(column):
            nodes[tid] = Node(tid, i, MARGIN + i * (NODE_W + COL_GAP), top + k * (NODE_H + ROW_GAP), _label(tid))
    edges = []
    for t in spec.tasks:
        for up in t.upstream:
            if up not in nodes:
                continue
            a, b = nodes[up], nodes[t.task_id]
            x1, y1 = a.x + NODE_W, a.y + NODE_H / 2
            x2, y2 = b.x, b.y + NODE_H / 2
            bend = max((x2 - x1) / 2, 20)
            edges.append(Edge(up, t.task_id, f"M{x1:.1f},{y1:.1f} C{x1 + bend:.1f},{y1:.1f} {x2 - bend:.1f},{y2:.1f} {x2:.1f},{y2:.1f}"))
    width = MARGIN * 2 + len(columns) * NODE_W + max(len(columns) - 1, 0) * COL_GAP
    return Layout(list(nodes.values()), edges, width, height)
