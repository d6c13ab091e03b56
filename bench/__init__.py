"""Benchmark harness: W1-W4 of shared/bench/WORKLOADS.md against this project (`python -m bench`).

Not tests: it measures, it asserts nothing. Every figure comes from the system's own records
(task_instance / dag_run start and end times) or from raw Dask measured in the same process.
"""
