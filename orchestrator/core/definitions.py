"""Workflow definitions managed through the API: the lifecycle Draft -> Published -> Deprecated, as
pure decisions, and what is wrong with a document, by JSON path.

A definition holds workflow documents (orchestrator.declarative.workflow's YAML/JSON shape) in numbered
versions: creating it makes version 1, each update and each restore adds a new draft version, and
publishing freezes one draft as the version new runs use (the version published before it becomes
`superseded`: its runs finish on it). Deprecating the definition stops new runs of it; publishing a
draft makes it runnable again. The definition's id is the DAG id its published version runs as.

Nothing here reads the database, the clock or files: orchestrator.store.definitions applies what
these functions decide, orchestrator.operations.definition_files writes the published files.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

from orchestrator.core.errors import ConflictError, OrchestratorError

DEFINITIONS_DIR = "_definitions"
"""The folder of the DAG folder holding the published versions, one folder per definition."""
DEFINITION_ID_PATTERN = r"^[A-Za-z0-9_.\-]{1,250}$"
"""The DAG id pattern of a workflow file's workflowId (orchestrator.declarative.workflow)."""


class DefinitionStatus(str, Enum):
    DRAFT = "draft"
    """never published: nothing runs yet"""
    PUBLISHED = "published"
    """new runs use the published version"""
    DEPRECATED = "deprecated"
    """no new runs; runs already going finish"""


class VersionStatus(str, Enum):
    DRAFT = "draft"
    PUBLISHED = "published"
    SUPERSEDED = "superseded"
    """was published; a later version replaced it (its runs keep it)"""
    DEPRECATED = "deprecated"
    """was the published version when the definition was deprecated"""


class DefinitionStateError(ConflictError):
    """The lifecycle does not allow this change now (publish a version that is not a draft, deprecate a draft...)."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a document: where (a JSON path such as `$.steps[2].retryPolicy.delay`) and what."""

    path: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"path": self.path, "message": self.message}


class InvalidDefinitionError(OrchestratorError):
    """A document that cannot be published (or named); `problems` lists every one with its JSON path."""

    def __init__(self, problems: list[Problem], action: str = "publish") -> None:
        self.problems = problems
        shown = "; ".join(f"{p.path}: {p.message}" for p in problems[:10])
        more = f"; and {len(problems) - 10} more" if len(problems) > 10 else ""
        super().__init__(f"cannot {action} the document: {shown}{more}")


def json_path(path: str) -> str:
    """The JSON path of a declarative problem's field path: `steps[2].delay` -> `$.steps[2].delay`, '' -> `$`."""
    if not path:
        return "$"
    return "$" + (path if path.startswith("[") else "." + path)


def document_id(document: Any, definition_id: str | None = None) -> tuple[str | None, list[Problem]]:
    """The definition id a document names (its workflowId), checked against `definition_id` when
    the definition exists already. A document without workflowId takes `definition_id`."""
    if not isinstance(document, Mapping):
        return None, [Problem("$", "a workflow document is one object (workflowId, steps, ...)")]
    named = document.get("workflowId")
    if named is None:
        if definition_id is None:
            return None, [Problem("$.workflowId", "required: the definition's id, which is the DAG id it runs as")]
        return definition_id, []
    if not isinstance(named, str):
        return None, [Problem("$.workflowId", f"must be a string, not {type(named).__name__}")]
    if definition_id is not None and named != definition_id:
        return None, [Problem("$.workflowId", f"is {named!r}, but this is definition {definition_id!r}: the id cannot change")]
    return named, []


def document_tags(document: Any) -> tuple[str, ...]:
    """The document's tags (what DAG roles may grant by), ignoring what is not a list of strings."""
    tags = document.get("tags") if isinstance(document, Mapping) else None
    return tuple(t for t in tags if isinstance(t, str)) if isinstance(tags, list) else ()


def with_id(document: Mapping[str, Any], definition_id: str) -> dict[str, Any]:
    """The document with its workflowId set to the definition's id (the DAG id it runs as)."""
    return {**document, "workflowId": definition_id}


def version_file_name(number: int) -> str:
    """The file a published version is written to in its definition's folder."""
    return f"v{number}.json"


def version_of_file(path: str) -> int | None:
    """The definition version a published file holds (`.../v3.json` -> 3); None for any other file."""
    match = re.search(rf"[\\/]{DEFINITIONS_DIR}[\\/][^\\/]+[\\/]v([0-9]+)\.json$", path)
    return int(match.group(1)) if match else None


# -- lifecycle ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Change:
    """What a lifecycle step changes: the definition's status and published version, and the new
    status of each version named."""

    status: DefinitionStatus
    published_version: int | None
    versions: dict[int, VersionStatus]


def publish(definition_id: str, status: DefinitionStatus, published_version: int | None, number: int, version_status: VersionStatus) -> Change:
    """Publish version `number`: it must be a draft. The version published before it is superseded."""
    if version_status is not VersionStatus.DRAFT:
        hint = (
            "it is the published version already" if version_status is VersionStatus.PUBLISHED
            else f"restore it (`definitions restore {definition_id} {number}`) to make a new draft of it, then publish that"
        )
        raise DefinitionStateError(f"version {number} of definition {definition_id!r} is {version_status.value}, not a draft: {hint}")
    versions = {number: VersionStatus.PUBLISHED}
    if published_version is not None and published_version != number:
        versions[published_version] = VersionStatus.SUPERSEDED
    return Change(DefinitionStatus.PUBLISHED, number, versions)


def deprecate(definition_id: str, status: DefinitionStatus, published_version: int | None) -> Change:
    """Deprecate a published definition: no new runs; runs already going finish on their version."""
    if status is not DefinitionStatus.PUBLISHED or published_version is None:
        why = "it was never published" if status is DefinitionStatus.DRAFT else "it is deprecated already"
        raise DefinitionStateError(f"definition {definition_id!r} cannot be deprecated: {why}")
    return Change(DefinitionStatus.DEPRECATED, None, {published_version: VersionStatus.DEPRECATED})


def trigger_refusal(
    definition_id: str, status: DefinitionStatus, published_version: int | None, *, loaded: bool, loaded_version: int | None,
) -> str | None:
    """Why a new run of the definition's DAG cannot start now, or None when it can. `loaded`: the
    DAG is loaded; `loaded_version`: the definition version whose file it was loaded from (None
    for a DAG file of the folder, which the definition does not own)."""
    if loaded and loaded_version is None:
        return None
    if status is DefinitionStatus.DEPRECATED:
        return (
            f"definition {definition_id!r} is deprecated: it takes no new runs (runs already going finish); "
            f"publish a version of it to run it again"
        )
    if status is DefinitionStatus.DRAFT:
        return f"definition {definition_id!r} is a draft: only published versions run (`definitions publish {definition_id}`)"
    if loaded_version != published_version:
        return (
            f"version {published_version} of definition {definition_id!r} is published but the scheduler has not loaded it yet "
            f"(it scans the DAG folder every dag_dir_scan_interval_s); try again in a few seconds"
        )
    return None


# -- differences between two documents ---------------------------------------------------------
@dataclass(frozen=True)
class DocumentChange:
    """One value that differs, at its JSON path; `old` or `new` is None where it was not there."""

    path: str
    old: Any
    new: Any

    def as_dict(self) -> dict[str, Any]:
        return {"path": self.path, "old": self.old, "new": self.new}


def diff_documents(old: Any, new: Any, path: str = "$") -> list[DocumentChange]:
    """Every value that differs from `old` to `new`: objects key by key (in name order), lists item
    by item (an item only one side has is added or removed), anything else compared whole."""
    if old == new:
        return []
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        changes: list[DocumentChange] = []
        for key in sorted(old.keys() | new.keys()):
            if key not in new:
                changes.append(DocumentChange(f"{path}.{key}", old[key], None))
            elif key not in old:
                changes.append(DocumentChange(f"{path}.{key}", None, new[key]))
            else:
                changes += diff_documents(old[key], new[key], f"{path}.{key}")
        return changes
    if isinstance(old, list) and isinstance(new, list):
        changes = []
        for i in range(max(len(old), len(new))):
            if i >= len(new):
                changes.append(DocumentChange(f"{path}[{i}]", old[i], None))
            elif i >= len(old):
                changes.append(DocumentChange(f"{path}[{i}]", None, new[i]))
            else:
                changes += diff_documents(old[i], new[i], f"{path}[{i}]")
        return changes
    return [DocumentChange(path, old, new)]
