"""Who is asking and what they may do: bearer tokens for scripts, a session cookie for the UI.

Roles are ranked viewer < operator < admin. Views declare the least role they need with
`@requires(Role.OPERATOR)`; no identity gives 401, too low a role 403. Cookie-authenticated
requests that change something must carry the CSRF token (forms: a hidden field; scripts in
the UI: the X-CSRFToken header); bearer-token requests need none.
"""

from __future__ import annotations

import functools
import threading
import time
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from flask import Flask, g, redirect, request, session, url_for
from flask_wtf.csrf import CSRFProtect

from orchestrator.store import audit as audit_store
from orchestrator.store import users as user_store
from orchestrator.store.models import User
from orchestrator.store.users import Role
from webui.errors import ApiError
from webui.state import web_state

F = TypeVar("F", bound=Callable[..., Any])
csrf = CSRFProtect()


def _now() -> datetime:
    return datetime.now(UTC)


class LoginThrottle:
    """At most `limit` failed logins per client address within `window_s` seconds."""

    def __init__(self, limit: int = 5, window_s: float = 60.0) -> None:
        self.limit = limit
        self.window_s = window_s
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> deque[float]:
        q = self._failures.setdefault(key, deque())
        while q and q[0] <= now - self.window_s:
            q.popleft()
        return q

    def blocked_for(self, key: str) -> float:
        """Seconds until `key` may try again (0 when it may now)."""
        now = time.monotonic()
        with self._lock:
            q = self._recent(key, now)
            return 0.0 if len(q) < self.limit else q[0] + self.window_s - now

    def failed(self, key: str) -> None:
        with self._lock:
            self._recent(key, time.monotonic()).append(time.monotonic())

    def succeeded(self, key: str) -> None:
        with self._lock:
            self._failures.pop(key, None)


throttle = LoginThrottle()


class Identity:
    """The user behind a request and how they proved it (`token` or `session`)."""

    def __init__(self, user_id: int, username: str, role: Role, via: str) -> None:
        self.user_id = user_id
        self.username = username
        self.role = role
        self.via = via


def _refuse(reason: str, token: str) -> ApiError:
    """Audit a refused credential with its source address (in its own transaction), and the 401 to raise."""
    with web_state().sessions.begin() as s:
        audit_store.record(
            s, actor="anonymous", action="api.auth_failed", target=request.path[:600], at=_now(), source_ip=client_ip(),
            # enough of the token to tell a typo from a scan, never enough to use it
            details={"reason": reason, "token_prefix": token[:8]},
        )
    return ApiError(401, "unauthorized", reason)


def _load_identity() -> None:
    g.identity = None
    header = request.headers.get("Authorization", "")
    if header:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise _refuse("the Authorization header must be 'Bearer <token>'", "")
        now = _now()
        with web_state().read_sessions() as s:
            found = user_store.find_token(s, token.strip())
            if found is None:
                raise _refuse("the bearer token is unknown or revoked", token.strip())
            row, user = found
            g.identity = Identity(user.id, user.username, Role(user.role), "token")
            stale = user_store.needs_last_used(row, now)
        if stale:
            with web_state().sessions.begin() as s:
                user_store.mark_used(s, row.id, now)
        return
    user_id = session.get("user_id")
    if user_id is not None:
        with web_state().read_sessions() as s:
            user = s.get(User, user_id)
            if user is not None and user.is_active:
                g.identity = Identity(user.id, user.username, Role(user.role), "session")
            else:
                session.clear()


def current_identity() -> Identity | None:
    return g.get("identity")


def requires(role: Role) -> Callable[[F], F]:
    """Let the view run only for a user with at least `role`."""

    def decorate(view: F) -> F:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            ident = current_identity()
            if ident is None:
                if request.path.startswith("/api/"):
                    raise ApiError(401, "unauthorized", "log in or send 'Authorization: Bearer <token>'")
                return redirect(url_for("ui.login", next=request.full_path.rstrip("?")))
            if not ident.role.allows(role):
                raise ApiError(403, "forbidden", f"this needs the {role.value} role; you are {ident.role.value}")
            if ident.via == "session" and request.method not in ("GET", "HEAD", "OPTIONS"):
                csrf.protect()
            return view(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate


def log_in(user: User) -> None:
    session.clear()
    session["user_id"] = user.id
    session.permanent = True


def log_out() -> None:
    session.clear()


def client_ip() -> str | None:
    return request.remote_addr


def audit(s: Any, action: str, target: str | None, details: dict[str, Any] | None = None) -> None:
    """Record a mutating action of the current user in the caller's transaction."""
    ident = current_identity()
    audit_store.record(
        s, actor=ident.username if ident else "anonymous", action=action, target=target, at=_now(),
        source_ip=client_ip(), details=details,
    )


def init_auth(app: Flask) -> None:
    app.config.setdefault("WTF_CSRF_TIME_LIMIT", None)
    # CSRF is checked in `requires` (cookie sessions only), not globally: bearer requests need none
    app.config["WTF_CSRF_CHECK_DEFAULT"] = False
    csrf.init_app(app)
    app.before_request(_load_identity)
