"""Per-DAG permissions: what a user's global role and DAG roles' grants allow on one DAG."""

from __future__ import annotations

import pytest

from orchestrator.store.permissions import DagAccess, DagPermission, Grant, InvalidGrantError, denial, parse_permission
from orchestrator.store.users import Role

READ, TRIGGER, EDIT = DagPermission.READ, DagPermission.TRIGGER, DagPermission.EDIT


@pytest.mark.parametrize(
    ("role", "allowed"),
    [(Role.VIEWER, {READ}), (Role.OPERATOR, {READ, TRIGGER, EDIT}), (Role.ADMIN, {READ, TRIGGER, EDIT})],
)
def test_a_user_in_no_dag_role_has_their_global_role_on_every_dag(role: Role, allowed: set[DagPermission]) -> None:
    access = DagAccess(role)
    assert {p for p in DagPermission if access.allows("any_dag", (), p)} == allowed


def test_a_restricted_user_may_read_only_the_dags_their_roles_grant() -> None:
    access = DagAccess(Role.OPERATOR, restricted=True, grants=(Grant(READ, dag_id="etl"),))
    assert access.allows("etl", (), READ)
    assert not access.allows("etl", (), TRIGGER)
    assert not access.allows("billing", (), READ)


def test_a_grant_by_tag_covers_every_dag_with_that_tag() -> None:
    access = DagAccess(Role.VIEWER, restricted=True, grants=(Grant(TRIGGER, tag="finance"),))
    assert access.allows("ledger", ("daily", "finance"), TRIGGER)
    assert not access.allows("ledger", ("daily",), READ)


def test_the_highest_of_several_matching_grants_wins_and_edit_includes_trigger_and_read() -> None:
    access = DagAccess(Role.VIEWER, restricted=True, grants=(Grant(READ, tag="finance"), Grant(EDIT, dag_id="ledger")))
    assert access.permission("ledger", ("finance",)) is EDIT
    assert all(access.allows("ledger", ("finance",), p) for p in DagPermission)
    assert access.permission("other", ("finance",)) is READ


def test_grants_let_a_restricted_viewer_trigger_as_in_airflow() -> None:
    # per-DAG grants add to a role; they are not capped by the global role
    access = DagAccess(Role.VIEWER, restricted=True, grants=(Grant(TRIGGER, dag_id="etl"),))
    assert access.allows("etl", (), TRIGGER)


def test_an_admin_is_never_restricted() -> None:
    assert DagAccess(Role.ADMIN, restricted=True, grants=()).allows("etl", (), EDIT)


@pytest.mark.parametrize("kwargs", [{}, {"dag_id": "etl", "tag": "finance"}])
def test_a_grant_names_exactly_one_of_a_dag_and_a_tag(kwargs: dict[str, str]) -> None:
    with pytest.raises(InvalidGrantError, match="either a DAG"):
        Grant(READ, **kwargs)


def test_an_unknown_permission_is_refused_naming_the_known_ones() -> None:
    with pytest.raises(InvalidGrantError, match="use read, trigger or edit"):
        parse_permission("delete")


def test_denials_say_what_is_missing() -> None:
    assert denial("etl", TRIGGER, DagAccess(Role.VIEWER)) == "to trigger DAG 'etl' needs the operator role; you are viewer"
    restricted = DagAccess(Role.OPERATOR, restricted=True)
    assert "none of your DAG roles grants edit" in denial("etl", EDIT, restricted)
