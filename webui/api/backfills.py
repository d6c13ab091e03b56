"""/dags/{dag_id}/backfills: runs for past data intervals, on request."""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import BaseModel, Field, StrictBool

from orchestrator.store.backfill import apply_backfill, plan_backfill
from orchestrator.store.permissions import DagPermission
from orchestrator.store.users import Role
from webui.api.endpoint import actor_name, endpoint
from webui.api.schemas import DagPath, Input, UtcDatetime
from webui.auth import audit
from webui.state import publishing_session


class BackfillRequest(Input):
    start: UtcDatetime = Field(description="first logical date")
    end: UtcDatetime = Field(description="last logical date")
    rerun_failed: StrictBool = Field(default=False, description="re-run the failed tasks of failed intervals")
    dry_run: StrictBool = Field(default=False, description="only say what would run")


class IntervalOut(BaseModel):
    start: datetime
    end: datetime


class BackfillOut(BaseModel):
    dry_run: bool
    created: list[IntervalOut]
    rerun: list[str] = Field(description="run ids whose failed tasks run again")
    kept: list[str] = Field(description="run ids already there, left as they are")
    run_ids: list[str] = Field(description="every run the backfill queued, oldest first")


@endpoint(
    "POST", "/dags/{dag_id}/backfills", summary="Backfill past intervals", tag="runs", role=Role.OPERATOR, dag=DagPermission.TRIGGER,
    path_model=DagPath, body=BackfillRequest, body_required=True, response=BackfillOut, status=201, conflicts=True,
)
def create_backfill(path: DagPath, body: BackfillRequest) -> BackfillOut:
    """Queue a run for every data interval whose logical date is in [start, end], oldest first (409
    when the DAG has no schedule; 400 when the range is reversed or too wide)."""
    now = datetime.now(UTC)
    with publishing_session() as s:
        plan = plan_backfill(s, path.dag_id, body.start, body.end, rerun_failed=body.rerun_failed, now=now)
        if not body.dry_run:
            apply_backfill(s, path.dag_id, plan, now=now, actor=actor_name())
            audit(s, "dag.backfill", f"dag:{path.dag_id}", {"start": body.start.isoformat(), "end": body.end.isoformat(), "runs": len(plan.run_ids)})
    return BackfillOut(
        dry_run=body.dry_run,
        created=[IntervalOut(start=i.start, end=i.end) for i in plan.create],
        rerun=plan.rerun,
        kept=plan.keep,
        run_ids=[] if body.dry_run else plan.run_ids,
    )
