"""Logging in and out of the UI: a form with a CSRF token, failed attempts rate-limited and audited."""

from __future__ import annotations

from typing import Any

from flask import g, redirect, render_template, request, url_for

from orchestrator.store import users as user_store
from orchestrator.store.users import Role
from webui.auth import Identity, audit, client_ip, csrf, current_identity, log_in, log_out, requires, throttle
from webui.state import web_state
from webui.ui import ui_blueprint


def safe_next(target: str | None) -> str:
    """Where to go after logging in: only a path on this site (no open redirect)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return url_for("ui.dags")
    return target[:-1] if target.endswith("?") else target


@ui_blueprint.get("/login")
def login() -> Any:
    if current_identity() is not None:
        return redirect(safe_next(request.args.get("next")))
    return render_template("login.html", next=request.args.get("next", ""), error=None, username="")


@ui_blueprint.post("/login")
def login_submit() -> Any:
    csrf.protect()
    username = request.form.get("username", "").strip()
    password = request.form.get("password", "")
    target = request.form.get("next", "")
    key = client_ip() or "unknown"
    wait_s = throttle.blocked_for(key)
    if wait_s > 0:
        error = f"Too many failed logins from your address: try again in {int(wait_s) + 1} s."
        return render_template("login.html", next=target, error=error, username=username), 429
    with web_state().sessions.begin() as s:
        user = user_store.check_password(s, username, password) if username and password else None
        if user is None:
            throttle.failed(key)
            audit(s, "user.login_failed", username[:150] or None)
        else:
            throttle.succeeded(key)
            log_in(user)
            # the audit entry names the user who just proved who they are
            g.identity = Identity(user.id, user.username, Role(user.role), "session")
            audit(s, "user.login", user.username)
    if user is None:
        return render_template("login.html", next=target, error="Wrong username or password.", username=username), 401
    return redirect(safe_next(target))


@ui_blueprint.post("/logout")
@requires(Role.VIEWER)
def logout() -> Any:
    with web_state().sessions.begin() as s:
        audit(s, "user.logout", current_identity().username)  # type: ignore[union-attr]
    log_out()
    return redirect(url_for("ui.login"))
