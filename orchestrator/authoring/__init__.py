"""The Python authoring API: `DAG`, tasks and `@task`, task groups, loops, setup/teardown, state machines.

Imports only `core`; a DAG compiles to a `core.spec.DagSpec` plus its callables.
"""
