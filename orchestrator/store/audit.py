"""The audit log: who did what to which target, when and from where. Append-only."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from orchestrator.store.models import AuditLog


def record(
    session: Session,
    *,
    actor: str,
    action: str,
    target: str | None,
    at: datetime,
    source_ip: str | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    """Append one entry in the caller's transaction, so it commits with the action itself."""
    session.add(AuditLog(at=at, actor=actor, action=action, target=target, source_ip=source_ip, details=details))
