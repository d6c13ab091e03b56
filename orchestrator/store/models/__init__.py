"""SQLAlchemy models: data only, no behaviour. The schema changes only through Alembic.
Split by domain into modules that share one declarative Base (base.py); every name is re-exported here."""

from __future__ import annotations

from orchestrator.store.models.access import ApiToken, AuditLog, DagRole, DagRoleGrant, User, UserDagRole
from orchestrator.store.models.base import NAMING_CONVENTION, Base, UTCDateTime
from orchestrator.store.models.connections import ConnectionRow, VariableRow
from orchestrator.store.models.dags import Dag, DagFile, DagVersion, Definition, DefinitionVersion, ImportError_, Schedule
from orchestrator.store.models.resilience import CircuitBreaker, IdempotencyKey, Pool
from orchestrator.store.models.runs import ChangeCounter, DagRun, Event, SchedulerJob, TaskInstance, TaskTry, XCom
from orchestrator.store.models.triggers import AssetCursor, AssetEvent, ExternalEvent, ExternalEventRun
from orchestrator.store.models.waits import ApprovalDecision, ApprovalRequest, EventWait

__all__ = [
    "ApiToken",
    "ApprovalDecision",
    "ApprovalRequest",
    "AssetCursor",
    "AssetEvent",
    "AuditLog",
    "Base",
    "ChangeCounter",
    "CircuitBreaker",
    "ConnectionRow",
    "Dag",
    "DagFile",
    "DagRole",
    "DagRoleGrant",
    "DagRun",
    "DagVersion",
    "Definition",
    "DefinitionVersion",
    "Event",
    "EventWait",
    "ExternalEvent",
    "ExternalEventRun",
    "IdempotencyKey",
    "ImportError_",
    "NAMING_CONVENTION",
    "Pool",
    "Schedule",
    "SchedulerJob",
    "TaskInstance",
    "TaskTry",
    "UTCDateTime",
    "User",
    "UserDagRole",
    "VariableRow",
    "XCom",
]
