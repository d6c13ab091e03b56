"""One error shape for the API: {"error": {"code", "message", "details"}}; HTML pages for the UI."""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, jsonify, render_template, request
from pydantic import ValidationError
from werkzeug.exceptions import HTTPException

from orchestrator.core.errors import ConflictError, NotFoundError, OrchestratorError
from orchestrator.store.run_creation import RunExistsError


class ApiError(Exception):
    """An error answer with a status, a machine-readable code and a message for people."""

    def __init__(self, status: int, code: str, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details


def _is_api() -> bool:
    return request.path.startswith("/api/")


def error_response(status: int, code: str, message: str, details: Any = None) -> Response:
    """The JSON error body every API failure uses."""
    response = jsonify({"error": {"code": code, "message": message, "details": details}})
    response.status_code = status
    return response


def _render(status: int, code: str, message: str, details: Any = None) -> tuple[Any, int]:
    if _is_api():
        return error_response(status, code, message, details), status
    return render_template("error.html", status=status, code=code, message=message), status


def init_errors(app: Flask) -> None:
    """Map our exceptions, pydantic's and HTTP ones to answers; nothing becomes a bare 500 page."""

    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError) -> Any:
        return _render(exc.status, exc.code, exc.message, exc.details)

    @app.errorhandler(ValidationError)
    def _validation(exc: ValidationError) -> Any:
        details = [
            {"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in exc.errors(include_url=False, include_context=False)
        ]
        return _render(422, "validation_error", "the request does not match the expected shape", details)

    @app.errorhandler(NotFoundError)
    def _not_found(exc: NotFoundError) -> Any:
        return _render(404, "not_found", str(exc))

    @app.errorhandler(RunExistsError)
    @app.errorhandler(ConflictError)
    def _conflict(exc: OrchestratorError) -> Any:
        return _render(409, "conflict", str(exc))

    @app.errorhandler(OrchestratorError)
    def _ours(exc: OrchestratorError) -> Any:
        return _render(400, "bad_request", str(exc))

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> Any:
        code = (exc.name or "error").lower().replace(" ", "_")
        body, status = _render(exc.code or 500, code, exc.description or exc.name)
        # the exception's own headers say what the body cannot, e.g. a 405's Allow
        headers = [(k, v) for k, v in exc.get_headers() if k.lower() != "content-type"]
        return body, status, headers

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Any:
        app.logger.exception("unhandled error on %s %s", request.method, request.path)
        return _render(500, "internal_error", "an unexpected error happened; it was logged on the server")
