"""Day-two operations the CLI, the scheduler and the web UI share: folder sync, retention, tracing, definitions.

Imports every layer below it (`execution` and down); nothing in `orchestrator` imports it but the CLI.
"""
