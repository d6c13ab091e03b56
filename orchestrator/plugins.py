"""The plugin manager: built from the hook specs, with entry-point plugins loaded."""

from __future__ import annotations

import pluggy

from orchestrator import hookspecs

ENTRY_POINT_GROUP = "orchestrator.plugins"


def make_plugin_manager(*, load_entry_points: bool = True) -> pluggy.PluginManager:
    """A fresh PluginManager with our hook specs and the installed plugins."""
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    if load_entry_points:
        pm.load_setuptools_entrypoints(ENTRY_POINT_GROUP)
    pm.check_pending()
    return pm
