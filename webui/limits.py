"""API rate limits (flask-limiter): per bearer token, per client address, and for failed
authentication per client address. A request over a limit gets 429 with `Retry-After` (seconds).

Only /api/ is limited; the login form has its own throttle (webui.auth.LoginThrottle). Counters
live in `api_rate_limit_storage` (memory of this process by default; `redis://...` shares them
between several web servers). An empty limit string switches that limit off.
"""

from __future__ import annotations

import hashlib

from flask import Flask, Response, request
from flask_limiter import ApplicationLimit, Limiter

from orchestrator.core.config import Config

EXTENSION = "orchestrator_limiter"


def _is_api() -> bool:
    return request.path.startswith("/api/")


def _client() -> str:
    return request.remote_addr or "unknown"


def _bearer() -> str | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def _token_key() -> str:
    # the digest, so no live token sits in the limiter's storage (which may be a shared Redis)
    token = _bearer() or ""
    return "token:" + hashlib.sha256(token.encode()).hexdigest()[:32]


def _auth_failed(response: Response) -> bool:
    return response.status_code == 401


def init_limits(app: Flask, config: Config) -> Limiter:
    """Attach the limiter to `app` with the limits of `config`."""
    limits: list[ApplicationLimit] = []
    if config.api_rate_limit_per_ip:
        limits.append(ApplicationLimit(config.api_rate_limit_per_ip, key_function=_client, scope="ip"))
    if config.api_rate_limit_per_token:
        limits.append(
            ApplicationLimit(
                config.api_rate_limit_per_token, key_function=_token_key, scope="token", exempt_when=lambda: _bearer() is None
            )
        )
    if config.api_auth_failure_limit:
        # counts only answers that refused the credentials; once over, even a good token waits
        limits.append(
            ApplicationLimit(config.api_auth_failure_limit, key_function=_client, scope="auth-failures", deduct_when=_auth_failed)
        )
    limiter = Limiter(
        key_func=_client,
        app=app,
        application_limits=limits,
        storage_uri=config.api_rate_limit_storage,
        headers_enabled=True,
        retry_after="delta-seconds",
        strategy="moving-window",
    )
    limiter.request_filter(lambda: not _is_api())
    app.extensions[EXTENSION] = limiter
    return limiter
