"""Templates over a run's values, rendered by the scheduler: `"charge-{{ params.order_id }}"`.

Used by idempotency keys and a SubDagTask's input. Jinja2 (already installed with Flask) in its
`SandboxedEnvironment`: a template reads the values it is given and calls no Python it is not
handed (no attribute of an object outside the sandbox's safe list, no import), and `StrictUndefined`
makes a missing value an error instead of an empty string. `str.format` was the alternative; it
reaches any attribute of its arguments (`{0.__class__}`), which a sandbox exists to prevent.
Numbers and lists that templates may build with `*` or `**` are bounded, so a template cannot
exhaust the scheduler's memory.

What a template sees (`run_scope`): `params` (the DAG's params with the run's conf over them, as
the task sees them), `conf` (the run's conf alone), `dag_id`, `run_id`, `task_id`,
`logical_date` (a datetime), `ds` (its date, YYYY-MM-DD) and `ts` (ISO 8601).
"""

from __future__ import annotations

import json
import random
import re
import time
import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any

from jinja2 import StrictUndefined, TemplateError, Undefined
from jinja2.sandbox import SandboxedEnvironment

from orchestrator.core.errors import DagDefinitionError, OrchestratorError

MAX_SEQUENCE = 100_000
"""The longest string or list `*` may build, and the largest number `**` may."""


class TemplateRenderError(OrchestratorError):
    """A template could not be rendered with the run's values (a missing param, a type error)."""


class _Sandbox(SandboxedEnvironment):
    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "*":
            for seq, times in ((left, right), (right, left)):
                if isinstance(seq, (str, list, tuple)) and isinstance(times, int) and len(seq) * times > MAX_SEQUENCE:
                    raise TemplateError(f"the template builds a sequence longer than {MAX_SEQUENCE}")
            return left * right
        if isinstance(left, int) and isinstance(right, int) and right > 64:
            raise TemplateError("the template raises a number to a power above 64")
        return super().call_binop(context, operator, left, right)


_ENV = _Sandbox(undefined=StrictUndefined, autoescape=False)
_WHOLE_EXPRESSION = re.compile(r"\s*\{\{(?P<expr>(?:(?!\}\}|\{\{).)*)\}\}\s*", re.DOTALL)


def check_template(source: str, what: str) -> None:
    """A DagDefinitionError naming `what` when `source` is not a valid template."""
    try:
        _ENV.parse(source)
    except TemplateError as exc:
        raise DagDefinitionError(f"{what}: {source!r} is not a valid template: {exc}") from None


def render(source: str, scope: Mapping[str, Any]) -> str:
    """The template rendered as text."""
    try:
        return _ENV.from_string(source).render(scope)
    except Exception as exc:  # noqa: BLE001 - any error inside the sandbox is the template's
        raise TemplateRenderError(f"template {source!r} cannot be rendered: {type(exc).__name__}: {exc}") from None


def render_value(source: str, scope: Mapping[str, Any]) -> Any:
    """A template that is one `{{ expression }}` gives the expression's own value (a number
    stays a number, a dict a dict); any other is rendered as text."""
    whole = _WHOLE_EXPRESSION.fullmatch(source)
    if whole is None:
        return render(source, scope)
    try:
        value = _ENV.compile_expression(whole.group("expr"), undefined_to_none=False)(**scope)
    except Exception as exc:  # noqa: BLE001 - any error inside the sandbox is the template's
        raise TemplateRenderError(f"template {source!r} cannot be rendered: {type(exc).__name__}: {exc}") from None
    if isinstance(value, Undefined):
        raise TemplateRenderError(f"template {source!r} cannot be rendered: {whole.group('expr').strip()} is undefined")
    return value


def ds_add(ds: str, days: int) -> str:
    """The date `days` after (or before, when negative) `ds`, as YYYY-MM-DD."""
    return (datetime.strptime(ds, "%Y-%m-%d") + timedelta(days=days)).strftime("%Y-%m-%d")


def ds_format(ds: str, input_format: str, output_format: str) -> str:
    """`ds` read with `input_format` and written with `output_format` (strftime codes)."""
    return datetime.strptime(ds, input_format).strftime(output_format)


MACROS = SimpleNamespace(
    ds_add=ds_add, ds_format=ds_format, datetime=datetime, timedelta=timedelta, json=json, time=time, uuid=uuid, random=random,
)
"""Airflow's `macros`: date helpers and the modules templates commonly reach for."""


def render_nested(value: Any, scope: Mapping[str, Any]) -> Any:
    """Every string inside `value` (lists, tuples, dicts) rendered; other values as they are."""
    if isinstance(value, str):
        return render(value, scope) if "{" in value else value
    if isinstance(value, list):
        return [render_nested(v, scope) for v in value]
    if isinstance(value, tuple):
        return tuple(render_nested(v, scope) for v in value)
    if isinstance(value, dict):
        return {k: render_nested(v, scope) for k, v in value.items()}
    return value


def run_scope(
    *, dag_id: str, run_id: str, task_id: str, params: Mapping[str, Any], conf: Mapping[str, Any], logical_date: datetime | None
) -> dict[str, Any]:
    """The names a template over a run sees."""
    return {
        "dag_id": dag_id,
        "run_id": run_id,
        "task_id": task_id,
        "params": dict(params),
        "conf": dict(conf),
        "logical_date": logical_date,
        "ds": logical_date.date().isoformat() if logical_date else None,
        "ds_nodash": logical_date.strftime("%Y%m%d") if logical_date else None,
        "ts": logical_date.isoformat() if logical_date else None,
        "macros": MACROS,
    }
