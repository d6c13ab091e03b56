"""YAML/JSON workflow files (seed 002's shape) checked and compiled to the same DAG as Python authoring.

Imports only `core` and `authoring` (step types by name through `authoring.step_types`); never the store.
"""
