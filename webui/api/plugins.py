"""/plugins: the loaded plugins, where each came from, its hooks, and those that failed to load."""

from __future__ import annotations

from typing import Literal

from flask import current_app
from pydantic import BaseModel, Field

from orchestrator.plugins.log_store import LogStores
from orchestrator.plugins.manager import Plugins, load_plugins
from orchestrator.store.users import Role
from webui.api.endpoint import endpoint
from webui.state import web_state

EXTENSION = "orchestrator_plugins"
LOG_STORES = "orchestrator_log_stores"


def app_plugins() -> Plugins:
    """The plugins the app loaded at start-up (loaded here for an app made without them)."""
    plugins: Plugins | None = current_app.extensions.get(EXTENSION)
    if plugins is None:
        plugins = current_app.extensions[EXTENSION] = load_plugins(web_state().config)
    return plugins


def log_stores() -> LogStores:
    """The log stores of the app's plugins, to read logs that outgrew their rows."""
    stores: LogStores | None = current_app.extensions.get(LOG_STORES)
    if stores is None:
        stores = current_app.extensions[LOG_STORES] = LogStores(app_plugins().log_store_types, web_state().config)
    return stores


class PluginOut(BaseModel):
    name: str
    source: Literal["builtin", "entry point", "plugins folder"]
    location: str
    hooks: list[str]
    error: str | None = None
    traceback: str | None = None


class PluginList(BaseModel):
    plugins: list[PluginOut]
    step_types: dict[str, str]
    trigger_types: dict[str, str] = Field(default_factory=dict, description="what deferrable sensors can wait for, by trigger name")
    error: str | None = None


@endpoint("GET", "/plugins", summary="List plugins", tag="system", role=Role.VIEWER, response=PluginList)
def list_plugins() -> PluginList:
    """Each plugin: builtin, entry point or plugins folder, its hooks, or the error that kept it from loading."""
    return PluginList.model_validate(app_plugins().summary())
