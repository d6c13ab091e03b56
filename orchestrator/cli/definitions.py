"""`orchestrator definitions ...`: workflow definitions created, validated, versioned and published
from YAML/JSON files, as the REST API's /definitions does (orchestrator.core.definitions).

A definition's id is the DAG id it runs as: the CLI user's DAG roles apply to it (read to look,
edit to change). Every change is in the audit log.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import click
from sqlalchemy.orm import Session

from orchestrator.cli.common import (
    EXIT_FAILURE,
    CliState,
    PermissionDeniedError,
    cli_access,
    cli_actor,
    emit_json,
    emit_rows,
    handle_errors,
    iso,
    pass_state,
    record_audit,
    utcnow,
)
from orchestrator.core.definitions import DefinitionStatus, Problem, diff_documents, document_id, document_tags, with_id
from orchestrator.core.run_stats import run_stats
from orchestrator.declarative.files import read_document
from orchestrator.operations import definition_files
from orchestrator.operations.definition_check import check_document
from orchestrator.store import definitions as definition_store
from orchestrator.store import run_stats as stats_store
from orchestrator.store.definitions import Saved
from orchestrator.store.models import Definition
from orchestrator.store.permissions import DagPermission, denial


def _document(file: Path) -> Any:
    return read_document(file)


def _require(session: Session, definition_id: str, needed: DagPermission, document: Any = None) -> None:
    """Refuse unless the CLI user may do `needed` to the DAG the definition runs as (its tags count)."""
    access = cli_access(session)
    tags: tuple[str, ...] = ()
    if access.restricted:
        tags = document_tags(document) if document is not None else definition_store.latest_tags(session, definition_id)
    if not access.allows(definition_id, tags, needed):
        raise PermissionDeniedError(denial(definition_id, needed, access))


def _problems(state: CliState, document: Any) -> list[Problem]:
    return check_document(document, state.config.resolved_dags_folder, state.config.dag_file_timeout_s)


def _echo_problems(problems: list[Problem]) -> None:
    for p in problems:
        click.echo(f"{p.path}: {p.message}", err=True)


def _said(saved: Saved, what: str) -> None:
    click.echo(f"definition {saved.definition.id}: version {saved.version.number} {what} ({saved.definition.status})")


@click.group()
def definitions() -> None:
    """Manage workflow definitions: YAML/JSON workflows stored as versions, published to run."""


@definitions.command("validate")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--id", "definition_id", help="Check it as a version of this definition.")
@click.option("--json", "as_json", is_flag=True, help="Print the problems as a JSON array.")
@pass_state
@handle_errors
def validate(state: CliState, file: Path, definition_id: str | None, as_json: bool) -> None:
    """Print every problem of FILE with its JSON path; exit 1 if there is any."""
    document = _document(file)
    named, problems = document_id(document, definition_id)
    if named is not None and not problems:
        problems = _problems(state, with_id(document, named))
    if as_json:
        emit_json(p.as_dict() for p in problems)
    elif not problems:
        click.echo(f"{file}: valid")
    _echo_problems([] if as_json else problems)
    if problems:
        raise SystemExit(EXIT_FAILURE)


@definitions.command("create")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--message", "-m", help="What the version is, kept with it.")
@pass_state
@handle_errors
def create(state: CliState, file: Path, message: str | None) -> None:
    """Store FILE as draft version 1 of a new definition named by its workflowId."""
    definition_id, document = definition_files.named(_document(file), None)
    problems = _problems(state, document)
    with state.sessions().begin() as s:
        _require(s, definition_id, DagPermission.EDIT, document)
        saved = definition_files.create(s, state.config, document, actor=cli_actor(), now=utcnow(), message=message)
        record_audit(s, "definition.create", f"definition:{definition_id}", {"version": 1, "problems": len(problems)})
    _said(saved, "created")
    _echo_problems(problems)


@definitions.command("update")
@click.argument("definition_id")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--message", "-m", help="What changed, kept with the version.")
@pass_state
@handle_errors
def update(state: CliState, definition_id: str, file: Path, message: str | None) -> None:
    """Add FILE as a new draft version of DEFINITION_ID."""
    _, document = definition_files.named(_document(file), definition_id)
    problems = _problems(state, document)
    with state.sessions().begin() as s:
        _require(s, definition_id, DagPermission.EDIT)
        saved = definition_store.add_version(s, definition_id, document, actor=cli_actor(), now=utcnow(), message=message)
        record_audit(s, "definition.update", f"definition:{definition_id}", {"version": saved.version.number, "problems": len(problems)})
    _said(saved, "added")
    _echo_problems(problems)


@definitions.command("publish")
@click.argument("definition_id")
@click.option("--version", "number", type=click.IntRange(min=1), help="The draft version to publish (default: the latest).")
@pass_state
@handle_errors
def publish(state: CliState, definition_id: str, number: int | None) -> None:
    """Publish a draft version: new runs use it once the scheduler has scanned the DAG folder."""
    with state.sessions(readonly=True)() as s:
        _require(s, definition_id, DagPermission.EDIT)
    saved = definition_files.publish(
        state.sessions(readonly=True), state.sessions(), state.config, definition_id, number, actor=cli_actor(), now=utcnow(),
        audit=lambda s, saved: record_audit(s, "definition.publish", f"definition:{definition_id}", {"version": saved.version.number}),
    )
    _said(saved, "published")


@definitions.command("deprecate")
@click.argument("definition_id")
@pass_state
@handle_errors
def deprecate(state: CliState, definition_id: str) -> None:
    """No new runs of DEFINITION_ID; runs already going finish."""
    with state.sessions().begin() as s:
        _require(s, definition_id, DagPermission.EDIT)
        saved = definition_files.deprecate(s, state.config, definition_id, actor=cli_actor(), now=utcnow())
        record_audit(s, "definition.deprecate", f"definition:{definition_id}", {"version": saved.version.number})
    _said(saved, "deprecated")


@definitions.command("restore")
@click.argument("definition_id")
@click.argument("number", type=click.IntRange(min=1))
@click.option("--message", "-m", help="Why, kept with the new version.")
@pass_state
@handle_errors
def restore(state: CliState, definition_id: str, number: int, message: str | None) -> None:
    """Make a new draft version from version NUMBER (publish it to run it again)."""
    with state.sessions().begin() as s:
        _require(s, definition_id, DagPermission.EDIT)
        saved = definition_files.restore(s, definition_id, number, actor=cli_actor(), now=utcnow(), message=message)
        record_audit(s, "definition.restore", f"definition:{definition_id}", {"version": saved.version.number, "restored_from": number})
    _said(saved, f"restored from version {number}")


@definitions.command("list")
@click.option("--status", type=click.Choice([s.value for s in DefinitionStatus]), help="Only definitions in this status.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
@pass_state
@handle_errors
def list_(state: CliState, status: str | None, as_json: bool) -> None:
    """The definitions, their status, latest and published versions."""
    with state.sessions(readonly=True)() as s:
        rows, _ = definition_store.page(s, status=status, limit=1_000_000, offset=0)
        access = cli_access(s)
        shown = [
            {"id": d.id, "status": d.status, "latest_version": d.latest_version, "published_version": d.published_version,
             "updated_by": d.updated_by, "updated_at": iso(d.updated_at)}
            for d in rows if not access.restricted or access.allows(d.id, definition_store.latest_tags(s, d.id), DagPermission.READ)
        ]
    emit_rows(shown, ["id", "status", "latest_version", "published_version", "updated_by", "updated_at"], as_json)


@definitions.command("show")
@click.argument("definition_id")
@click.option("--version", "number", type=click.IntRange(min=1), help="This version (default: the latest).")
@click.option("--versions", "list_versions", is_flag=True, help="List the versions instead of printing a document.")
@pass_state
@handle_errors
def show(state: CliState, definition_id: str, number: int | None, list_versions: bool) -> None:
    """Print a version's document as JSON, or (--versions) every version, newest first."""
    with state.sessions(readonly=True)() as s:
        _require(s, definition_id, DagPermission.READ)
        definition = definition_store.get(s, definition_id)
        if list_versions:
            rows, _ = definition_store.versions_page(s, definition_id, limit=1_000_000, offset=0)
            emit_json({"number": v.number, "status": v.status, "author": v.author, "message": v.message,
                       "restored_from": v.restored_from, "created_at": iso(v.created_at), "published_at": iso(v.published_at)} for v in rows)
            return
        version = definition_store.get_version(s, definition_id, number or definition.latest_version)
        click.echo(json.dumps({"id": definition.id, "status": definition.status, "published_version": definition.published_version,
                               "version": version.number, "version_status": version.status, "document": version.document}, indent=2))


@definitions.command("diff")
@click.argument("definition_id")
@click.argument("a", type=click.IntRange(min=1))
@click.argument("b", type=click.IntRange(min=1))
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array of {path, old, new}.")
@pass_state
@handle_errors
def diff(state: CliState, definition_id: str, a: int, b: int, as_json: bool) -> None:
    """What differs from version A to version B, by JSON path."""
    with state.sessions(readonly=True)() as s:
        _require(s, definition_id, DagPermission.READ)
        changes = diff_documents(definition_store.get_version(s, definition_id, a).document,
                                 definition_store.get_version(s, definition_id, b).document)
    if as_json:
        emit_json(c.as_dict() for c in changes)
        return
    for c in changes:
        click.echo(f"{c.path}: {json.dumps(c.old)} -> {json.dumps(c.new)}")
    if not changes:
        click.echo("(no difference)")


@definitions.command("stats")
@click.argument("definition_id")
@click.option("--runs", "newest", type=click.IntRange(min=1), default=500, show_default=True, help="Count the newest this many runs.")
@click.option("--slowest", type=click.IntRange(min=0), default=5, show_default=True, help="List this many of the slowest steps.")
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
@pass_state
@handle_errors
def stats(state: CliState, definition_id: str, newest: int, slowest: int, as_json: bool) -> None:
    """Runs, success rate, p50/p95 run duration and the slowest steps of DEFINITION_ID (or of any DAG id)."""
    with state.sessions(readonly=True)() as s:
        _require(s, definition_id, DagPermission.READ)
        is_definition = s.get(Definition, definition_id) is not None
        runs, tries = stats_store.samples(s, definition_id, newest=newest, by_definition_version=is_definition)
    figures = run_stats(runs, tries, slowest=slowest)
    if as_json:
        click.echo(json.dumps({"dag_id": definition_id, **asdict(figures)}, indent=2))
        return
    rate = "-" if figures.success_rate is None else f"{figures.success_rate:.1%}"
    click.echo(f"{definition_id}: {figures.runs} runs, {figures.succeeded} of {figures.finished} finished succeeded ({rate})")
    click.echo(f"run duration: p50 {_seconds(figures.durations.p50)}, p95 {_seconds(figures.durations.p95)}")
    for v in figures.versions:
        click.echo(f"version {v.version if v.version is not None else '?'}: {v.runs} runs, {v.succeeded} of {v.finished} finished succeeded")
    emit_rows(
        [{"step": st.task_id, "tries": st.tries, "failed": st.failed_tries, "p50": _seconds(st.durations.p50),
          "p95": _seconds(st.durations.p95), "max": _seconds(st.durations.max)} for st in figures.slowest_steps],
        ["step", "tries", "failed", "p50", "p95", "max"], False,
    )


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}s"
