"""Pure decisions and the plain data they work on: spec, states, planner, schedule, retry, circuit, templating.

Imports nothing of ours outside `core`; no SQLAlchemy, no Dask, no clock reads (time is passed in).
"""
