"""The store: the SQLAlchemy models, the engine, and one module per table's writes; `queries` holds the reads.

Imports only `core`: no authoring, no user code, no Dask.
"""
