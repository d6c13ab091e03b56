"""Connections for the tasks' work items: the environment, the plugins' secrets backends, then this database (cached briefly)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from orchestrator.core.config import Config
from orchestrator.plugins.manager import load_plugins
from orchestrator.store import connections as connection_store


def connection_resolver(config: Config, sessions: sessionmaker[Session]) -> Callable[[str], dict[str, Any] | None]:
    """Connections for the tasks' WorkItems: env, the plugins' secrets backends, this database (cached briefly)."""
    return connection_store.resolver(config, sessions, load_plugins(config).secrets_backends())
