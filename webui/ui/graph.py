"""Left-to-right layout of a DAG for its SVG picture, computed from the DagSpec alone.

Layers by longest path from the sources (a task sits one column right of its furthest upstream),
then a few barycenter sweeps order each column so edges cross less. Task groups: a collapsed
group is one node standing for all its tasks (edges into and out of it merged); an expanded one
is a box around its members, which each column keeps together. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass, field

from orchestrator.core.spec import DagSpec

NODE_W = 170
"""The narrowest node; nodes widen (up to NODE_W_MAX) so that the longest name shows whole."""
NODE_W_MAX = 440
NODE_H = 34
CHAR_W = 7.0  # of the node's 12.5px sans-serif text (about 6.7 measured), with room to spare
NODE_TEXT_ROOM = 58  # the state stripe on the left, a mapped task's count on the right
EDGE_LABEL_GAP = 130  # more room between columns when some edge carries a condition
COL_GAP = 70
ROW_GAP = 16
MARGIN = 12
SWEEPS = 4
GROUP_PAD = 8  # between a group's box and what it holds, per level of nesting
GROUP_LABEL_H = 16  # the group's name, above its members


@dataclass(frozen=True)
class Node:
    task_id: str  # a task's id, or a collapsed group's
    layer: int
    x: float
    y: float
    label: str
    kind: str = "task"  # or "group": a collapsed task group
    mapped: bool = False  # a mapped task: one node for all its instances


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    path: str
    label: str | None = None  # a declarative `next` condition: the edge is followed only when it holds
    label_x: float = 0.0  # where the label ends (right-aligned): just before the target
    label_y: float = 0.0


@dataclass(frozen=True)
class GroupBox:
    """An expanded task group: a box around its members, its name on top (click to collapse)."""

    group_id: str
    x: float
    y: float
    width: float
    height: float
    label: str
    tooltip: str | None
    depth: int


@dataclass(frozen=True)
class Layout:
    nodes: list[Node]
    edges: list[Edge]
    width: float
    height: float
    groups: list[GroupBox] = field(default_factory=list)
    node_w: float = NODE_W


class _Groups:
    """The DAG's task groups as a tree, and which node each task is drawn as."""

    def __init__(self, spec: DagSpec, collapsed: Collection[str]) -> None:
        self.parent = {g.group_id: g.parent for g in spec.task_groups}
        self.tooltip = {g.group_id: g.tooltip for g in spec.task_groups}
        self.of_task = {t.task_id: t.task_group for t in spec.tasks}
        self.collapsed = {g for g in collapsed if g in self.parent}

    def chain(self, group: str | None) -> list[str]:
        """`group` and the groups around it, innermost first."""
        out = []
        while group is not None:
            out.append(group)
            group = self.parent[group]
        return out

    def node_of(self, task_id: str) -> str:
        """The outermost collapsed group holding the task, or the task itself."""
        folded = [g for g in self.chain(self.of_task.get(task_id)) if g in self.collapsed]
        return folded[-1] if folded else task_id

    def path(self, node: str) -> tuple[str, ...]:
        """The expanded groups around a node, outermost first (a collapsed group is inside its parents)."""
        start = self.parent[node] if node in self.parent else self.of_task.get(node)
        return tuple(reversed(self.chain(start)))


def longest_path_layers(spec: DagSpec, node_of: Callable[[str], str] = lambda tid: tid) -> dict[str, int]:
    """node -> its column: 0 for sources, else one more than its deepest upstream (`node_of` maps
    tasks to the nodes drawn; edges within one node do not count)."""
    layer: dict[str, int] = {}
    # spec.tasks lists every task after its upstreams, so one pass suffices without collapsed groups;
    # a collapsed group may need more, and a few passes always end (even if folding made a cycle)
    for _ in range(max(len(spec.tasks), 1)):
        changed = False
        for t in spec.tasks:
            node = node_of(t.task_id)
            value = max(layer.get(node, 0), 1 + max((layer.get(node_of(u), 0) for u in t.upstream if node_of(u) != node), default=-1))
            if layer.get(node) != value:
                layer[node] = value
                changed = True
        if not changed:
            break
    return layer


def _condensed(spec: DagSpec, node_of: Callable[[str], str]) -> tuple[list[str], dict[str, list[str]], dict[str, list[str]]]:
    """The nodes in DAG order, and each node's upstream and downstream nodes."""
    nodes = list(dict.fromkeys(node_of(t.task_id) for t in spec.tasks))
    upstream: dict[str, list[str]] = {n: [] for n in nodes}
    downstream: dict[str, list[str]] = {n: [] for n in nodes}
    for t in spec.tasks:
        b = node_of(t.task_id)
        for u in t.upstream:
            a = node_of(u)
            if a != b and a not in upstream[b]:
                upstream[b].append(a)
                downstream[a].append(b)
    return nodes, upstream, downstream


def _order_columns(spec: DagSpec, layer: dict[str, int], node_of: Callable[[str], str] = lambda tid: tid) -> list[list[str]]:
    nodes, upstream, downstream = _condensed(spec, node_of)
    columns: list[list[str]] = [[] for _ in range(max(layer.values(), default=-1) + 1)]
    for n in nodes:
        columns[layer[n]].append(n)
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


def _label(task_id: str, limit: int) -> str:
    return task_id if len(task_id) <= limit else task_id[: limit - 1] + "…"


def node_width(labels: Collection[str]) -> float:
    """Wide enough for the longest of `labels` (between NODE_W and NODE_W_MAX)."""
    longest = max((len(t) for t in labels), default=0)
    return float(min(max(NODE_W, round(NODE_TEXT_ROOM + CHAR_W * longest)), NODE_W_MAX))


def _own_part(nid: str, around: str | None) -> str:
    """Inside a group its name is on the box: a task (or inner group) shows its own part of the id."""
    return nid[len(around) + 1 :] if around and nid.startswith(around + ".") else nid


def layout(spec: DagSpec, collapsed: Collection[str] = ()) -> Layout:
    """Positions of every node (tasks, and the `collapsed` groups) and the curve of every edge, and
    the boxes of the expanded groups, in SVG user units."""
    groups = _Groups(spec, collapsed)
    layer = longest_path_layers(spec, groups.node_of)
    columns = _order_columns(spec, layer, groups.node_of)
    nesting = max((len(groups.path(n)) for c in columns for n in c), default=0)
    col_gap = COL_GAP + 2 * GROUP_PAD * nesting  # room for the sides of the boxes between columns
    if nesting:
        tops, rects = _pack_groups(columns, groups, layer)
        height = MARGIN * 2 + max((t + NODE_H for t in tops.values()), default=0.0)
    else:
        tops, rects = _centred(columns), {}
        height = MARGIN * 2 + max((t + NODE_H for t in tops.values()), default=0.0)
    mapped = {t.task_id for t in spec.tasks if t.mapped}
    names = {}
    for column in columns:
        for nid in column:
            kind = "group" if nid in groups.parent else "task"
            names[nid] = (kind, _own_part(nid, groups.parent[nid] if kind == "group" else groups.of_task.get(nid)))
    node_w = node_width([name for _, name in names.values()])
    conditions = {
        (up, t.task_id): spec.task_map[up].next_conditions[t.task_id]
        for t in spec.tasks for up in t.upstream
        if up in spec.task_map and t.task_id in spec.task_map[up].next_conditions
    }
    if conditions:
        col_gap += EDGE_LABEL_GAP
    limit = int((node_w - NODE_TEXT_ROOM) / CHAR_W)
    column_x = [MARGIN + GROUP_PAD * nesting + i * (node_w + col_gap) for i in range(len(columns))]
    nodes: dict[str, Node] = {}
    for i, column in enumerate(columns):
        for nid in column:
            kind, name = names[nid]
            nodes[nid] = Node(nid, i, column_x[i], MARGIN + tops[nid], _label(name, limit), kind, nid in mapped)
    edges = []
    drawn: set[tuple[str, str]] = set()
    for t in spec.tasks:
        for up in t.upstream:
            a, b = nodes[groups.node_of(up)], nodes[groups.node_of(t.task_id)]
            if a is b or (a.task_id, b.task_id) in drawn:
                continue
            drawn.add((a.task_id, b.task_id))
            x1, y1 = a.x + node_w, a.y + NODE_H / 2
            x2, y2 = b.x, b.y + NODE_H / 2
            bend = max((x2 - x1) / 2, 20)
            path = f"M{x1:.1f},{y1:.1f} C{x1 + bend:.1f},{y1:.1f} {x2 - bend:.1f},{y2:.1f} {x2:.1f},{y2:.1f}"
            # a condition is written just above the edge where it enters its target (right-aligned
            # there): edges that fan out of one task are far apart by then, so labels do not collide
            edges.append(Edge(a.task_id, b.task_id, path, conditions.get((up, t.task_id)), round(x2 - 10, 1), round(y2 - 6, 1)))
    boxes = []
    for g, (top, tall, first, last, inner) in rects.items():
        pad = GROUP_PAD * (inner + 1)
        x0, x1 = column_x[first] - pad, column_x[last] + node_w + pad
        boxes.append(GroupBox(g, x0, MARGIN + top, x1 - x0, tall, g.rsplit(".", 1)[-1], groups.tooltip[g], len(groups.chain(g)) - 1))
    width = MARGIN * 2 + 2 * GROUP_PAD * nesting + len(columns) * node_w + max(len(columns) - 1, 0) * col_gap
    return Layout(list(nodes.values()), edges, width, height, sorted(boxes, key=lambda b: (b.depth, b.group_id)), node_w)


def _centred(columns: list[list[str]]) -> dict[str, float]:
    """node -> its top: each column stacked in order and centred on the tallest."""
    tallest = max((len(c) for c in columns), default=0)
    height = tallest * NODE_H + max(tallest - 1, 0) * ROW_GAP
    tops = {}
    for column in columns:
        used = len(column) * NODE_H + max(len(column) - 1, 0) * ROW_GAP
        for k, nid in enumerate(column):
            tops[nid] = (height - used) / 2 + k * (NODE_H + ROW_GAP)
    return tops


# a placed item of a container: its nodes' tops, its groups' boxes, the columns it spans, its place in the sweeps' order
_Packed = tuple[dict[str, float], dict[str, tuple[float, float, int, int, int]], range, float, float]


def _pack_groups(columns: list[list[str]], groups: _Groups, layer: dict[str, int]) -> tuple[dict[str, float], dict[str, tuple[float, float, int, int, int]]]:
    """Node tops and group boxes (top, height, first and last column, levels of groups inside) with
    each group's box a band across the columns it spans that holds only its members.

    Each container (the picture, an expanded group) stacks its items (nodes, inner groups) in the
    order the sweeps gave them, each as high as it fits in all the columns it spans.
    """
    rank = {n: (k + 0.5) / len(c) for c in columns for k, n in enumerate(c)}
    held: dict[str | None, list[str]] = {}
    inner_groups: dict[str | None, list[str]] = {}
    for column in columns:
        for n in column:
            path = groups.path(n)
            held.setdefault(path[-1] if path else None, []).append(n)
            for outer, inner in zip((None, *path), path):
                if inner not in inner_groups.setdefault(outer, []):
                    inner_groups[outer].append(inner)

    def pack(container: str | None) -> _Packed:
        items: list[_Packed] = [({n: 0.0}, {}, range(layer[n], layer[n] + 1), rank[n], NODE_H) for n in held.get(container, [])]
        for g in inner_groups.get(container, []):
            tops, boxes, span, key, tall = pack(g)
            inner = 1 + max((b[4] for b in boxes.values()), default=-1)
            offset = GROUP_LABEL_H + GROUP_PAD
            boxes = {k: (t + offset, h, a, b, i) for k, (t, h, a, b, i) in boxes.items()}
            total = tall + GROUP_LABEL_H + 2 * GROUP_PAD
            boxes[g] = (0.0, total, span.start, span.stop - 1, inner)
            items.append(({n: t + offset for n, t in tops.items()}, boxes, span, key, total))
        items.sort(key=lambda item: item[3])
        taken: dict[int, list[tuple[float, float]]] = {}
        tops: dict[str, float] = {}
        boxes: dict[str, tuple[float, float, int, int, int]] = {}
        for item_tops, item_boxes, span, _, tall in items:
            spots = sorted({0.0, *(b + ROW_GAP for c in span for _, b in taken.get(c, []))})
            top = next(
                y for y in spots
                if all(y + tall + ROW_GAP <= a or b + ROW_GAP <= y for c in span for a, b in taken.get(c, []))
            )
            for c in span:
                taken.setdefault(c, []).append((top, top + tall))
            tops.update({n: top + t for n, t in item_tops.items()})
            boxes.update({g: (top + t, h, a, b, i) for g, (t, h, a, b, i) in item_boxes.items()})
        first = min(s.start for _, _, s, _, _ in items)
        last = max(s.stop for _, _, s, _, _ in items)
        tall = max(b for spans in taken.values() for _, b in spans)
        return tops, boxes, range(first, last), sum(rank[n] for n in tops) / len(tops), tall

    tops, boxes, _, _, _ = pack(None)
    return tops, boxes
