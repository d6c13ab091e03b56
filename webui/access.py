"""Per-DAG permissions in the web app: what the current user may do to which DAG.

The rules are orchestrator.store.permissions's; this module finds the current user's grants (once per
request), answers 403 for a DAG they may not touch, and lists the DAGs they may read. The UI's
pages about one DAG (a `dag_id` in their URL) need read permission on it; its buttons call the
API, which checks the rest.
"""

from __future__ import annotations

from collections.abc import Iterable

from flask import Flask, g, request
from sqlalchemy import select
from sqlalchemy.orm import Session

from orchestrator.store import access as access_store
from orchestrator.store.models import Dag
from orchestrator.store.permissions import DagAccess, DagPermission, denial
from webui.auth import current_identity
from webui.errors import ApiError
from webui.state import web_state


def current_access() -> DagAccess:
    """The current user's DAG access (they must be logged in)."""
    cached = g.get("dag_access")
    if cached is None:
        ident = current_identity()
        if ident is None:
            raise ApiError(401, "unauthorized", "log in or send 'Authorization: Bearer <token>'")
        with web_state().read_sessions() as s:
            cached = g.dag_access = access_store.access_of(s, ident.user_id, ident.role)
    return cached


def _tags(session: Session, dag_id: str) -> tuple[str, ...] | None:
    """The DAG's tags, or None when there is no such DAG (its view answers 404 then)."""
    row = session.execute(select(Dag.spec["tags"]).where(Dag.dag_id == dag_id)).first()
    return None if row is None else tuple(row[0] or ())


def require_dag(dag_id: str, needed: DagPermission) -> None:
    """403 unless the current user may do `needed` to `dag_id`; an unknown DAG is left to the view."""
    access = current_access()
    if not access.restricted:
        # the global role decides, whichever DAG it is
        if not access.allows(dag_id, (), needed):
            raise ApiError(403, "forbidden", denial(dag_id, needed, access))
        return
    with web_state().read_sessions() as s:
        tags = _tags(s, dag_id)
    if tags is not None and not access.allows(dag_id, tags, needed):
        raise ApiError(403, "forbidden", denial(dag_id, needed, access))


def require_possible(needed: DagPermission) -> None:
    """403 at once for a user in no DAG role whose global role cannot give `needed` on any DAG,
    before the request's inputs are even validated (they could not help)."""
    access = current_access()
    if not access.restricted and not access.allows("", (), needed):
        raise ApiError(403, "forbidden", denial(None, needed, access))


def readable_dag_ids(session: Session) -> set[str] | None:
    """The DAGs the current user may read, or None when that is all of them."""
    access = current_access()
    if not access.restricted:
        return None
    rows = session.execute(select(Dag.dag_id, Dag.spec["tags"])).all()
    return {dag_id for dag_id, tags in rows if access.allows(dag_id, tags or (), DagPermission.READ)}


def may(permission: str, dag_id: str | None = None, tags: Iterable[str] | None = None) -> bool:
    """Whether the current user may do `permission` ("read", "trigger", "edit") to the DAG: the
    UI's buttons show only then. Without `dag_id`, the DAG of the page's URL; without `tags`,
    the DAG's own (read once per request)."""
    if current_identity() is None:
        return False
    dag_id = dag_id if dag_id is not None else (request.view_args or {}).get("dag_id")
    if dag_id is None:
        return False
    access = current_access()
    if access.restricted and tags is None:
        cache = g.setdefault("dag_tags", {})
        if dag_id not in cache:
            with web_state().read_sessions() as s:
                cache[dag_id] = _tags(s, dag_id) or ()
        tags = cache[dag_id]
    return access.allows(dag_id, tuple(tags or ()), DagPermission(permission))


def _ui_dag_pages_need_read() -> None:
    dag_id = (request.view_args or {}).get("dag_id")
    if dag_id is not None and current_identity() is not None:
        require_dag(dag_id, DagPermission.READ)


def init_access(app: Flask, blueprint_name: str) -> None:
    """Check read permission before every page of `blueprint_name` about one DAG; templates ask
    `may(...)` which buttons to show."""
    app.before_request_funcs.setdefault(blueprint_name, []).append(_ui_dag_pages_need_read)
    app.add_template_global(may, "may")
