"""/definitions: workflow documents (YAML/JSON workflows as JSON) created, validated, versioned and
published through the API (orchestrator.core.definitions), and /dags/{dag_id}/stats, the analytics of
any DAG's runs.

A definition's id is the DAG id its published version runs as, so the DAG permissions apply to
it (webui/access.py): reading a definition needs read on that DAG, changing it needs edit.
Every change is audited. Publishing writes the version into the DAG folder, which this server
must share with the scheduler (its folder sync loads the version within dag_dir_scan_interval_s).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, Field, StringConstraints
from pydantic.json_schema import SkipJsonSchema

from orchestrator.core.definitions import (
    DEFINITION_ID_PATTERN,
    DefinitionStatus,
    InvalidDefinitionError,
    Problem,
    diff_documents,
    document_id,
    document_tags,
    with_id,
)
from orchestrator.core.run_stats import run_stats
from orchestrator.operations import definition_files
from orchestrator.operations.definition_check import check_document
from orchestrator.store import definitions as definition_store
from orchestrator.store import queries
from orchestrator.store import run_stats as stats_store
from orchestrator.store.models import Definition, DefinitionVersion
from orchestrator.store.permissions import DagPermission, denial
from orchestrator.store.users import Role
from webui.access import current_access
from webui.api.endpoint import actor_name, endpoint
from webui.api.schemas import MAX_OFFSET, DagPath, Input, Page, PageQuery, UtcDatetime
from webui.auth import audit
from webui.errors import ApiError
from webui.state import web_state

DefinitionId = Annotated[str, StringConstraints(pattern=DEFINITION_ID_PATTERN)]
Number = Annotated[int, Field(ge=1, le=MAX_OFFSET)]
Message = Annotated[str, StringConstraints(max_length=2000, pattern=r"^[^\x00]*$")]
MAX_DOCUMENT_DEPTH = 40


def _bounded(document: dict[str, Any]) -> dict[str, Any]:
    def depth(value: Any, level: int) -> None:
        if level > MAX_DOCUMENT_DEPTH:
            raise ValueError(f"the document is nested deeper than {MAX_DOCUMENT_DEPTH} levels")
        for child in value.values() if isinstance(value, dict) else value if isinstance(value, list) else ():
            depth(child, level + 1)

    depth(document, 1)
    return document


Document = Annotated[dict[str, Any], AfterValidator(_bounded), Field(description="the workflow, in the shape of a YAML/JSON workflow file (workflowId, steps, ...)")]


# -- inputs ------------------------------------------------------------------------------------
class DefinitionPath(Input):
    definition_id: DefinitionId


class VersionPath(DefinitionPath):
    number: Number


class DiffPath(DefinitionPath):
    a: Number = Field(description="the older version")
    b: Number = Field(description="the newer version")


class DefinitionIn(Input):
    document: Document
    message: Message | None = Field(default=None, description="what changed, kept with the version")


class ValidateIn(Input):
    document: Document
    definition_id: DefinitionId | SkipJsonSchema[None] = Field(default=None, description="check the document as a version of this definition")


class PublishIn(Input):
    version: Number | SkipJsonSchema[None] = Field(default=None, description="the draft version to publish (default: the latest)")


class RestoreIn(Input):
    message: Message | None = None


class DefinitionListQuery(PageQuery):
    status: DefinitionStatus | SkipJsonSchema[None] = Field(default=None, description="only definitions in this status")


class StatsQuery(Input):
    runs: int = Field(default=500, ge=1, le=10_000, description="the newest this many runs are counted")
    since: UtcDatetime | SkipJsonSchema[None] = Field(default=None, description="only runs queued at or after")
    slowest: int = Field(default=5, ge=0, le=100, description="how many of the slowest steps to list")


# -- answers -----------------------------------------------------------------------------------
class ProblemOut(BaseModel):
    path: str = Field(description="JSON path of the field at fault, e.g. $.steps[2].retryPolicy.delay ($: the whole document)")
    message: str


class ValidationOut(BaseModel):
    valid: bool
    problems: list[ProblemOut]


class VersionOut(BaseModel):
    number: int
    status: str = Field(description="draft, published, superseded or deprecated")
    author: str
    message: str | None
    restored_from: int | None
    created_at: datetime
    published_at: datetime | None
    published_by: str | None


class VersionDetail(VersionOut):
    definition_id: str
    document: dict[str, Any]


class DefinitionOut(BaseModel):
    id: str = Field(description="the DAG id its published version runs as")
    status: str = Field(description="draft, published or deprecated")
    latest_version: int
    published_version: int | None = Field(description="the version new runs use")
    created_by: str
    created_at: datetime
    updated_by: str
    updated_at: datetime
    deprecated_at: datetime | None


class DefinitionDetail(DefinitionOut):
    version: VersionDetail = Field(description="the version the request made or acted on; for GET, the latest")
    problems: list[ProblemOut] = Field(default_factory=list, description="after a create or update: what must be fixed before publishing")


class ChangeOut(BaseModel):
    path: str
    old: Any = None
    new: Any = None


class DiffOut(BaseModel):
    definition_id: str
    from_version: int
    to_version: int
    changes: list[ChangeOut] = Field(description="every value that differs, by JSON path")


class DurationsOut(BaseModel):
    count: int
    p50: float | None
    p95: float | None
    mean: float | None
    max: float | None


class StepStatsOut(BaseModel):
    task_id: str
    tries: int
    failed_tries: int
    durations: DurationsOut


class VersionStatsOut(BaseModel):
    version: int | None = Field(description="a definition's version number (for /dags/{dag_id}/stats: the DAG version's number)")
    runs: int
    finished: int
    succeeded: int
    success_rate: float | None


class StatsOut(BaseModel):
    dag_id: str
    runs: int
    by_state: dict[str, int]
    finished: int
    succeeded: int
    success_rate: float | None = Field(description="succeeded / finished; null before any run finished")
    durations: DurationsOut = Field(description="seconds, of the finished runs")
    slowest_steps: list[StepStatsOut] = Field(description="the bottlenecks: steps by their p95 try duration, longest first")
    versions: list[VersionStatsOut] = Field(description="the runs by the version they are pinned to, newest first")


# -- helpers -----------------------------------------------------------------------------------
def _now() -> datetime:
    return datetime.now(UTC)


def _require(definition_id: str, needed: DagPermission, tags: Iterable[str]) -> None:
    """403 unless the caller may do `needed` to the DAG the definition runs as (its document's tags count)."""
    access = current_access()
    if not access.allows(definition_id, tuple(tags), needed):
        raise ApiError(403, "forbidden", denial(definition_id, needed, access))


def _require_existing(definition_id: str, needed: DagPermission) -> None:
    tags: tuple[str, ...] = ()
    if current_access().restricted:
        with web_state().read_sessions() as s:
            tags = definition_store.latest_tags(s, definition_id)
    _require(definition_id, needed, tags)


def _reads(path: DefinitionPath) -> None:
    _require_existing(path.definition_id, DagPermission.READ)


def _edits(path: DefinitionPath) -> None:
    _require_existing(path.definition_id, DagPermission.EDIT)


def _problems(problems: list[Problem]) -> list[ProblemOut]:
    return [ProblemOut(path=p.path, message=p.message) for p in problems]


def _invalid(exc: InvalidDefinitionError) -> ApiError:
    return ApiError(422, "invalid_definition", str(exc), [p.as_dict() for p in exc.problems])


def _version_out(row: DefinitionVersion) -> VersionOut:
    return VersionOut.model_validate(row, from_attributes=True)


def _detail(definition: Definition, version: DefinitionVersion, problems: list[Problem] | None = None) -> DefinitionDetail:
    base = DefinitionOut.model_validate(definition, from_attributes=True).model_dump()
    shown = VersionDetail(**_version_out(version).model_dump(), definition_id=definition.id, document=version.document)
    return DefinitionDetail(**base, version=shown, problems=_problems(problems or []))


def _named(document: dict[str, Any], definition_id: str | None) -> tuple[str, dict[str, Any]]:
    try:
        return definition_files.named(document, definition_id)
    except InvalidDefinitionError as exc:
        raise _invalid(exc) from None


def _check(document: Any) -> list[Problem]:
    config = web_state().config
    return check_document(document, config.resolved_dags_folder, config.dag_file_timeout_s)


# -- operations --------------------------------------------------------------------------------
@endpoint(
    "POST", "/definitions", summary="Create a definition", tag="definitions", role=Role.OPERATOR, dag=DagPermission.EDIT,
    body=DefinitionIn, body_required=True, response=DefinitionDetail, status=201, conflicts=True,
)
def create_definition(body: DefinitionIn) -> DefinitionDetail:
    """Store the document as draft version 1 of a new definition whose id is its workflowId. A draft
    may still have problems (listed in `problems`); only a document without any can be published.
    409 when the id is taken by a definition or a DAG file; 422 when the document names no valid id."""
    definition_id, document = _named(body.document, None)
    _require(definition_id, DagPermission.EDIT, document_tags(document))
    problems = _check(document)
    with web_state().sessions.begin() as s:
        saved = definition_files.create(s, web_state().config, document, actor=actor_name(), now=_now(), message=body.message)
        audit(s, "definition.create", f"definition:{definition_id}", {"version": 1, "problems": len(problems)})
        return _detail(saved.definition, saved.version, problems)


@endpoint(
    "GET", "/definitions", summary="List definitions", tag="definitions", role=Role.VIEWER, query=DefinitionListQuery,
    response=Page[DefinitionOut],
)
def list_definitions(query: DefinitionListQuery) -> Page[DefinitionOut]:
    """Definitions by id, optionally of one status; for a user in DAG roles, those whose DAG id they may read."""
    access = current_access()
    with web_state().read_sessions() as s:
        if not access.restricted:
            rows, total = definition_store.page(s, status=query.status.value if query.status else None, limit=query.limit, offset=query.offset)
        else:
            every, _ = definition_store.page(s, status=query.status.value if query.status else None, limit=MAX_OFFSET, offset=0)
            readable = [d for d in every if access.allows(d.id, definition_store.latest_tags(s, d.id), DagPermission.READ)]
            rows, total = readable[query.offset : query.offset + query.limit], len(readable)
        return Page[DefinitionOut](items=[DefinitionOut.model_validate(r, from_attributes=True) for r in rows], total=total)


@endpoint(
    "POST", "/definitions:validate", summary="Validate a document", tag="definitions", role=Role.OPERATOR, body=ValidateIn,
    body_required=True, response=ValidationOut,
)
def validate_definition(body: ValidateIn) -> ValidationOut:
    """Every problem of the document, each with the JSON path of the field at fault (such as
    `$.steps[2].retryPolicy.delay`), checked as the scheduler would load it. Nothing is stored."""
    named, problems = document_id(body.document, body.definition_id)
    if named is not None and not problems:
        problems = _check(with_id(body.document, named))
    return ValidationOut(valid=not problems, problems=_problems(problems))


@endpoint(
    "GET", "/definitions/{definition_id}", summary="Get a definition", tag="definitions", role=Role.VIEWER, dag=DagPermission.READ,
    path_model=DefinitionPath, response=DefinitionDetail, authorize=_reads,
)
def get_definition(path: DefinitionPath) -> DefinitionDetail:
    """The definition with its latest version's document."""
    with web_state().read_sessions() as s:
        definition = definition_store.get(s, path.definition_id)
        return _detail(definition, definition_store.get_version(s, definition.id, definition.latest_version))


@endpoint(
    "PATCH", "/definitions/{definition_id}", summary="Update a definition", tag="definitions", role=Role.OPERATOR, dag=DagPermission.EDIT,
    path_model=DefinitionPath, body=DefinitionIn, body_required=True, response=DefinitionDetail, authorize=_edits,
)
def update_definition(path: DefinitionPath, body: DefinitionIn) -> DefinitionDetail:
    """Add the document as a new draft version (the published version runs on until this one is
    published). The document's workflowId, if given, must be the definition's id."""
    _, document = _named(body.document, path.definition_id)
    problems = _check(document)
    with web_state().sessions.begin() as s:
        saved = definition_store.add_version(s, path.definition_id, document, actor=actor_name(), now=_now(), message=body.message)
        audit(s, "definition.update", f"definition:{path.definition_id}", {"version": saved.version.number, "problems": len(problems)})
        return _detail(saved.definition, saved.version, problems)


@endpoint(
    "POST", "/definitions/{definition_id}:publish", summary="Publish a version", tag="definitions", role=Role.OPERATOR,
    dag=DagPermission.EDIT, path_model=DefinitionPath, body=PublishIn, response=DefinitionDetail, conflicts=True, authorize=_edits,
)
def publish_definition(path: DefinitionPath, body: PublishIn) -> DefinitionDetail:
    """Publish a draft version (default: the latest): new runs use it from the scheduler's next scan
    of the DAG folder; runs of the version published before keep theirs. 422 lists every problem
    of the document; 409 when the version is not a draft."""
    state = web_state()
    try:
        saved = definition_files.publish(
            state.read_sessions, state.sessions, state.config, path.definition_id, body.version, actor=actor_name(), now=_now(),
            audit=lambda s, saved: audit(s, "definition.publish", f"definition:{path.definition_id}", {"version": saved.version.number}),
        )
    except InvalidDefinitionError as exc:
        raise _invalid(exc) from None
    return _detail(saved.definition, saved.version)


@endpoint(
    "POST", "/definitions/{definition_id}:deprecate", summary="Deprecate a definition", tag="definitions", role=Role.OPERATOR,
    dag=DagPermission.EDIT, path_model=DefinitionPath, response=DefinitionDetail, conflicts=True, authorize=_edits,
)
def deprecate_definition(path: DefinitionPath) -> DefinitionDetail:
    """No new runs of the definition (triggers are refused, saying why); runs already going finish.
    Publishing a draft version makes it runnable again. 409 unless it is published."""
    with web_state().sessions.begin() as s:
        saved = definition_files.deprecate(s, web_state().config, path.definition_id, actor=actor_name(), now=_now())
        audit(s, "definition.deprecate", f"definition:{path.definition_id}", {"version": saved.version.number})
        return _detail(saved.definition, saved.version)


@endpoint(
    "GET", "/definitions/{definition_id}/versions", summary="List a definition's versions", tag="definitions", role=Role.VIEWER,
    dag=DagPermission.READ, path_model=DefinitionPath, query=PageQuery, response=Page[VersionOut], authorize=_reads,
)
def list_definition_versions(path: DefinitionPath, query: PageQuery) -> Page[VersionOut]:
    """Newest first, each with its status, author and when it was published."""
    with web_state().read_sessions() as s:
        rows, total = definition_store.versions_page(s, path.definition_id, limit=query.limit, offset=query.offset)
        return Page[VersionOut](items=[_version_out(r) for r in rows], total=total)


@endpoint(
    "GET", "/definitions/{definition_id}/versions/{number}", summary="Get one version of a definition", tag="definitions",
    role=Role.VIEWER, dag=DagPermission.READ, path_model=VersionPath, response=VersionDetail, authorize=_reads,
)
def get_definition_version(path: VersionPath) -> VersionDetail:
    with web_state().read_sessions() as s:
        row = definition_store.get_version(s, path.definition_id, path.number)
        return VersionDetail(**_version_out(row).model_dump(), definition_id=row.definition_id, document=row.document)


@endpoint(
    "GET", "/definitions/{definition_id}/versions/{a}/diff/{b}", summary="Compare two versions of a definition", tag="definitions",
    role=Role.VIEWER, dag=DagPermission.READ, path_model=DiffPath, response=DiffOut, authorize=_reads,
)
def diff_definition_versions(path: DiffPath) -> DiffOut:
    """Every value of the document that differs from version `a` to version `b`, by JSON path."""
    with web_state().read_sessions() as s:
        old = definition_store.get_version(s, path.definition_id, path.a)
        new = definition_store.get_version(s, path.definition_id, path.b)
        changes = diff_documents(old.document, new.document)
    return DiffOut(definition_id=path.definition_id, from_version=path.a, to_version=path.b, changes=[ChangeOut(**c.as_dict()) for c in changes])


@endpoint(
    "POST", "/definitions/{definition_id}/versions/{number}:restore", summary="Restore an old version as a new draft",
    tag="definitions", role=Role.OPERATOR, dag=DagPermission.EDIT, path_model=VersionPath, body=RestoreIn, response=DefinitionDetail,
    status=201, authorize=_edits,
)
def restore_definition_version(path: VersionPath, body: RestoreIn) -> DefinitionDetail:
    """A new draft version with the document of version `number`; publish it to run it again."""
    with web_state().sessions.begin() as s:
        saved = definition_files.restore(s, path.definition_id, path.number, actor=actor_name(), now=_now(), message=body.message)
        audit(s, "definition.restore", f"definition:{path.definition_id}", {"version": saved.version.number, "restored_from": path.number})
        return _detail(saved.definition, saved.version)


def _stats(dag_id: str, query: StatsQuery, *, by_definition_version: bool) -> StatsOut:
    with web_state().read_sessions() as s:
        runs, tries = stats_store.samples(s, dag_id, newest=query.runs, since=query.since, by_definition_version=by_definition_version)
    figures = run_stats(runs, tries, slowest=query.slowest)
    return StatsOut.model_validate({"dag_id": dag_id, **asdict(figures)})


@endpoint(
    "GET", "/definitions/{definition_id}/stats", summary="A definition's run analytics", tag="definitions", role=Role.VIEWER,
    dag=DagPermission.READ, path_model=DefinitionPath, query=StatsQuery, response=StatsOut, authorize=_reads,
)
def definition_stats(path: DefinitionPath, query: StatsQuery) -> StatsOut:
    """Runs, success rate, p50/p95 run duration and the slowest steps, of every version and by version."""
    with web_state().read_sessions() as s:
        definition_store.get(s, path.definition_id)
    return _stats(path.definition_id, query, by_definition_version=True)


@endpoint(
    "GET", "/dags/{dag_id}/stats", summary="A DAG's run analytics", tag="dags", role=Role.VIEWER, dag=DagPermission.READ,
    path_model=DagPath, query=StatsQuery, response=StatsOut,
)
def dag_stats(path: DagPath, query: StatsQuery) -> StatsOut:
    """Runs, success rate, p50/p95 run duration and the slowest steps (the bottlenecks) of the DAG's newest runs."""
    with web_state().read_sessions() as s:
        queries.get_dag_row(s, path.dag_id)
    return _stats(path.dag_id, query, by_definition_version=False)
