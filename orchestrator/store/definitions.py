"""The definition and definition_version tables: the only writes to them.

orchestrator.core.definitions decides what a lifecycle step changes; this module applies it. Every
change adds a version or moves a status; the caller audits it in the same transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from orchestrator.core.definitions import Change, DefinitionStatus, VersionStatus, document_tags, trigger_refusal, version_of_file
from orchestrator.core.errors import ConflictError, NotFoundError
from orchestrator.store.models import Dag, Definition, DefinitionVersion


@dataclass(frozen=True)
class Saved:
    """A definition and one of its versions, as a change left them."""

    definition: Definition
    version: DefinitionVersion


def get(session: Session, definition_id: str, *, for_update: bool = False) -> Definition:
    stmt = select(Definition).where(Definition.id == definition_id)
    row = session.scalar(stmt.with_for_update() if for_update else stmt)
    if row is None:
        raise NotFoundError(f"no definition with id {definition_id!r}: `orchestrator definitions list` shows them")
    return row


def get_version(session: Session, definition_id: str, number: int) -> DefinitionVersion:
    row = session.get(DefinitionVersion, (definition_id, number))
    if row is None:
        get(session, definition_id)
        raise NotFoundError(f"definition {definition_id!r} has no version {number}")
    return row


def latest_tags(session: Session, definition_id: str) -> tuple[str, ...]:
    """The tags of the definition's latest version (none for an unknown definition)."""
    definition = session.get(Definition, definition_id)
    version = session.get(DefinitionVersion, (definition_id, definition.latest_version)) if definition is not None else None
    return document_tags(version.document) if version is not None else ()


def page(session: Session, *, status: str | None, limit: int, offset: int) -> tuple[list[Definition], int]:
    """Definitions by id, optionally of one status."""
    stmt = select(Definition)
    if status is not None:
        stmt = stmt.where(Definition.status == status)
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    return list(session.scalars(stmt.order_by(Definition.id).limit(limit).offset(offset))), total


def versions_page(session: Session, definition_id: str, *, limit: int, offset: int) -> tuple[list[DefinitionVersion], int]:
    """A definition's versions, newest first."""
    definition = get(session, definition_id)
    rows = session.scalars(
        select(DefinitionVersion).where(DefinitionVersion.definition_id == definition_id)
        .order_by(DefinitionVersion.number.desc()).limit(limit).offset(offset)
    )
    return list(rows), definition.latest_version


def check_dag_id_free(session: Session, definition_id: str, folder_prefix: str) -> None:
    """409 when a DAG file outside the definition's own folder defines this DAG id already."""
    row = session.get(Dag, definition_id)
    if row is not None and row.is_active and not row.fileloc.startswith(folder_prefix):
        raise ConflictError(
            f"DAG {definition_id!r} is defined by the DAG file {row.fileloc}: a definition cannot take its id; choose another workflowId"
        )


def create(session: Session, definition_id: str, document: dict[str, Any], *, actor: str, now: datetime, message: str | None) -> Saved:
    """A new definition with `document` as its draft version 1; 409 if the id is taken."""
    if session.get(Definition, definition_id) is not None:
        raise ConflictError(f"definition {definition_id!r} exists already: update it (PATCH) to add a version")
    definition = Definition(
        id=definition_id, status=DefinitionStatus.DRAFT.value, latest_version=1, published_version=None,
        created_by=actor, created_at=now, updated_by=actor, updated_at=now,
    )
    try:
        with session.begin_nested():
            session.add(definition)
            session.flush()
    except IntegrityError:
        raise ConflictError(f"definition {definition_id!r} was created by another request meanwhile") from None
    return Saved(definition, _add_version(session, definition, document, actor=actor, now=now, message=message, restored_from=None))


def add_version(
    session: Session, definition_id: str, document: dict[str, Any], *, actor: str, now: datetime, message: str | None,
    restored_from: int | None = None,
) -> Saved:
    """A new draft version (an update, or a restore of `restored_from`)."""
    definition = get(session, definition_id, for_update=True)
    definition.latest_version += 1
    definition.updated_by, definition.updated_at = actor, now
    return Saved(definition, _add_version(session, definition, document, actor=actor, now=now, message=message, restored_from=restored_from))


def _add_version(
    session: Session, definition: Definition, document: dict[str, Any], *, actor: str, now: datetime, message: str | None,
    restored_from: int | None,
) -> DefinitionVersion:
    row = DefinitionVersion(
        definition_id=definition.id, number=definition.latest_version, status=VersionStatus.DRAFT.value, document=document,
        author=actor, message=message, restored_from=restored_from, created_at=now, updated_at=now,
    )
    session.add(row)
    session.flush()
    return row


def apply(session: Session, definition: Definition, change: Change, *, actor: str, now: datetime) -> None:
    """Write a lifecycle change (orchestrator.core.definitions.publish / deprecate)."""
    definition.status = change.status.value
    definition.published_version = change.published_version
    definition.updated_by, definition.updated_at = actor, now
    definition.deprecated_at = now if change.status is DefinitionStatus.DEPRECATED else None
    for number, status in change.versions.items():
        row = get_version(session, definition.id, number)
        row.status, row.updated_at = status.value, now
        if status is VersionStatus.PUBLISHED:
            row.published_at, row.published_by = now, actor
    session.flush()


def refusal(session: Session, dag: Dag | None, dag_id: str) -> str | None:
    """Why a new run of `dag_id` (its loaded DAG row: `dag`) cannot start, if a definition has that id."""
    definition = session.get(Definition, dag_id)
    if definition is None:
        return None
    loaded = dag is not None and dag.is_active
    return trigger_refusal(
        dag_id, DefinitionStatus(definition.status), definition.published_version,
        loaded=loaded, loaded_version=version_of_file(dag.fileloc) if dag is not None and loaded else None,
    )
