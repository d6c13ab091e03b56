"""The DAGs list and the DAG page (grid, graph, source, run durations), with their live JSON."""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import asdict
from pathlib import Path
from typing import Any

from flask import jsonify, render_template, request

from orchestrator.core.errors import NotFoundError
from orchestrator.core.spec import DagSpec
from orchestrator.core.states import RUN_ACTIVE
from orchestrator.core.versions import diff_specs
from orchestrator.store import dags as dag_store
from orchestrator.store import queries
from orchestrator.store.users import Role
from webui.access import readable_dag_ids
from webui.auth import requires
from webui.state import web_state
from webui.ui import ui_blueprint
from webui.ui.graph import NODE_H, layout
from webui.ui.machine_graph import machine_layout
from webui.ui.present import run_dict

PAGE_SIZE = 100
SQUARES = 12
GRID_SIZES = (25, 50, 100)
"""How many runs the grid shows (the newest; it scrolls sideways, newest at the right)."""
SOURCE_MAX_BYTES = 512 * 1024
VERSIONS_SHOWN = 50
_ACTIVE = {s.value for s in RUN_ACTIVE}


def recent_runs(s: Any, dag_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
    """dag_id -> its newest runs, oldest first (the list draws them left to right; the last one
    is the DAG's last run), each as `run_dict` with `with_failures` set."""
    runs_by_dag = queries.latest_runs_per_dag(s, dag_ids, SQUARES)
    failed = queries.runs_with_failed_tasks(s, [(d, r.run_id) for d, rows in runs_by_dag.items() for r in rows])
    return {
        dag_id: [run_dict(r, with_failures=(dag_id, r.run_id) in failed) for r in reversed(rows)]
        for dag_id, rows in runs_by_dag.items()
    }


@ui_blueprint.get("/")
@ui_blueprint.get("/dags")
@requires(Role.VIEWER)
def dags() -> Any:
    search = request.args.get("q", "").strip()
    tag = request.args.get("tag", "").strip()
    status = request.args.get("status", "all")
    page = max(request.args.get("page", 1, type=int) or 1, 1)
    with web_state().read_sessions() as s:
        readable = readable_dag_ids(s)  # per-DAG permissions: only the DAGs the user may read
        rows = [r for r in queries.dag_overview(s) if readable is None or r.dag_id in readable]
        all_tags = sorted({t for r in rows for t in (r.tags or [])})
        needle = search.lower()
        picked = [
            r for r in rows
            if (not needle or needle in r.dag_id.lower() or needle in (r.description or "").lower())
            and (not tag or tag in (r.tags or []))
            and (status == "all" or (status == "paused") == bool(r.is_paused))
        ]
        pages = max(math.ceil(len(picked) / PAGE_SIZE), 1)
        page = min(page, pages)
        shown = picked[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
        recent = recent_runs(s, [r.dag_id for r in shown])
        import_errors = queries.count_import_errors(s)
    return render_template(
        "dags.html", rows=shown, recent=recent, all_tags=all_tags, search=search, tag=tag, status=status,
        page=page, pages=pages, total=len(picked), import_errors=import_errors,
    )


@ui_blueprint.get("/data/dag-runs")
@requires(Role.VIEWER)
def dag_runs_data() -> Any:
    """The last runs of the DAGs in ?ids= (comma-separated): the list's live part."""
    ids = [i for i in request.args.get("ids", "").split(",") if i][:PAGE_SIZE]
    with web_state().read_sessions() as s:
        readable = readable_dag_ids(s)
        ids = [i for i in ids if readable is None or i in readable]
        return jsonify({"recent": recent_runs(s, ids)})


def grid_data(s: Any, spec: DagSpec, limit: int) -> dict[str, Any]:
    """Runs (oldest first) × tasks with each cell's state and try (and a mapped task's instances
    by state): the grid, graph and chart all draw from it."""
    runs = list(reversed(queries.grid_runs(s, spec.dag_id, limit)))
    cells = queries.grid_cells(s, spec.dag_id, [r.run_id for r in runs])
    counts: dict[tuple[str, str], dict[str, int]] = {}
    for run_id, task_id, state, n in queries.mapped_state_counts(s, spec.dag_id, [r.run_id for r in runs]):
        counts.setdefault((run_id, task_id), {})[state] = n
    tasks = [t.task_id for t in spec.tasks]
    known = set(tasks)
    # tasks of older versions of the DAG still show, below the current ones
    tasks += sorted({c.task_id for c in cells} - known)
    index = {t: i for i, t in enumerate(tasks)}
    by_run: dict[str, list[Any]] = {r.run_id: [None] * len(tasks) for r in runs}
    for c in cells:
        by_run[c.run_id][index[c.task_id]] = [c.state, c.try_number, counts.get((c.run_id, c.task_id))]
    failed = queries.runs_with_failed_tasks(s, [(spec.dag_id, r.run_id) for r in runs])
    return {
        "dag_id": spec.dag_id,
        "tasks": tasks,
        "runs": [run_dict(r, with_failures=(spec.dag_id, r.run_id) in failed) for r in runs],
        "cells": [by_run[r.run_id] for r in runs],
        "active": any(r.state in _ACTIVE for r in runs),
        # for the graph: a collapsed group takes its colour from these
        "groups": {t.task_id: t.task_group for t in spec.tasks if t.task_group},
    }


def graph_data(spec: DagSpec, collapsed: Collection[str]) -> dict[str, Any]:
    """The graph's layout as JSON, with the `collapsed` task groups drawn as one node each."""
    # a state machine is drawn as its states and transitions (guards on the edges), not its actions
    picture = machine_layout(spec.machine) if spec.machine is not None else layout(spec, collapsed)
    return {**asdict(picture), "node_h": NODE_H, "collapsed": sorted(set(collapsed))}


def _grid_size() -> int:
    size = request.args.get("runs", GRID_SIZES[0], type=int)
    return size if size in GRID_SIZES else GRID_SIZES[0]


def dag_source(fileloc: str) -> tuple[str | None, str]:
    """The DAG file's text (read, never imported) if it is a readable file within the DAG folder."""
    folder = Path(web_state().config.resolved_dags_folder).resolve()
    try:
        path = Path(fileloc).resolve()
        if not path.is_relative_to(folder):
            return None, f"{fileloc} is outside the DAG folder {folder}"
        if not path.is_file():
            return None, f"{fileloc} is not on this machine's DAG folder"
        if path.stat().st_size > SOURCE_MAX_BYTES:
            return None, f"{fileloc} is larger than {SOURCE_MAX_BYTES // 1024} KiB"
        return path.read_text(encoding="utf-8", errors="replace"), ""
    except OSError as exc:
        return None, f"{fileloc} cannot be read: {exc.strerror or exc}"


def versions_data(s: Any, dag_id: str) -> dict[str, Any]:
    """The Versions tab: the newest versions, and the difference between ?from= and ?to= (by
    default the current version and the one before it)."""
    versions, total = dag_store.version_summaries(s, dag_id, limit=VERSIONS_SHOWN, offset=0)
    note = None
    try:
        older, newer = dag_store.versions_to_compare(s, dag_id, _version_arg("from"), _version_arg("to"))
    except NotFoundError as exc:  # a stale link: show the default comparison and say why
        note = str(exc)
        older, newer = dag_store.versions_to_compare(s, dag_id, None, None)
    return {
        "versions": versions, "total": total, "from": older.version_number, "to": newer.version_number,
        "diff": diff_specs(older.spec, newer.spec), "note": note,
    }


def _version_arg(name: str) -> int | None:
    value = request.args.get(name, type=int)
    return value if value is not None and value >= 1 else None


@ui_blueprint.get("/dags/<dag_id>")
@requires(Role.VIEWER)
def dag(dag_id: str) -> Any:
    size = _grid_size()
    with web_state().read_sessions() as s:
        row = queries.get_dag(s, dag_id)
        spec = DagSpec.model_validate(row.spec)
        grid = grid_data(s, spec, size)
        versions = versions_data(s, dag_id)
    source, source_note = dag_source(spec.fileloc)
    return render_template(
        "dag.html", dag=row, spec=spec, grid=grid, graph=graph_data(spec, ()),
        sizes=GRID_SIZES, size=size, source=source, source_note=source_note,
        next_run_at=row.next_run_at, selected=request.args.get("run_id", ""), versions=versions,
    )


@ui_blueprint.get("/data/dags/<dag_id>/graph")
@requires(Role.VIEWER)
def graph_json(dag_id: str) -> Any:
    """The layout with the task groups in ?collapsed= (comma-separated) folded into one node each."""
    collapsed = [g for g in request.args.get("collapsed", "").split(",") if g]
    with web_state().read_sessions() as s:
        spec = DagSpec.model_validate(queries.get_dag(s, dag_id).spec)
    return jsonify(graph_data(spec, collapsed))


@ui_blueprint.get("/data/dags/<dag_id>/grid")
@requires(Role.VIEWER)
def grid_json(dag_id: str) -> Any:
    with web_state().read_sessions() as s:
        row = queries.get_dag(s, dag_id)
        return jsonify(grid_data(s, DagSpec.model_validate(row.spec), _grid_size()))
