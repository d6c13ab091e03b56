"""/dags: list, read, pause and unpause DAGs."""

from __future__ import annotations

from datetime import UTC, datetime

from orchestrator.store import dags as dag_store
from orchestrator.store import queries
from orchestrator.store.permissions import DagPermission
from orchestrator.store.users import Role
from webui.access import readable_dag_ids
from webui.api.convert import dag_detail, dag_summary
from webui.api.endpoint import actor_name, endpoint
from webui.api.schemas import DagDetail, DagListQuery, DagPatch, DagPath, DagSummary, Page
from webui.auth import audit
from webui.state import publishing_session, web_state


@endpoint("GET", "/dags", summary="List DAGs", tag="dags", role=Role.VIEWER, query=DagListQuery, response=Page[DagSummary])
def list_dags(query: DagListQuery) -> Page[DagSummary]:
    """Active DAGs by dag_id, filtered by tag (any of), paused and a dag_id search; only those the caller may read."""
    with web_state().read_sessions() as s:
        rows, total = queries.dag_page(
            s, tags=query.tag, paused=query.paused, search=query.search, limit=query.limit, offset=query.offset,
            among=readable_dag_ids(s),
        )
        return Page[DagSummary](items=[dag_summary(r) for r in rows], total=total)


@endpoint("GET", "/dags/{dag_id}", summary="Get a DAG", tag="dags", role=Role.VIEWER, dag=DagPermission.READ, path_model=DagPath, response=DagDetail)
def get_dag(path: DagPath) -> DagDetail:
    """The DAG with its spec (tasks, dependencies, schedule), next run and version."""
    with web_state().read_sessions() as s:
        return dag_detail(queries.get_dag(s, path.dag_id))


@endpoint(
    "PATCH", "/dags/{dag_id}", summary="Pause or unpause a DAG", tag="dags", role=Role.OPERATOR, dag=DagPermission.EDIT, path_model=DagPath,
    body=DagPatch, body_required=True, response=DagDetail,
)
def patch_dag(path: DagPath, body: DagPatch) -> DagDetail:
    """A paused DAG gets no new scheduled runs; runs already going go on."""
    with publishing_session() as s:
        queries.get_dag(s, path.dag_id)
        before = dag_store.set_paused(s, path.dag_id, body.is_paused, datetime.now(UTC), actor=actor_name())
        audit(s, "dag.pause" if body.is_paused else "dag.unpause", f"dag:{path.dag_id}", {"was_paused": before})
        s.flush()
        return dag_detail(queries.get_dag(s, path.dag_id))
