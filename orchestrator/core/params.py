"""`Param`: a DAG parameter with a default and a JSON Schema (Airflow's `Param`).

A DAG's `params={"names": Param(["Ann"], type="array", title="Names")}` gives the run its
default value and adds the schema to the DAG's `input_schema`, so a run's conf is checked
against it (a bad trigger is refused with each problem named) and the UI draws a trigger form
from it. Plain values in `params` stay plain values.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from orchestrator.core.errors import DagDefinitionError

_NOTSET: Any = object()


class Param:
    """A parameter's default (optional: without one the trigger must give it) and its JSON Schema
    keywords (`type`, `enum`, `minimum`, `format`, `title`, ...). `description` documents it."""

    def __init__(self, default: Any = _NOTSET, description: str | None = None, **schema: Any) -> None:
        self.value = default
        self.description = description
        self.schema = dict(schema)

    @property
    def has_value(self) -> bool:
        return self.value is not _NOTSET

    def resolve(self) -> Any:
        """The default; raises when the param has none (a value must come with the run)."""
        if not self.has_value:
            raise DagDefinitionError("this Param has no default: a value must be given when the run is triggered")
        return self.value

    def json_schema(self) -> dict[str, Any]:
        out = dict(self.schema)
        if self.description is not None:
            out.setdefault("description", self.description)
        if self.has_value:
            out["default"] = self.value
        return out

    def __repr__(self) -> str:
        return f"Param({self.value if self.has_value else '<no default>'!r}, {self.schema!r})"


def split_params(dag_id: str, params: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The params' values (defaults) and, when any is a Param, the JSON Schema of the whole set
    (every key a property; Params without a default required)."""
    values: dict[str, Any] = {}
    properties: dict[str, Any] = {}
    required: list[str] = []
    for key, value in params.items():
        if isinstance(value, Param):
            properties[key] = value.json_schema()
            if value.has_value:
                values[key] = value.value
            else:
                required.append(key)
        else:
            values[key] = value
            properties[key] = {"default": value}
    if not any(isinstance(v, Param) for v in params.values()):
        return values, None
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required
    return values, schema
