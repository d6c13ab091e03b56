"""Publishing definitions into the DAG folder, where the folder sync loads them like any workflow file.

Each published version is written once to `<dags folder>/_definitions/<id>/v<n>.json` and never
rewritten: a run pinned to version n reads its steps' code and input there while it runs. The
folder's `.published` marker (orchestrator.execution.loader.PUBLISHED_MARKER) names the one file the folder
sync loads, so the DAG `<id>` is the published version; deprecating empties the marker, which
unloads the DAG (new triggers are refused, saying why) while runs already going finish.

These functions act in the caller's transaction: a file is written only after the database
change is made, and a failed write raises, rolling the change back.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from orchestrator.core import definitions
from orchestrator.core.config import Config
from orchestrator.core.definitions import DEFINITIONS_DIR, DefinitionStatus, InvalidDefinitionError, VersionStatus
from orchestrator.execution.loader import PUBLISHED_MARKER
from orchestrator.operations.definition_check import check_document
from orchestrator.store import definitions as definition_store


def definition_folder(dags_folder: Path, definition_id: str) -> Path:
    return dags_folder / DEFINITIONS_DIR / definition_id


def version_file(dags_folder: Path, definition_id: str, number: int) -> Path:
    return definition_folder(dags_folder, definition_id) / definitions.version_file_name(number)


def _write_atomically(path: Path, text: str) -> None:
    """Write through a hidden temporary file, so the folder sync never reads half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_published(dags_folder: Path, definition_id: str, number: int | None, document: dict[str, Any] | None) -> Path | None:
    """Write version `number`'s file (if it is not there yet) and name it in the marker; with None,
    empty the marker (nothing of the definition loads). Returns the version's file."""
    folder = definition_folder(dags_folder, definition_id)
    path = None
    if number is not None:
        assert document is not None
        path = version_file(dags_folder, definition_id, number)
        if not path.exists():
            _write_atomically(path, json.dumps(document, indent=2, sort_keys=True) + "\n")
    _write_atomically(folder / PUBLISHED_MARKER, f"{path.name}\n" if path is not None else "")
    return path


def check_id_free(session: Session, config: Config, definition_id: str) -> None:
    """ConflictError when a DAG file of the folder, other than the definition's own, defines its id."""
    prefix = str(definition_folder(config.resolved_dags_folder.resolve(), definition_id)) + os.sep
    definition_store.check_dag_id_free(session, definition_id, prefix)


def named(document: Any, definition_id: str | None) -> tuple[str, dict[str, Any]]:
    """The definition id a document names and the document with it as workflowId; InvalidDefinitionError
    when it names none, or another than `definition_id`."""
    found, problems = definitions.document_id(document, definition_id)
    if found is None or problems:
        raise InvalidDefinitionError(problems, action="store")
    return found, definitions.with_id(document, found)


def create(session: Session, config: Config, document: dict[str, Any], *, actor: str, now: datetime, message: str | None) -> definition_store.Saved:
    """A new definition whose id is the document's workflowId, with the document as draft version 1."""
    definition_id, document = named(document, None)
    check_id_free(session, config, definition_id)
    return definition_store.create(session, definition_id, document, actor=actor, now=now, message=message)


def restore(session: Session, definition_id: str, number: int, *, actor: str, now: datetime, message: str | None) -> definition_store.Saved:
    """A new draft version with the document of version `number`."""
    old = definition_store.get_version(session, definition_id, number)
    return definition_store.add_version(
        session, definition_id, old.document, actor=actor, now=now, message=message or f"restored from version {number}", restored_from=number,
    )


def publish(
    read_sessions: sessionmaker[Session], sessions: sessionmaker[Session], config: Config, definition_id: str, number: int | None, *,
    actor: str, now: datetime, audit: Callable[[Session, definition_store.Saved], None],
) -> definition_store.Saved:
    """Publish version `number` (default: the latest) of the definition: checked as the loader would
    load it (in a child process, before the write transaction, which holds SQLite's write lock),
    then written to the DAG folder as the version new runs use; `audit` records it in the same
    transaction."""
    with read_sessions() as s:
        definition = definition_store.get(s, definition_id)
        version = definition_store.get_version(s, definition_id, number or definition.latest_version)
        number, document = version.number, version.document
    problems = check_document(document, config.resolved_dags_folder, config.dag_file_timeout_s)
    if problems:
        raise InvalidDefinitionError(problems)
    with sessions.begin() as s:
        check_id_free(s, config, definition_id)
        definition = definition_store.get(s, definition_id, for_update=True)
        version = definition_store.get_version(s, definition_id, number)  # a version's document never changes
        change = definitions.publish(
            definition_id, DefinitionStatus(definition.status), definition.published_version, number, VersionStatus(version.status)
        )
        definition_store.apply(s, definition, change, actor=actor, now=now)
        saved = definition_store.Saved(definition, version)
        audit(s, saved)
        write_published(config.resolved_dags_folder, definition_id, number, document)
    return saved


def deprecate(session: Session, config: Config, definition_id: str, *, actor: str, now: datetime) -> definition_store.Saved:
    """Deprecate the definition: its DAG is unloaded at the folder sync's next pass, so new runs are
    refused; runs already going finish on their version's file."""
    definition = definition_store.get(session, definition_id, for_update=True)
    change = definitions.deprecate(definition_id, DefinitionStatus(definition.status), definition.published_version)
    version = definition_store.get_version(session, definition_id, definition.published_version or definition.latest_version)
    definition_store.apply(session, definition, change, actor=actor, now=now)
    write_published(config.resolved_dags_folder, definition_id, None, None)
    return definition_store.Saved(definition, version)
