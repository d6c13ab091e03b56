"""/dags/{dag_id}/versions: every version of a DAG's spec, one version, and the difference between two.

A version is made each time the DAG's spec changes (numbered 1, 2, 3... when first parsed); each
run is pinned to the version it started with.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, Field
from pydantic.json_schema import SkipJsonSchema

from orchestrator.core.versions import SpecDiff, diff_specs
from orchestrator.store import dags as dag_store
from orchestrator.store import queries
from orchestrator.store.permissions import DagPermission
from orchestrator.store.users import Role
from webui.api.endpoint import endpoint
from webui.api.schemas import MAX_OFFSET, DagPath, Input, Page, PageQuery
from webui.state import web_state

Number = Annotated[int, Field(ge=1, le=MAX_OFFSET)]
"""A version's number: 1 is the first version parsed."""


class VersionPath(DagPath):
    number: Number


class VersionDiffQuery(Input):
    """`from` and `to` are version numbers; by default the current version against the one before it."""

    from_: Number | SkipJsonSchema[None] = Field(default=None, alias="from", description="the older version (default: to - 1)")
    to: Number | SkipJsonSchema[None] = Field(default=None, description="the newer version (default: the current one)")


class DagVersionOut(BaseModel):
    number: int
    version_hash: str
    created_at: datetime = Field(description="when this version was first parsed")
    current: bool = Field(description="whether this is the DAG's current version (what new runs use)")
    version_label: str | None = Field(default=None, description="the author's version (a workflow file's `version`)")
    tasks: int = Field(description="how many tasks the version has")
    runs: int = Field(description="how many runs are pinned to this version")


class DagVersionDetail(DagVersionOut):
    spec: dict[str, Any] = Field(description="the DagSpec of the version, as it was stored")


class VersionDiffOut(SpecDiff):
    dag_id: str
    from_version: int
    to_version: int


@endpoint(
    "GET", "/dags/{dag_id}/versions", summary="List a DAG's versions", tag="dags", role=Role.VIEWER, dag=DagPermission.READ, path_model=DagPath,
    query=PageQuery, response=Page[DagVersionOut],
)
def list_versions(path: DagPath, query: PageQuery) -> Page[DagVersionOut]:
    """Newest first, each with when it was first parsed and how many runs are pinned to it."""
    with web_state().read_sessions() as s:
        rows, total = dag_store.version_summaries(s, path.dag_id, limit=query.limit, offset=query.offset)
        return Page[DagVersionOut](items=[DagVersionOut(**r) for r in rows], total=total)


@endpoint(
    "GET", "/dags/{dag_id}/versions/diff", summary="Compare two versions of a DAG", tag="dags", role=Role.VIEWER, dag=DagPermission.READ,
    path_model=DagPath, query=VersionDiffQuery, response=VersionDiffOut,
)
def diff_versions(path: DagPath, query: VersionDiffQuery) -> VersionDiffOut:
    """Tasks added, removed and changed (field by field) and the DAG-level fields that changed, from
    version `from` to version `to`."""
    with web_state().read_sessions() as s:
        older, newer = dag_store.versions_to_compare(s, path.dag_id, query.from_, query.to)
        diff = diff_specs(older.spec, newer.spec)
        return VersionDiffOut(dag_id=path.dag_id, from_version=older.version_number, to_version=newer.version_number, **diff.model_dump())


@endpoint(
    "GET", "/dags/{dag_id}/versions/{number}", summary="Get one version of a DAG", tag="dags", role=Role.VIEWER, dag=DagPermission.READ,
    path_model=VersionPath, response=DagVersionDetail,
)
def get_version(path: VersionPath) -> DagVersionDetail:
    """The version's spec as it was stored when it was first parsed."""
    with web_state().read_sessions() as s:
        dag = queries.get_dag_row(s, path.dag_id)
        row = dag_store.get_version(s, path.dag_id, path.number)
        summary = dag_store.version_summary(row, dag.version_hash, dag_store.runs_of_version(s, path.dag_id, row.version_hash))
        return DagVersionDetail(**summary, spec=row.spec)
