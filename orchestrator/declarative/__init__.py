"""YAML/JSON workflow files (seed 002's shape) checked and compiled to the same DAG as Python authoring.

Imports `core`, `authoring` and the plugin manager (step types by name); never the store or execution.
"""
