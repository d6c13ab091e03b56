"""`orchestrator users ...`, `orchestrator tokens ...` and `orchestrator standalone`."""

from __future__ import annotations

import logging
import os
import secrets
import signal
import threading
from pathlib import Path
from typing import Any

import click
from sqlalchemy import func, select

from orchestrator.cli.common import CliState, dags_option, handle_errors, pass_state, record_audit, utcnow
from orchestrator.plugins.manager import make_plugin_manager
from orchestrator.store import users as user_store
from orchestrator.store.db import make_engine, upgrade
from orchestrator.store.models import User

log = logging.getLogger(__name__)


@click.group()
def users() -> None:
    """Manage users of the web UI and API."""


@users.command("create")
@click.option("--username", required=True)
@click.option("--role", type=click.Choice(["viewer", "operator", "admin"]), required=True)
@click.option("--password", help="Omit to be asked (leave empty for a token-only user).")
@pass_state
@handle_errors
def users_create(state: CliState, username: str, role: str, password: str | None) -> None:
    """Add a user with a role."""
    if password is None:
        password = click.prompt("Password (empty for a token-only user)", hide_input=True, confirmation_prompt=True, default="", show_default=False)
    with state.sessions().begin() as s:
        user_store.create_user(s, username, user_store.parse_role(role), password or None, utcnow())
        record_audit(s, "user.create", f"user:{username}", {"role": role})
    click.echo(f"user {username} created with role {role}")


@click.group()
def tokens() -> None:
    """Manage API bearer tokens."""


@tokens.command("create")
@click.option("--username", required=True)
@pass_state
@handle_errors
def tokens_create(state: CliState, username: str) -> None:
    """Create a bearer token for a user; it is printed once, alone on the last line."""
    with state.sessions().begin() as s:
        user = user_store.get_user(s, username)
        row, plain = user_store.create_token(s, user, utcnow())
        record_audit(s, "token.create", f"user:{username}", {"token_id": row.id})
        token_id = row.id
    click.echo(f"token {token_id} for {username} (shown once; keep it secret):", err=True)
    click.echo(plain)


@tokens.command("revoke")
@click.argument("token_id", type=int)
@pass_state
@handle_errors
def tokens_revoke(state: CliState, token_id: int) -> None:
    """Revoke a token by its id."""
    with state.sessions().begin() as s:
        user_store.revoke_token(s, token_id, utcnow())
        record_audit(s, "token.revoke", f"token:{token_id}")
    click.echo(f"token {token_id} revoked")


def ensure_admin(state: CliState) -> str | None:
    """On a database without users, create `admin` with a generated password; return it then."""
    with state.sessions().begin() as s:
        if s.scalar(select(func.count()).select_from(User)):
            return None
        password = secrets.token_urlsafe(12)
        user_store.create_user(s, "admin", user_store.Role.ADMIN, password, utcnow())
        record_audit(s, "user.create", "user:admin", {"role": "admin", "by": "standalone"})
    path = Path(state.config.home) / "standalone_admin_password.txt"
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(password + "\n")
    os.chmod(path, 0o600)
    return password


@click.command("standalone")
@click.option("--host", default=None, help="Address of the web UI (default 127.0.0.1).")
@click.option("--port", type=click.IntRange(0, 65535), default=None, help="Port of the web UI (default 8080).")
@dags_option
@pass_state
@handle_errors
def standalone(state: CliState, host: str | None, port: int | None) -> None:
    """Everything on this machine: database upgrade, scheduler on a LocalCluster, web UI and API."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    config = state.config
    upgrade(make_engine(config.resolved_database_url))
    password = ensure_admin(state)
    if password:
        click.echo(f"created user 'admin' with password: {password}", err=True)
        click.echo(f"(also written to {Path(config.home) / 'standalone_admin_password.txt'}, mode 600)", err=True)
    services: list[Any] = [
        svc
        for batch in make_plugin_manager().hook.orchestrator_services(
            config=config, sessions=state.sessions(), options={"host": host, "port": port}
        )
        for svc in batch
    ]
    state.reload_on_sighup()
    click.echo(f"database: {make_engine(config.resolved_database_url).url.render_as_string()}", err=True)
    click.echo(f"DAG folder: {config.resolved_dags_folder}", err=True)
    for svc in services:
        if getattr(svc, "name", "") == "webui":
            click.echo(f"web UI and API: http://{svc.host}:{svc.port}", err=True)
    run_services(services)


SIGNAL_CHECK_S = 0.2
"""How often the main thread of `standalone` wakes to run signal handlers that arrived meanwhile."""


def run_services(services: list[Any]) -> None:
    """Run each service in a thread until SIGTERM / Ctrl-C or one of them stops."""
    done = threading.Event()

    def runner(svc: Any) -> None:
        try:
            svc.run()
        except Exception:  # noqa: BLE001 - one failing service stops the rest, loudly
            log.exception("%s stopped with an error", type(svc).__name__)
        finally:
            done.set()

    threads = [threading.Thread(target=runner, args=(svc,), name=type(svc).__name__, daemon=True) for svc in services]
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: done.set())
    for t in threads:
        t.start()
    # Python runs signal handlers on the main thread only, when it next runs Python code: a signal
    # the kernel hands to another thread (Dask's, the web server's) would wait for ever behind an
    # untimed wait, so SIGHUP (reload) and SIGTERM (stop) would go unheard. Waking often avoids it.
    while not done.wait(SIGNAL_CHECK_S):
        pass
    for svc in services:
        svc.stop()
    for t in threads:
        t.join(timeout=60)
    click.echo("stopped", err=True)
