"""GET /openapi.json: an OpenAPI 3.1 document generated from the endpoint declarations and their models."""

from __future__ import annotations

import functools
import json
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from flask import Response
from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from webui.api.endpoint import ENDPOINTS, Endpoint, endpoint
from webui.api.schemas import ErrorResponse

REF = "#/components/schemas/{model}"
_DESCRIPTIONS = {
    200: "OK", 201: "Created", 202: "Accepted: the scheduler acts on it", 400: "Malformed request (body not JSON, missing CSRF token)",
    401: "Not authenticated", 403: "The role, or the permission on the DAG, is too low", 404: "Not found",
    409: "Conflicts with the current state", 413: "The request body is too large",
    422: "Validation failed: details lists each problem with its location", 429: "Too many requests: try again after Retry-After seconds",
    503: "Unhealthy",
}
_RETRY_AFTER = {"Retry-After": {"description": "seconds to wait", "required": True, "schema": {"type": "string", "pattern": "^[0-9]+$"}}}


def _version() -> str:
    try:
        return version("orchestrator")
    except PackageNotFoundError:
        return "0"


def _models() -> list[tuple[type[BaseModel], JsonSchemaMode]]:
    wanted: dict[tuple[type[BaseModel], JsonSchemaMode], None] = {(ErrorResponse, "serialization"): None}
    for ep in ENDPOINTS:
        for model in (ep.path_model, ep.query_model, ep.body_model):
            if model is not None:
                wanted[(model, "validation")] = None
        for model in (ep.response_model, *ep.other_responses.values()):
            if model is not None:
                wanted[(model, "serialization")] = None
    return list(wanted)


def _parameters(schema: dict[str, Any], where: str) -> list[dict[str, Any]]:
    """One parameter per property of a path or query model."""
    required = set(schema.get("required", ()))
    params = []
    for name, prop in schema.get("properties", {}).items():
        if "default" in prop and prop["default"] is None:
            prop = {k: v for k, v in prop.items() if k != "default"}  # "absent", not a null to send
        param: dict[str, Any] = {"name": name, "in": where, "required": where == "path" or name in required, "schema": prop}
        if prop.get("description"):
            param["description"] = prop["description"]
        if prop.get("type") == "array":
            param.update(style="form", explode=True)  # ?state=a&state=b
        params.append(param)
    return params


def _needs(ep: Endpoint) -> str:
    if ep.role is None:
        return ""
    if ep.dag_permission is None:
        return f"\n\nNeeds the {ep.role.value} role."
    return (f"\n\nNeeds the {ep.role.value} role, or, for a user in DAG roles, {ep.dag_permission.value} permission on the DAG"
            " (by its dag_id or one of its tags).")


def _json(ref: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": ref}}


def _operation(ep: Endpoint, refs: dict[tuple[type[BaseModel], JsonSchemaMode], Any], defs: dict[str, Any]) -> dict[str, Any]:
    def inline(model: type[BaseModel]) -> dict[str, Any]:
        name = refs[(model, "validation")]["$ref"].rsplit("/", 1)[-1]
        return defs[name]

    params: list[dict[str, Any]] = []
    if ep.path_model is not None:
        params += _parameters(inline(ep.path_model), "path")
    if ep.query_model is not None:
        params += _parameters(inline(ep.query_model), "query")
    responses: dict[str, Any] = {}
    if ep.text:
        ok: dict[str, Any] = {"description": _DESCRIPTIONS[ep.status], "content": {"text/plain": {"schema": {"type": "string"}}}}
    elif ep.response_model is not None:
        ok = {"description": _DESCRIPTIONS[ep.status], "content": _json(refs[(ep.response_model, "serialization")])}
    else:
        ok = {"description": _DESCRIPTIONS[ep.status], "content": _json({"type": "object"})}
    if ep.headers:
        ok["headers"] = {name: {"description": text, "required": True, "schema": {"type": "string"}} for name, text in ep.headers.items()}
    if ep.links:
        ok["links"] = ep.links
    responses[str(ep.status)] = ok
    for status, model in ep.other_responses.items():
        responses[str(status)] = {"description": _DESCRIPTIONS[status], "content": _json(refs[(model, "serialization")])}
    for status in ep.error_statuses:
        responses[str(status)] = {"description": _DESCRIPTIONS[status], "content": _json({"$ref": REF.format(model="ErrorResponse")})}
        if status == 429:
            responses[str(status)]["headers"] = _RETRY_AFTER
    op: dict[str, Any] = {
        "operationId": ep.name, "summary": ep.summary, "tags": [ep.tag], "parameters": params, "responses": responses,
        "security": [{"bearer": []}] if ep.role is not None else [],
    }
    if ep.description:
        op["description"] = ep.description + _needs(ep)
    if ep.body_model is not None:
        op["requestBody"] = {"required": ep.body_required, "content": _json(refs[(ep.body_model, "validation")])}
    return op


def _allows_null(prop: dict[str, Any]) -> bool:
    return prop.get("type") == "null" or any(_allows_null(p) for p in prop.get("anyOf", ()))


def _drop_null_defaults(defs: dict[str, Any]) -> None:
    """A field that may be left out but not sent as null (SkipJsonSchema[None]) has no default to show."""
    for schema in defs.values():
        for prop in schema.get("properties", {}).values():
            if "default" in prop and prop["default"] is None and not _allows_null(prop):
                del prop["default"]


@functools.cache
def openapi_document() -> dict[str, Any]:
    """The whole document; the endpoints are fixed at import, so it is built once."""
    refs, top = models_json_schema(_models(), ref_template=REF)
    defs: dict[str, Any] = top.get("$defs", {})
    _drop_null_defaults(defs)
    paths: dict[str, dict[str, Any]] = {}
    for ep in ENDPOINTS:
        paths.setdefault(ep.path, {})[ep.method] = _operation(ep, refs, defs)
    # the path and query models became parameters; they are not bodies of anything
    for ep in ENDPOINTS:
        for model in (ep.path_model, ep.query_model):
            if model is not None and model is not ep.body_model:
                defs.pop(refs[(model, "validation")]["$ref"].rsplit("/", 1)[-1], None)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "orchestrator REST API",
            "version": _version(),
            "description": "Operate DAGs and runs. Every error answers {\"error\": {\"code\", \"message\", \"details\"}}.",
        },
        "servers": [{"url": "/api/v1"}],
        "paths": paths,
        "components": {
            "schemas": defs,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "a token from `orchestrator tokens create`"}
            },
        },
    }


@endpoint("GET", "/openapi.json", summary="This document", tag="system", role=None)
def openapi_json() -> Response:
    """The OpenAPI 3.1 description of this API."""
    return Response(json.dumps(openapi_document()), mimetype="application/json")
