"""`orchestrator roles ...`: DAG roles, which grant read, trigger or edit on DAGs by id or tag.

A user put in any DAG role is restricted to what their DAG roles grant (see orchestrator/store/permissions.py).
Every change is audited as `cli:<os user>`.
"""

from __future__ import annotations

import click

from orchestrator.cli.common import CliState, audited, emit_rows, handle_errors, pass_state, utcnow
from orchestrator.store import access as access_store
from orchestrator.store.permissions import Grant, parse_permission


def _grant(permission: str, dag_id: str | None, tag: str | None) -> Grant:
    return Grant(parse_permission(permission), dag_id=dag_id, tag=tag)


def _grant_options(fn):  # noqa: ANN001, ANN202 - a click decorator
    fn = click.option("--tag", help="Every DAG with this tag.")(fn)
    fn = click.option("--dag", "dag_id", help="The DAG with this dag_id.")(fn)
    fn = click.option("--permission", type=click.Choice(["read", "trigger", "edit"]), required=True,
                      help="read < trigger (runs, backfills, cancel, clear, pause or resume a run) < edit (pause, unpause, schedules, mark success or failed).")(fn)
    return click.argument("name")(fn)


@click.group()
def roles() -> None:
    """DAG roles: per-DAG permissions (read, trigger, edit) by dag_id or tag, and their members."""


@roles.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
@pass_state
@handle_errors
def roles_list(state: CliState, as_json: bool) -> None:
    """List the DAG roles with their grants and members."""
    with state.sessions(readonly=True)() as s:
        rows = [
            {"name": r.name, "grants": ", ".join(f"{g.permission.value} on {g.target}" for g in r.grants),
             "members": ", ".join(r.members), "description": r.description}
            for r in access_store.list_roles(s)
        ]
    emit_rows(rows, ["name", "grants", "members", "description"], as_json)


@roles.command("create")
@click.argument("name")
@click.option("--description", help="What the role is for.")
@pass_state
@handle_errors
def roles_create(state: CliState, name: str, description: str | None) -> None:
    """Add a DAG role (with no grants yet)."""
    with audited(state, "dag_role.create", f"dag_role:{name}", {"description": description}) as s:
        access_store.create_role(s, name, description, utcnow())
    click.echo(f"DAG role {name} created")


@roles.command("delete")
@click.argument("name")
@pass_state
@handle_errors
def roles_delete(state: CliState, name: str) -> None:
    """Remove a DAG role, its grants and its memberships."""
    with audited(state, "dag_role.delete", f"dag_role:{name}") as s:
        access_store.delete_role(s, name)
    click.echo(f"DAG role {name} deleted")


@roles.command("grant")
@_grant_options
@pass_state
@handle_errors
def roles_grant(state: CliState, name: str, permission: str, dag_id: str | None, tag: str | None) -> None:
    """Grant NAME a permission on one DAG (--dag) or on every DAG with a tag (--tag)."""
    grant = _grant(permission, dag_id, tag)
    with audited(state, "dag_role.grant", f"dag_role:{name}", {"permission": permission, "on": grant.target}) as s:
        added = access_store.add_grant(s, name, grant, utcnow())
    click.echo(f"DAG role {name} {'may now' if added else 'already may'} {permission} {grant.target}")


@roles.command("revoke")
@_grant_options
@pass_state
@handle_errors
def roles_revoke(state: CliState, name: str, permission: str, dag_id: str | None, tag: str | None) -> None:
    """Take a grant back from NAME."""
    grant = _grant(permission, dag_id, tag)
    with audited(state, "dag_role.revoke", f"dag_role:{name}", {"permission": permission, "on": grant.target}) as s:
        access_store.remove_grant(s, name, grant)
    click.echo(f"DAG role {name} may no longer {permission} {grant.target}")


@roles.command("add-user")
@click.argument("name")
@click.argument("username")
@pass_state
@handle_errors
def roles_add_user(state: CliState, name: str, username: str) -> None:
    """Put USERNAME in DAG role NAME: from now on they see only the DAGs their DAG roles grant."""
    with audited(state, "dag_role.add_user", f"dag_role:{name}", {"user": username}) as s:
        access_store.add_member(s, name, username)
    click.echo(f"user {username} is in DAG role {name}")


@roles.command("remove-user")
@click.argument("name")
@click.argument("username")
@pass_state
@handle_errors
def roles_remove_user(state: CliState, name: str, username: str) -> None:
    """Take USERNAME out of DAG role NAME (in no DAG role at all, their global role applies to every DAG)."""
    with audited(state, "dag_role.remove_user", f"dag_role:{name}", {"user": username}) as s:
        access_store.remove_member(s, name, username)
    click.echo(f"user {username} is no longer in DAG role {name}")
