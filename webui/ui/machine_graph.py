"""Layout of a state machine for its SVG picture: states as nodes, transitions as edges labelled
with their trigger and guard. Pure: no I/O.

States sit in columns by their distance from the initial state (breadth first, so loops do not
stretch the picture); a transition to a later column is drawn like a DAG edge, one back to the
same or an earlier column (a loop-back) as an arc under the nodes, and one from a state to itself
as a small loop above it. Several transitions between the same two states share one edge whose
label lists them, separated by " | ".
"""

from __future__ import annotations

from collections import deque

from orchestrator.core.machine import MachineSpec
from webui.ui.graph import CHAR_W, COL_GAP, EDGE_LABEL_GAP, MARGIN, NODE_H, NODE_TEXT_ROOM, ROW_GAP, Edge, Layout, Node, node_width

BACK_ARC = 28
"""How far below the lowest node a loop-back arc dips, per arc (arcs are nested so they do not overlap)."""


def _layers(machine: MachineSpec) -> dict[str, int]:
    """state -> its distance from the initial state; unreachable states go one column past the rest."""
    nexts: dict[str, list[str]] = {s.name: [] for s in machine.states}
    for t in machine.transitions:
        nexts[t.source].append(t.target)
    layer = {machine.initial: 0}
    todo = deque([machine.initial])
    while todo:
        here = todo.popleft()
        for there in nexts[here]:
            if there not in layer:
                layer[there] = layer[here] + 1
                todo.append(there)
    last = max(layer.values()) + 1
    return {s.name: layer.get(s.name, last) for s in machine.states}


def machine_layout(machine: MachineSpec) -> Layout:
    """Positions of the states and the curves and labels of the transitions, in SVG user units."""
    layer = _layers(machine)
    columns: list[list[str]] = [[] for _ in range(max(layer.values()) + 1)]
    for s in machine.states:  # declaration order within a column
        columns[layer[s.name]].append(s.name)
    node_w = node_width([s.name for s in machine.states])
    col_gap = COL_GAP + (EDGE_LABEL_GAP if machine.transitions else 0)
    tallest = max(len(c) for c in columns)
    limit = int((node_w - NODE_TEXT_ROOM) / CHAR_W)
    top = MARGIN + 24  # room for self-loops above the first row
    nodes: dict[str, Node] = {}
    for i, column in enumerate(columns):
        offset = (tallest - len(column)) * (NODE_H + ROW_GAP) / 2
        for j, name in enumerate(column):
            x = MARGIN + i * (node_w + col_gap)
            y = top + offset + j * (NODE_H + ROW_GAP)
            label = name if len(name) <= limit else name[: max(limit - 1, 1)] + "…"
            kind = "final" if machine.state_map[name].final else ("initial" if name == machine.initial else "state")
            nodes[name] = Node(name, i, x, y, label, kind)
    labels: dict[tuple[str, str], list[str]] = {}
    for t in machine.transitions:
        labels.setdefault((t.source, t.target), []).append(t.label)
    bottom = top + tallest * (NODE_H + ROW_GAP)
    edges: list[Edge] = []
    arcs = 0
    for (source, target), texts in labels.items():
        a, b = nodes[source], nodes[target]
        label = " | ".join(texts)
        if a is b:
            x, y = a.x + node_w / 2, a.y
            path = f"M{x - 14:.1f},{y:.1f} C{x - 30:.1f},{y - 26:.1f} {x + 30:.1f},{y - 26:.1f} {x + 14:.1f},{y:.1f}"
            edges.append(Edge(source, target, path, label, round(x + 40 + CHAR_W * min(len(label), 26), 1), round(y - 14, 1)))
        elif b.layer > a.layer:
            x1, y1 = a.x + node_w, a.y + NODE_H / 2
            x2, y2 = b.x, b.y + NODE_H / 2
            bend = max((x2 - x1) / 2, 20)
            path = f"M{x1:.1f},{y1:.1f} C{x1 + bend:.1f},{y1:.1f} {x2 - bend:.1f},{y2:.1f} {x2:.1f},{y2:.1f}"
            edges.append(Edge(source, target, path, label, round(x2 - 10, 1), round(y2 - 6, 1)))
        else:  # a loop back: an arc under every node, from the source's bottom to the target's
            arcs += 1
            dip = bottom + arcs * BACK_ARC
            x1, y1 = a.x + node_w / 2, a.y + NODE_H
            x2, y2 = b.x + node_w / 2 + (12 if b.layer == a.layer else 0), b.y + NODE_H
            path = f"M{x1:.1f},{y1:.1f} C{x1:.1f},{dip:.1f} {x2:.1f},{dip:.1f} {x2:.1f},{y2:.1f}"
            middle = (x1 + x2) / 2
            edges.append(Edge(source, target, path, label, round(middle + CHAR_W * min(len(label), 26) / 2, 1), round(dip - 4, 1)))
    width = MARGIN * 2 + len(columns) * node_w + (len(columns) - 1) * col_gap + EDGE_LABEL_GAP
    height = bottom + arcs * BACK_ARC + MARGIN + 8
    return Layout(list(nodes.values()), edges, width, height, [], node_w)
