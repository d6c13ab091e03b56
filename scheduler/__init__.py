"""The scheduler service: the loop, dispatch to the executor, timers and cron.

Imports any `orchestrator` layer (it applies what `core` decides through `store` and `execution`); never `webui`.
"""
