"""The DAG picture's layout (fast, pure): columns by longest path, left to right, no overlaps."""

from __future__ import annotations

from orchestrator.core.spec import DagSpec, TaskSpec
from webui.ui.graph import CHAR_W, NODE_H, NODE_TEXT_ROOM, NODE_W_MAX, layout, longest_path_layers


def _spec(edges: dict[str, tuple[str, ...]]) -> DagSpec:
    return DagSpec(dag_id="d", fileloc="/x.py", tasks=tuple(TaskSpec(task_id=t, upstream=up) for t, up in edges.items()))


DIAMOND_WITH_SHORTCUT = {"a": (), "b": ("a",), "c": ("a",), "d": ("b",), "e": ("d", "c", "a")}


def test_a_task_sits_one_column_right_of_its_deepest_upstream() -> None:
    assert longest_path_layers(_spec(DIAMOND_WITH_SHORTCUT)) == {"a": 0, "b": 1, "c": 1, "d": 2, "e": 3}


def test_every_edge_points_right() -> None:
    picture = layout(_spec(DIAMOND_WITH_SHORTCUT))
    x = {n.task_id: n.x for n in picture.nodes}
    assert len(picture.edges) == 6
    assert all(x[e.source] + picture.node_w < x[e.target] for e in picture.edges)


def test_nodes_do_not_overlap_and_fit_the_picture() -> None:
    picture = layout(_spec({"root": (), **{f"leaf{i}": ("root",) for i in range(7)}}))
    boxes = sorted((n.x, n.y) for n in picture.nodes)
    for (x1, y1), (x2, y2) in zip(boxes, boxes[1:]):
        assert x1 != x2 or y2 - y1 >= NODE_H
    assert all(0 <= n.x and n.x + picture.node_w <= picture.width and 0 <= n.y and n.y + NODE_H <= picture.height for n in picture.nodes)


def test_ordering_a_column_untangles_crossed_edges() -> None:
    # a2 feeds c1 and a1 feeds c2: the sweep puts c2 above c1, so the edges do not cross
    picture = layout(_spec({"a1": (), "a2": (), "c1": ("a2",), "c2": ("a1",)}))
    y = {n.task_id: n.y for n in picture.nodes}
    assert (y["a1"] < y["a2"]) == (y["c2"] < y["c1"])


# -- task groups and mapped tasks ------------------------------------------------------------------
def _grouped() -> DagSpec:
    from orchestrator import DAG, PythonTask, TaskGroup

    with DAG("g") as dag:
        start = PythonTask(task_id="start", python_callable=print)
        with TaskGroup("extract") as extract:
            fetch = PythonTask(task_id="fetch", python_callable=print)
            with TaskGroup("parse"):
                fetch >> PythonTask(task_id="rows", python_callable=print)
        loose = PythonTask(task_id="loose", python_callable=print)
        start >> [extract, loose]
        [extract, loose] >> PythonTask(task_id="load", python_callable=print)
    return dag.to_spec()


def test_a_collapsed_group_is_one_node_with_the_edges_of_its_tasks() -> None:
    picture = layout(_grouped(), collapsed={"extract"})
    assert {(n.task_id, n.kind) for n in picture.nodes} == {("start", "task"), ("extract", "group"), ("loose", "task"), ("load", "task")}
    assert {(e.source, e.target) for e in picture.edges} == {("start", "extract"), ("start", "loose"), ("extract", "load"), ("loose", "load")}
    assert picture.groups == []


def test_a_collapsed_inner_group_leaves_its_parent_drawn_as_a_box() -> None:
    picture = layout(_grouped(), collapsed={"extract.parse"})
    assert [n.task_id for n in picture.nodes if n.kind == "group"] == ["extract.parse"]
    assert [b.group_id for b in picture.groups] == ["extract"]


def test_an_expanded_group_is_a_box_around_its_tasks_and_its_inner_groups() -> None:
    picture = layout(_grouped())
    nodes = {n.task_id: n for n in picture.nodes}
    boxes = {b.group_id: b for b in picture.groups}

    def inside(n: object, b: object) -> bool:
        return b.x < n.x and n.x + picture.node_w < b.x + b.width and b.y < n.y and n.y + NODE_H < b.y + b.height  # type: ignore[attr-defined]

    assert inside(nodes["extract.fetch"], boxes["extract"]) and inside(nodes["extract.parse.rows"], boxes["extract.parse"])
    outer, inner = boxes["extract"], boxes["extract.parse"]
    assert outer.x < inner.x and inner.x + inner.width < outer.x + outer.width and outer.y < inner.y
    assert not inside(nodes["loose"], boxes["extract"])


def _group_spanning_a_column_with_an_outsider() -> DagSpec:
    # extract spans two columns; square shares the second column without being in it
    from orchestrator import DAG, PythonTask, TaskGroup

    with DAG("g") as dag:
        with TaskGroup("extract"):
            numbers = PythonTask(task_id="numbers", python_callable=print)
            with TaskGroup("check"):
                numbers >> PythonTask(task_id="total", python_callable=print)
        numbers >> PythonTask(task_id="square", python_callable=print) >> PythonTask(task_id="total", python_callable=print)
    return dag.to_spec()


def test_no_box_covers_a_node_outside_its_group() -> None:
    for spec in (_grouped(), _group_spanning_a_column_with_an_outsider()):
        picture = layout(spec)
        for box in picture.groups:
            for n in picture.nodes:
                overlaps = n.x < box.x + box.width and box.x < n.x + picture.node_w and n.y < box.y + box.height and box.y < n.y + NODE_H
                assert overlaps == n.task_id.startswith(box.group_id + "."), (box.group_id, n.task_id)


def test_a_task_in_a_group_is_labelled_by_its_own_part_of_the_id() -> None:
    labels = {n.task_id: n.label for n in layout(_grouped()).nodes}
    assert (labels["extract.fetch"], labels["extract.parse.rows"], labels["start"]) == ("fetch", "rows", "start")


def test_the_members_of_a_group_stay_together_in_a_column() -> None:
    # b and c are in a group, a and d are not: whatever the sweeps do, b and c are neighbours
    from orchestrator import DAG, PythonTask, TaskGroup

    with DAG("g") as dag:
        root = PythonTask(task_id="root", python_callable=print)
        a = PythonTask(task_id="a", python_callable=print)
        with TaskGroup("grp"):
            b = PythonTask(task_id="b", python_callable=print)
            c = PythonTask(task_id="c", python_callable=print)
        d = PythonTask(task_id="d", python_callable=print)
        root >> [a, b, d, c]
    column = sorted((n for n in layout(dag.to_spec()).nodes if n.layer == 1), key=lambda n: n.y)
    ids = [n.task_id for n in column]
    assert abs(ids.index("grp.b") - ids.index("grp.c")) == 1


def test_a_mapped_task_is_marked_as_one_node() -> None:
    spec = DagSpec(
        dag_id="d", fileloc="/x.py",
        tasks=(TaskSpec(task_id="items"), TaskSpec(task_id="each", upstream=("items",), mapped=({"arg": "x", "task_id": "items"},))),  # type: ignore[arg-type]
    )
    assert {n.task_id: n.mapped for n in layout(spec).nodes} == {"items": False, "each": True}


def test_nodes_widen_so_that_a_long_name_shows_whole() -> None:
    name = "load_the_orders_into_the_warehouse_table"
    picture = layout(_spec({"a": (), name: ("a",)}))
    labels = {n.task_id: n.label for n in picture.nodes}
    assert labels[name] == name
    assert picture.node_w >= NODE_TEXT_ROOM + CHAR_W * len(name)


def test_a_name_longer_than_the_widest_node_is_cut_with_an_ellipsis() -> None:
    name = "x" * 120
    picture = layout(_spec({name: ()}))
    (node,) = picture.nodes
    assert picture.node_w == NODE_W_MAX and node.label.endswith("…") and len(node.label) < len(name)


def test_an_edge_with_a_declarative_condition_carries_it_as_a_label_before_its_target() -> None:
    tasks = (
        TaskSpec(task_id="check", next_conditions={"big": "result.total > 100"}),
        TaskSpec(task_id="big", upstream=("check",)),
        TaskSpec(task_id="always", upstream=("check",)),
    )
    picture = layout(DagSpec(dag_id="d", fileloc="/x.py", tasks=tasks))
    labels = {e.target: e.label for e in picture.edges}
    assert labels == {"big": "result.total > 100", "always": None}
    nodes = {n.task_id: n for n in picture.nodes}
    edge = next(e for e in picture.edges if e.target == "big")
    assert nodes["check"].x + picture.node_w < edge.label_x < nodes["big"].x
    # the two edges out of `check` are labelled at the height of their own targets
    assert edge.label_y < nodes["big"].y + NODE_H / 2
