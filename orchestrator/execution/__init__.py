"""Running tries: the executor protocol, the Dask executor, the runtime on the worker, code bundles, the loader.

Imports `core`, `store`, `authoring`, `declarative` and `plugins` (to load DAG files and run their tasks).
"""
