"""/assets: the data assets that tasks update and DAGs wait for, and their updates.

Viewers list assets and updates; operators post an update made by an outside system (audited),
which starts the DAGs waiting for that asset as a task's update would.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from pydantic.json_schema import SkipJsonSchema

from orchestrator.core.assets import URI_PATTERN
from orchestrator.store import assets as asset_store
from orchestrator.store.users import Role
from webui.api.endpoint import actor_name, endpoint
from webui.api.schemas import Conf, Input, Page, PageQuery
from webui.auth import audit
from webui.state import web_state

AssetUri = Annotated[str, StringConstraints(pattern=URI_PATTERN)]


class AssetEventPost(Input):
    uri: AssetUri = Field(description="the asset, e.g. warehouse.orders")
    extra: Conf = Field(default_factory=dict, description="anything the sender wants to say about the update")


class AssetEventQuery(PageQuery):
    uri: AssetUri | SkipJsonSchema[None] = Field(default=None, description="only the updates of this asset")


class AssetEventOut(BaseModel):
    """One update of an asset: by a task (source_*) or posted from outside (actor)."""

    model_config = ConfigDict(from_attributes=True)

    id: int = Field(description="updates are numbered in the order they were recorded")
    uri: str
    at: datetime
    source_dag_id: str | None
    source_run_id: str | None
    source_task_id: str | None
    actor: str
    extra: dict[str, Any]


class AssetProducer(BaseModel):
    dag_id: str
    task_id: str


class AssetOut(BaseModel):
    uri: str
    last_event_id: int | None
    last_updated_at: datetime | None
    updates: int = Field(description="how many updates were recorded")
    producers: list[AssetProducer] = Field(description="the tasks that list the asset in their outlets")
    consumers: list[str] = Field(description="the DAGs scheduled on the asset")


@endpoint("GET", "/assets", summary="List assets", tag="assets", role=Role.VIEWER, query=PageQuery, response=Page[AssetOut])
def list_assets(query: PageQuery) -> Page[AssetOut]:
    """Every asset an active DAG updates or waits for, or that was ever updated, by uri."""
    with web_state().read_sessions() as s:
        rows = asset_store.summaries(s)
    items = [
        AssetOut(
            uri=r.uri, last_event_id=r.last_event_id, last_updated_at=r.last_updated_at, updates=r.updates,
            producers=[AssetProducer(dag_id=d, task_id=t) for d, t in r.refs.producers], consumers=r.refs.consumers,
        )
        for r in rows[query.offset : query.offset + query.limit]
    ]
    return Page[AssetOut](items=items, total=len(rows))


@endpoint(
    "GET", "/assets/events", summary="List asset updates", tag="assets", role=Role.VIEWER, query=AssetEventQuery,
    response=Page[AssetEventOut],
)
def list_asset_events(query: AssetEventQuery) -> Page[AssetEventOut]:
    """Updates of every asset, or of `uri`, newest first."""
    with web_state().read_sessions() as s:
        rows, total = asset_store.list_events(s, uri=query.uri, limit=query.limit, offset=query.offset)
        return Page[AssetEventOut](items=[AssetEventOut.model_validate(r) for r in rows], total=total)


@endpoint(
    "POST", "/assets/events", summary="Record an asset update", tag="assets", role=Role.OPERATOR, body=AssetEventPost,
    body_required=True, response=AssetEventOut, status=201,
)
def post_asset_event(body: AssetEventPost) -> AssetEventOut:
    """Record that an outside system updated the asset; the DAGs scheduled on it run as for a task's update."""
    with web_state().sessions.begin() as s:
        row = asset_store.post_event(s, body.uri, body.extra, datetime.now(UTC), actor_name())
        audit(s, "asset.update", f"asset:{body.uri}", {"event_id": row.id})
        return AssetEventOut.model_validate(row)
