"""`@endpoint`: one declaration per API operation, used by Flask routing and the OpenAPI document.

A declaration names the least role (or, for an operation on one DAG, the DAG permission it
needs: webui/access.py), the pydantic models of the path, query and body, and the response
model. The wrapper checks the role first (401/403), then validates every input (422 naming
where: path, query or body), calls the handler with the models and serialises its answer.
openapi.py reads `ENDPOINTS` to describe exactly these operations.
"""

from __future__ import annotations

import json
import math
import re
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flask import Response, request
from pydantic import BaseModel, ValidationError

from orchestrator.store.permissions import DagPermission
from orchestrator.store.users import Role
from webui.access import require_dag, require_possible
from webui.api import api_blueprint
from webui.auth import current_identity, requires
from webui.errors import ApiError


@dataclass(frozen=True)
class Endpoint:
    """What openapi.py needs to know about one operation."""

    method: str
    path: str
    name: str
    summary: str
    tag: str
    role: Role | None
    path_model: type[BaseModel] | None
    query_model: type[BaseModel] | None
    body_model: type[BaseModel] | None
    body_required: bool
    response_model: type[BaseModel] | None
    status: int
    text: bool
    headers: dict[str, str] = field(default_factory=dict)
    conflicts: bool = False
    other_responses: dict[int, type[BaseModel]] = field(default_factory=dict)
    description: str | None = None
    dag_permission: DagPermission | None = None
    links: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def error_statuses(self) -> list[int]:
        """The error answers this operation can give, each with the ErrorResponse body."""
        # a malformed or unknown bearer token is refused on every path, and every path is rate limited
        statuses = {401, 429}
        if self.role is not None:
            statuses.add(403)
        if self.path_model is not None:
            statuses.add(404)
        if self.path_model or self.query_model or self.body_model:
            statuses.add(422)
        if self.body_model is not None:
            statuses |= {400, 413}  # malformed JSON or a missing CSRF token on a cookie session; too large
        if self.conflicts:
            statuses.add(409)
        return sorted(statuses - set(self.other_responses))


ENDPOINTS: list[Endpoint] = []
MAX_BODY_BYTES = 2_000_000


def _reject_constant(name: str) -> Any:
    # json.loads accepts NaN and Infinity, which are not JSON and PostgreSQL refuses to store
    raise ValueError(f"{name} is not valid JSON")


def _finite_float(text: str) -> float:
    # "1e400" parses to infinity, which JSON columns (PostgreSQL) refuse
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"the number {text} is too large")
    return value


def _validate(model: type[BaseModel], data: Any, where: str) -> BaseModel:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        details = [
            {"loc": [where, *e["loc"]], "msg": e["msg"], "type": e["type"]}
            for e in exc.errors(include_url=False, include_context=False, include_input=False)
        ]
        raise ApiError(422, "validation_error", f"the request's {where} does not match the expected shape", details) from None


def _is_list(annotation: Any) -> bool:
    return typing.get_origin(annotation) is list


def _query(model: type[BaseModel]) -> BaseModel:
    data: dict[str, Any] = {}
    for key in request.args:
        values = request.args.getlist(key)
        known = model.model_fields.get(key)
        if known is not None and _is_list(known.annotation):
            data[key] = values
        else:
            # a repeated single-valued parameter stays a list, which validation refuses
            data[key] = values[0] if len(values) == 1 else values
    return _validate(model, data, "query")


def _body(model: type[BaseModel], required: bool) -> BaseModel:
    # read no more than this (chunked bodies included): werkzeug answers 413 beyond it
    request.max_content_length = MAX_BODY_BYTES
    raw = request.get_data(cache=True)
    if not raw.strip():
        if required:
            raise ApiError(422, "validation_error", "this operation needs a JSON body", [
                {"loc": ["body"], "msg": "Field required", "type": "missing"},
            ])
        data: Any = {}
    else:
        try:
            data = json.loads(raw, parse_constant=_reject_constant, parse_float=_finite_float)
            # "\ud800" escapes parse to lone surrogates, which no answer could encode back into UTF-8
            json.dumps(data, ensure_ascii=False).encode()
        except (ValueError, RecursionError) as exc:
            raise ApiError(400, "bad_request", f"the request body is not valid JSON: {exc}") from None
    return _validate(model, data, "body")


def _respond(result: Any, status: int) -> Response:
    if isinstance(result, Response):
        return result
    if isinstance(result, BaseModel):
        return Response(result.model_dump_json(), status=status, mimetype="application/json")
    return Response(json.dumps(result), status=status, mimetype="application/json")


def endpoint(
    method: str,
    path: str,
    *,
    summary: str,
    tag: str,
    role: Role | None,
    path_model: type[BaseModel] | None = None,
    query: type[BaseModel] | None = None,
    body: type[BaseModel] | None = None,
    body_required: bool = False,
    response: type[BaseModel] | None = None,
    status: int = 200,
    text: bool = False,
    headers: dict[str, str] | None = None,
    conflicts: bool = False,
    other_responses: dict[int, type[BaseModel]] | None = None,
    dag: DagPermission | None = None,
    authorize: Callable[[Any], None] | None = None,
    links: dict[str, dict[str, Any]] | None = None,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register `path` (OpenAPI style, `{name}` segments) on the API blueprint.

    The handler is called with keyword arguments `path`, `query` and `body` (the validated
    models, for those declared) and returns a pydantic model, or a Response as it is. With
    `dag`, the operation acts on one DAG, on which the caller needs that permission (`role` is
    what it takes for a user in no DAG role): the DAG of the path's `dag_id` is checked here,
    any other (a schedule's) by the handler with webui.access.require_dag. `authorize(path)`
    checks what else the caller must be allowed before the query and body are even read (403).
    `links` are OpenAPI link objects of the success answer (what to call next with its values).
    """

    def decorate(handler: Callable[..., Any]) -> Callable[..., Any]:
        def view(**url_values: str) -> Response:
            inputs: dict[str, BaseModel] = {}
            if dag is not None:
                require_possible(dag)
            if path_model is not None:
                inputs["path"] = _validate(path_model, url_values, "path")
                if dag is not None and "dag_id" in path_model.model_fields:
                    require_dag(inputs["path"].dag_id, dag)
                if authorize is not None:
                    authorize(inputs["path"])
            if query is not None:
                inputs["query"] = _query(query)
            elif request.args:
                raise ApiError(422, "validation_error", "this operation takes no query parameters", [
                    {"loc": ["query", key], "msg": "Extra inputs are not permitted", "type": "extra_forbidden"} for key in request.args
                ])
            if body is not None:
                inputs["body"] = _body(body, body_required)
            return _respond(handler(**inputs), status)

        view.__name__ = handler.__name__
        view.__doc__ = handler.__doc__
        # a DAG grant may allow more than the global role: require_dag decides past logging in
        guarded = requires(Role.VIEWER if dag is not None else role)(view) if role is not None else view
        rule = re.sub(r"\{(\w+)\}", r"<\1>", path)
        api_blueprint.add_url_rule(rule, endpoint=handler.__name__, view_func=guarded, methods=[method])
        ENDPOINTS.append(
            Endpoint(
                method=method.lower(), path=path, name=handler.__name__, summary=summary, tag=tag, role=role,
                path_model=path_model, query_model=query, body_model=body, body_required=body_required,
                response_model=response, status=status, text=text, headers=headers or {}, conflicts=conflicts,
                other_responses=other_responses or {}, description=(handler.__doc__ or "").strip() or None,
                dag_permission=dag, links=links or {},
            )
        )
        return handler

    return decorate


def actor_name() -> str:
    """Who the event log names for an action of the current user."""
    ident = current_identity()
    return ident.username if ident is not None else "anonymous"
