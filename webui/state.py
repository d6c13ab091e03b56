"""What the app knows beyond Flask: configuration and database sessions."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app
from sqlalchemy.orm import Session, sessionmaker

from orchestrator.config import Config


@dataclass(frozen=True)
class WebState:
    config: Config
    sessions: sessionmaker[Session]
    read_sessions: sessionmaker[Session]


def web_state() -> WebState:
    """The state of the running app."""
    state: WebState = current_app.extensions["orchestrator"]
    return state
