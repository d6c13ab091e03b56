"""The `orchestrator` command line: one module per command group.

The top layer: imports any layer below it; the scheduler and the web UI add their commands through plugin hooks.
"""
