"""What the app knows beyond Flask: configuration and database sessions."""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

from flask import current_app
from sqlalchemy.orm import Session, sessionmaker

from orchestrator.core.config import Config


@dataclass(frozen=True)
class WebState:
    config: Config
    sessions: sessionmaker[Session]
    read_sessions: sessionmaker[Session]


def web_state() -> WebState:
    """The state of the running app."""
    state: WebState = current_app.extensions["orchestrator"]
    return state


LISTENERS = "orchestrator_listeners"


def web_listeners() -> Any:
    """The app's ListenerThread (None before the plugins are loaded)."""
    return current_app.extensions.get(LISTENERS)


def publishing_session() -> AbstractContextManager[Session]:
    """A write transaction whose committed events the plugins' listeners hear (user actions)."""
    from orchestrator.plugins.listeners import publishing

    return publishing(web_state().sessions, web_listeners())
