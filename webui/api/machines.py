"""State-machine runs: send an event to a run, read its current state and the history of its states."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.orm import Session

from orchestrator.store import access as access_store
from orchestrator.store import machines as machine_store
from orchestrator.store.permissions import DagPermission
from orchestrator.store.users import Role
from webui.api.endpoint import actor_name, endpoint
from webui.api.schemas import MachineEventAccepted, MachineEventIn, MachineOut, MachineStateOut, RunPath
from webui.auth import audit, current_identity
from webui.state import publishing_session, web_state


def _roles(session: Session) -> list[str]:
    """The roles guards see as `roles`: the user's role, those it includes, and the user's DAG roles."""
    ident = current_identity()
    return [] if ident is None else access_store.role_names(session, ident.user_id, ident.role)


@endpoint(
    "POST", "/dags/{dag_id}/runs/{run_id}/machine/events", summary="Send an event to a state-machine run", tag="runs",
    role=Role.OPERATOR, dag=DagPermission.TRIGGER, path_model=RunPath, body=MachineEventIn, body_required=True,
    response=MachineEventAccepted, status=202, conflicts=True,
)
def send_machine_event(path: RunPath, body: MachineEventIn) -> MachineEventAccepted:
    """Queue the event for the run's scheduler, which moves the run. 409 with the reason when no
    transition from the run's state accepts it (no transition on it, or no guard holds), when the
    DAG is not a state machine, or when the run ended. A payload `correlation_id` becomes the run's
    correlation id if it has none."""
    with publishing_session() as s:
        decision = machine_store.send_event(
            s, path.dag_id, path.run_id, body.event, body.payload, roles=_roles(s), actor=actor_name(), now=datetime.now(UTC),
        )
        audit(s, "run.machine_event", f"run:{path.dag_id}/{path.run_id}", {"event": body.event})
    moved = decision.moved
    return MachineEventAccepted(
        dag_id=path.dag_id, run_id=path.run_id, event=body.event, state=None if moved is None else moved.source,
        target=None if moved is None else moved.target, reason=decision.reason,
    )


@endpoint(
    "GET", "/dags/{dag_id}/runs/{run_id}/machine", summary="A state-machine run's state and history", tag="runs",
    role=Role.VIEWER, dag=DagPermission.READ, path_model=RunPath, response=MachineOut,
)
def get_machine(path: RunPath) -> MachineOut:
    """The current state, the actions awaited, the states the run went through and its run data."""
    with web_state().read_sessions() as s:
        view = machine_store.machine_view(s, path.dag_id, path.run_id)
    return MachineOut(
        dag_id=path.dag_id, run_id=path.run_id, state=view.state, finished=view.finished, awaiting=list(view.awaiting),
        sla_missed=view.sla_missed, entered_at=view.entered_at,
        history=[MachineStateOut(state=h["state"], source=h["from"], via=h["via"], guard=h["guard"], at=h["at"], actor=h["actor"],
                                 reason=h["reason"]) for h in view.history],
        data=view.data, data_changes=view.data_changes, rejected=view.rejected,
    )
