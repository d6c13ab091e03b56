"""A DAG's input schema: the JSON Schema a run's input (params with its conf over them) must match.

Declarative workflows declare it as `inputSchema`, Python DAGs as `DAG(input_schema=...)`. It is
checked when the DAG is defined (a bad schema is an import error) and when a person asks for a
run (API, CLI, `dags test`): a conf that does not match is refused with the reasons.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from jsonschema import exceptions as jsonschema_errors
from jsonschema.validators import validator_for

from orchestrator.core.errors import DagDefinitionError, OrchestratorError

MAX_REPORTED = 20


class InvalidRunInputError(OrchestratorError):
    """A run's input does not match its DAG's input schema; `problems` lists each mismatch."""

    def __init__(self, dag_id: str, problems: list[dict[str, str]]) -> None:
        self.dag_id = dag_id
        self.problems = problems
        listed = "; ".join(f"{p['path']}: {p['message']}" for p in problems)
        super().__init__(f"the run's input does not match the input schema of DAG {dag_id!r}: {listed}")


def check_schema(schema: Any, where: str) -> dict[str, Any]:
    """`schema` if it is a valid JSON Schema (of the draft its `$schema` names, else 2020-12)."""
    if not isinstance(schema, Mapping):
        raise DagDefinitionError(f"{where}: an input schema must be a JSON Schema object, not {type(schema).__name__}")
    try:
        validator_for(schema).check_schema(schema)
    except jsonschema_errors.SchemaError as exc:
        raise DagDefinitionError(f"{where}: not a valid JSON Schema: {_path(exc.absolute_path)}: {exc.message}") from None
    return dict(schema)


def schema_defaults(schema: Mapping[str, Any]) -> dict[str, Any]:
    """The `default` of each top-level property: a run's params where its conf says nothing."""
    properties = schema.get("properties")
    if not isinstance(properties, Mapping):
        return {}
    return {name: prop["default"] for name, prop in properties.items() if isinstance(prop, Mapping) and "default" in prop}


def input_problems(schema: Mapping[str, Any], value: Any) -> list[dict[str, str]]:
    """Each way `value` fails `schema` ({"path", "message"}, in path order); [] when it matches."""
    cls = validator_for(schema)
    validator = cls(schema, format_checker=cls.FORMAT_CHECKER)
    errors = sorted(validator.iter_errors(value), key=lambda e: [str(p) for p in e.absolute_path])
    return [{"path": _path(e.absolute_path), "message": e.message} for e in errors[:MAX_REPORTED]]


def check_run_input(dag_id: str, spec: Mapping[str, Any], conf: Mapping[str, Any] | None) -> None:
    """Refuse a run whose input ({**params, **conf}) does not match the DAG's `input_schema` (spec as JSON)."""
    schema = spec.get("input_schema")
    if not schema:
        return
    problems = input_problems(schema, {**(spec.get("params") or {}), **(conf or {})})
    if problems:
        raise InvalidRunInputError(dag_id, problems)


def _path(parts: Any) -> str:
    """`items[2].price`, or `(input)` for the whole document."""
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(input)"
