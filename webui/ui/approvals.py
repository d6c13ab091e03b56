"""The Approvals page: the logged-in user's inbox with its buttons, the other open requests, and recent decisions.

The buttons act through the REST API (POST /api/v1/approvals/{id}/decisions, audited there);
the page itself only reads.
"""

from __future__ import annotations

from typing import Any

from flask import render_template
from sqlalchemy import select

from orchestrator.core.approvals import tally
from orchestrator.store import approvals as approval_store
from orchestrator.store.models import User
from orchestrator.store.users import Role
from webui.auth import current_identity, requires
from webui.state import web_state
from webui.ui import ui_blueprint

SHOWN = 200  # open requests per section; the API pages through the rest
RECENT = 50


@ui_blueprint.get("/approvals")
@requires(Role.VIEWER)
def approvals() -> Any:
    ident = current_identity()
    assert ident is not None  # `requires` let the view run
    with web_state().read_sessions() as s:
        me = approval_store.decider(s.get(User, ident.user_id))
        inbox, inbox_total = approval_store.page(s, state=None, mine=me, limit=SHOWN, offset=0)
        open_requests, _ = approval_store.page(s, state=approval_store.OPEN, limit=SHOWN, offset=0)
        decided, _ = approval_store.page(s, state=approval_store.CLOSED, limit=RECENT, offset=0, newest_first=True)
        users = list(s.scalars(select(User.username).where(User.is_active.is_(True), User.username != ident.username).order_by(User.username)))
    mine = {v.row.id for v in inbox}
    return render_template(
        "approvals.html", inbox=inbox, inbox_total=inbox_total, others=[v for v in open_requests if v.row.id not in mine],
        decided=decided, users=users, spec_of=approval_store.spec_of, tally=tally,
    )
