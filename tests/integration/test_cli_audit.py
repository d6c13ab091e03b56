"""The CLI user: every change made with the CLI is audited, always with the actor `cli:<os user>`;
per-DAG permissions apply to the CLI user who is also a user of the store, and commands that act
as a store user (approvals) say how to name one.

The commands run in-process through click's runner (the same code as the `orchestrator` script,
without a Python start-up per command); nothing here needs a scheduler.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from orchestrator.cli.main import build_cli
from orchestrator.store import access as access_store
from orchestrator.store import users as user_store
from orchestrator.store.models import AuditLog, Event
from orchestrator.store.permissions import DagPermission, Grant
from orchestrator.store.users import Role
from scheduler import testrun

from .harness import make_config, trigger, upgraded_sessions, write_dag

OS_USER = "ops-tester"
DAGS = {
    "daily.py": """
        from datetime import datetime
        from orchestrator import DAG, PythonTask
        from tests.fixtures import succeed

        with DAG("daily", schedule="@daily", start_date=datetime(2026, 1, 1), tags=["finance"]) as dag:
            PythonTask(task_id="only", python_callable=succeed)
    """,
    "other.py": """
        from orchestrator import DAG, PythonTask
        from tests.fixtures import always_fail

        with DAG("other") as dag:
            PythonTask(task_id="boom", python_callable=always_fail)
    """,
}


@dataclass
class Cli:
    home: Path
    sessions: sessionmaker[Session]

    def __call__(self, *args: str, os_user: str = OS_USER, **env: str) -> Result:
        environ = {"ORCH_HOME": str(self.home), "ORCH_DAGS_FOLDER": str(self.home / "dags"), "LOGNAME": os_user, "USER": os_user, **env}
        return CliRunner().invoke(build_cli(), list(args), env=environ, catch_exceptions=False)

    def audit(self) -> list[AuditLog]:
        with self.sessions() as s:
            return list(s.scalars(select(AuditLog).order_by(AuditLog.id)))


@pytest.fixture
def cli(tmp_path: Path) -> Iterator[Cli]:
    for name, source in DAGS.items():
        write_dag(tmp_path / "dags", name, source)
    sessions = upgraded_sessions(f"sqlite:///{tmp_path / 'orchestrator.db'}")
    runner = Cli(tmp_path, sessions)
    assert runner("dags", "list").exit_code == 0
    yield runner
    sessions.kw["bind"].dispose()


MUTATIONS = [
    (["dags", "trigger", "daily"], "dag.trigger", "dag:daily"),
    (["dags", "pause", "daily"], "dag.pause", "dag:daily"),
    (["dags", "unpause", "daily"], "dag.unpause", "dag:daily"),
    (["dags", "backfill", "daily", "--start", "2026-01-01", "--end", "2026-01-02", "--no-wait"], "dag.backfill", "dag:daily"),
    (["pools", "set", "db", "3"], "pool.set", "pool:db"),
    (["schedules", "create", "nightly", "--dag", "daily", "--cron", "@daily"], "schedule.create", "schedule:nightly"),
    (["connections", "add", "web", "--conn-type", "http", "--host", "example.org"], "connection.create", "connection:web"),
    (["users", "create", "--username", "bob", "--role", "viewer", "--password", "pw-bob-123"], "user.create", "user:bob"),
    (["roles", "create", "team"], "dag_role.create", "dag_role:team"),
]


@pytest.mark.parametrize(("args", "action", "target"), MUTATIONS, ids=[" ".join(m[0][:2]) for m in MUTATIONS])
def test_each_cli_mutation_leaves_one_audit_entry_as_cli_os_user(cli: Cli, args: list[str], action: str, target: str) -> None:
    result = cli(*args)
    assert result.exit_code == 0, result.output
    entries = [(e.actor, e.action, e.target) for e in cli.audit()]
    assert entries == [(f"cli:{OS_USER}", action, target)]


def test_cancelling_a_run_and_clearing_a_task_are_audited(cli: Cli) -> None:
    queued = trigger(cli.sessions, "other")
    failed = testrun.test_run(cli.sessions, make_config(cli.home, f"sqlite:///{cli.home / 'orchestrator.db'}"), "other", {}).run_id
    assert cli("runs", "cancel", "other", queued).exit_code == 0
    cleared = cli("tasks", "clear", "other", failed, "boom")
    assert cleared.exit_code == 0, cleared.output
    assert [(e.actor, e.action, e.target) for e in cli.audit()] == [
        (f"cli:{OS_USER}", "run.cancel", f"run:other/{queued}"),
        (f"cli:{OS_USER}", "task.clear", f"task:other/{failed}/boom"),
    ]


def test_the_run_events_name_the_same_cli_actor(cli: Cli) -> None:
    run_id = cli("dags", "trigger", "daily").output.strip()
    with cli.sessions() as s:
        actors = set(s.scalars(select(Event.actor).where(Event.run_id == run_id)))
    assert actors == {f"cli:{OS_USER}"}


def test_a_failed_mutation_leaves_no_audit_entry(cli: Cli) -> None:
    assert cli("dags", "pause", "no_such_dag").exit_code == 2
    assert cli.audit() == []


def _restrict(cli: Cli, username: str, *grants: Grant) -> None:
    now = datetime.now(UTC)
    with cli.sessions.begin() as s:
        user_store.create_user(s, username, Role.OPERATOR, None, now)
        access_store.create_role(s, "team", None, now)
        for grant in grants:
            access_store.add_grant(s, "team", grant, now)
        access_store.add_member(s, "team", username)


def test_an_os_user_who_is_a_restricted_store_user_may_only_do_what_their_dag_roles_grant(cli: Cli) -> None:
    _restrict(cli, "carol", Grant(DagPermission.TRIGGER, tag="finance"))
    assert cli("dags", "trigger", "daily", os_user="carol").exit_code == 0
    refused = cli("dags", "trigger", "other", os_user="carol")
    assert refused.exit_code == 1
    assert "you may not trigger DAG 'other'" in refused.output
    assert cli("dags", "pause", "daily", os_user="carol").exit_code == 1
    listed = cli("dags", "list", "--json", os_user="carol").output
    assert '"daily"' in listed and '"other"' not in listed


def test_orch_user_names_the_store_user_the_cli_acts_as(cli: Cli) -> None:
    _restrict(cli, "carol", Grant(DagPermission.READ, dag_id="daily"))
    assert cli("dags", "trigger", "daily", ORCH_USER="carol").exit_code == 1
    missing = cli("dags", "trigger", "daily", ORCH_USER="nobody")
    assert missing.exit_code == 2
    assert "ORCH_USER names 'nobody'" in missing.output


def test_an_os_user_who_is_not_a_store_user_has_full_access(cli: Cli) -> None:
    _restrict(cli, "carol", Grant(DagPermission.READ, dag_id="daily"))
    assert cli("dags", "pause", "other", os_user="root").exit_code == 0


def test_dag_role_changes_through_the_cli_restrict_the_member(cli: Cli) -> None:
    assert cli("users", "create", "--username", "dave", "--role", "operator", "--password", "pw-dave-123").exit_code == 0
    assert cli("roles", "create", "team").exit_code == 0
    assert cli("roles", "grant", "team", "--permission", "read", "--tag", "finance").exit_code == 0
    assert cli("roles", "add-user", "team", "dave").exit_code == 0
    listed = cli("roles", "list").output
    assert "read on tag:finance" in listed and "dave" in listed
    assert cli("dags", "trigger", "daily", os_user="dave").exit_code == 1
    assert cli("roles", "grant", "team", "--permission", "trigger", "--dag", "daily").exit_code == 0
    assert cli("dags", "trigger", "daily", os_user="dave").exit_code == 0
    assert [e.action for e in cli.audit()][-4:] == ["dag_role.grant", "dag_role.add_user", "dag_role.grant", "dag.trigger"]


def test_approvals_mine_for_an_os_user_with_no_namesake_says_how_to_name_the_user(cli: Cli) -> None:
    result = cli("approvals", "list", "--mine", os_user="root")
    assert result.exit_code == 2
    assert "no orchestrator user named 'root'" in result.output
    assert "pass --user NAME or set ORCH_USER=NAME" in result.output


def test_approvals_mine_works_for_the_os_user_who_is_a_store_user(cli: Cli) -> None:
    assert cli("users", "create", "--username", "erin", "--role", "operator", "--password", "pw-erin-123").exit_code == 0
    result = cli("approvals", "list", "--mine", os_user="erin")
    assert result.exit_code == 0, result.output
    assert "(none)" in result.output


def test_dags_test_is_audited_and_its_run_events_name_the_cli_os_user(cli: Cli) -> None:
    result = cli("dags", "test", "daily")
    assert result.exit_code == 0, result.output
    entries = [(e.actor, e.action) for e in cli.audit()]
    assert entries == [(f"cli:{OS_USER}", "dag.test")]
    with cli.sessions() as s:
        queued = s.scalars(select(Event.actor).where(Event.dag_id == "daily", Event.kind == "run.queued")).all()
    assert queued == [f"cli:{OS_USER}"]
