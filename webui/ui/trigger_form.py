"""The trigger form: a DAG's params drawn as a form from their JSON Schemas (Airflow's Params UI).

`form_fields` is pure: one field per top-level property, its widget chosen by the schema's type
(boolean: a checkbox, integer/number: a number box, enum: a choice, array: one item per line,
object: JSON, anything else: text). The page sends the values as the run's conf through the API,
which checks them against the same schema.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from flask import render_template

from orchestrator.core.spec import DagSpec
from orchestrator.store import queries
from orchestrator.store.users import Role
from webui.auth import requires
from webui.state import web_state
from webui.ui import ui_blueprint


def _widget(schema: Mapping[str, Any]) -> str:
    kind = schema.get("type")
    kinds = set(kind) - {"null"} if isinstance(kind, list) else {kind}
    if "enum" in schema:
        return "select"
    if kinds == {"boolean"}:
        return "checkbox"
    if kinds <= {"integer", "number"} and kinds:
        return "number"
    if kinds == {"array"}:
        return "lines"
    if kinds == {"object"}:
        return "json"
    return "text"


def form_fields(schema: Mapping[str, Any] | None, params: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The form's fields: name, widget, label, description, value (the param's), choices, required."""
    properties = (schema or {}).get("properties") or {name: {"default": value} for name, value in params.items()}
    required = set((schema or {}).get("required") or ())
    fields = []
    for name, prop in properties.items():
        widget = _widget(prop)
        value = params.get(name, prop.get("default"))
        if widget == "lines":
            shown: Any = "\n".join(str(v) for v in value or [])
        elif widget == "json" or (widget == "text" and value is not None and not isinstance(value, str)):
            widget = "json" if widget == "json" or not isinstance(value, str) else widget
            shown = json.dumps(value, indent=2)
        else:
            shown = value
        fields.append({
            "name": name, "widget": widget, "label": prop.get("title") or name, "description": prop.get("description"),
            "value": shown, "choices": list(prop.get("enum") or []), "required": name in required,
            "item_type": (prop.get("items") or {}).get("type") if widget == "lines" else None,
            "number_type": "integer" if prop.get("type") == "integer" else "number",
        })
    return fields


@ui_blueprint.get("/dags/<dag_id>/trigger")
@requires(Role.OPERATOR)
def trigger_form(dag_id: str) -> Any:
    with web_state().read_sessions() as s:
        spec = DagSpec.model_validate(queries.get_dag(s, dag_id).spec)
    return render_template("trigger_form.html", spec=spec, fields=form_fields(spec.input_schema, spec.params))
