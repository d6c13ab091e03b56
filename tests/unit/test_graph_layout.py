"""The DAG picture's layout (fast, pure): columns by longest path, left to right, no overlaps."""

from __future__ import annotations

from orchestrator.spec import DagSpec, TaskSpec
from webui.ui.graph import NODE_H, NODE_W, layout, longest_path_layers


def _spec(edges: dict[str, tuple[str, ...]]) -> DagSpec:
    return DagSpec(dag_id="d", fileloc="/x.py", tasks=tuple(TaskSpec(task_id=t, upstream=up) for t, up in edges.items()))


DIAMOND_WITH_SHORTCUT = {"a": (), "b": ("a",), "c": ("a",), "d": ("b",), "e": ("d", "c", "a")}


def test_a_task_sits_one_column_right_of_its_deepest_upstream() -> None:
    assert longest_path_layers(_spec(DIAMOND_WITH_SHORTCUT)) == {"a": 0, "b": 1, "c": 1, "d": 2, "e": 3}


def test_every_edge_points_right() -> None:
    picture = layout(_spec(DIAMOND_WITH_SHORTCUT))
    x = {n.task_id: n.x for n in picture.nodes}
    assert len(picture.edges) == 6
    assert all(x[e.source] + NODE_W < x[e.target] for e in picture.edges)


def test_nodes_do_not_overlap_and_fit_the_picture() -> None:
    picture = layout(_spec({"root": (), **{f"leaf{i}": ("root",) for i in range(7)}}))
    boxes = sorted((n.x, n.y) for n in picture.nodes)
    for (x1, y1), (x2, y2) in zip(boxes, boxes[1:]):
        assert x1 != x2 or y2 - y1 >= NODE_H
    assert all(0 <= n.x and n.x + NODE_W <= picture.width and 0 <= n.y and n.y + NODE_H <= picture.height for n in picture.nodes)


def test_ordering_a_column_untangles_crossed_edges() -> None:
    # a2 feeds c1 and a1 feeds c2: the sweep puts c2 above c1, so the edges do not cross
    picture = layout(_spec({"a1": (), "a2": (), "c1": ("a2",), "c2": ("a1",)}))
    y = {n.task_id: n.y for n in picture.nodes}
    assert (y["a1"] < y["a2"]) == (y["c2"] < y["c1"])
