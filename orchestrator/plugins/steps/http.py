"""HttpTask: one HTTP request to a path on a named connection; the response JSON is the result.

Uses the standard library's urllib: one request per try needs no connection pool, and it
keeps the core free of an HTTP client dependency.
"""

from __future__ import annotations

import base64
import json
import logging
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from orchestrator.authoring.task_options import seconds_of
from orchestrator.authoring.tasks import BaseTask, resolve_xcoms, xcom_refs_in
from orchestrator.core.errors import DagDefinitionError, OrchestratorError
from orchestrator.plugins.hookspecs import hookimpl

if TYPE_CHECKING:
    from orchestrator.core.connections import Connection
    from orchestrator.execution.context import TaskContext

log = logging.getLogger("orchestrator.task")

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
MAX_RESPONSE_BYTES = 50_000_000


class HttpStatusError(OrchestratorError):
    """The server answered with a status code the task does not expect."""

    def __init__(self, method: str, url: str, status: int, body: str) -> None:
        self.status = status
        snippet = " ".join(body.split())[:300]
        super().__init__(f"{method} {url} answered {status}" + (f": {snippet}" if snippet else ""))


@dataclass(frozen=True)
class HttpResponse:
    status: int
    headers: Mapping[str, str]
    body: bytes

    @property
    def status_code(self) -> int:
        """The status, by the name `requests` gives it (what an HttpSensor's response_check reads)."""
        return self.status

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    def json(self) -> Any:
        """The body parsed as JSON (ValueError when it is not JSON)."""
        return json.loads(self.text)

    def value(self) -> Any:
        """The body as JSON when it is JSON, else as text; None when empty."""
        if not self.body:
            return None
        text = self.body.decode("utf-8", errors="replace")
        try:
            return json.loads(text)
        except ValueError:
            return text


def base_url(conn: Connection) -> str:
    """scheme://host[:port][/schema] of an HTTP connection (a host may itself be a full URL).

    The scheme is the `scheme` extra, else https for a connection of type "https", else http.
    Its `schema` is a path prefix, as in `http://api.example.com/v2`.
    """
    if conn.host and "://" in conn.host:
        root = conn.host.rstrip("/")
    else:
        if not conn.host:
            raise OrchestratorError(f"connection {conn.conn_id!r} has no host")
        scheme = str(conn.extra.get("scheme") or ("https" if conn.conn_type == "https" else "http"))
        root = f"{scheme}://{conn.host}" + (f":{conn.port}" if conn.port else "")
    if conn.schema:
        root += "/" + conn.schema.strip("/")
    return root


def connection_headers(conn: Connection) -> dict[str, str]:
    """Basic auth from login/password, a bearer `token` extra, and a `headers` extra (a JSON object)."""
    headers: dict[str, str] = {}
    if conn.login is not None or conn.password is not None:
        pair = f"{conn.login or ''}:{conn.password or ''}".encode()
        headers["Authorization"] = "Basic " + base64.b64encode(pair).decode()
    if conn.extra.get("token"):
        headers["Authorization"] = f"Bearer {conn.extra['token']}"
    extra_headers = conn.extra.get("headers")
    if isinstance(extra_headers, str):
        extra_headers = json.loads(extra_headers)
    if isinstance(extra_headers, dict):
        headers.update({str(k): str(v) for k, v in extra_headers.items()})
    return headers


def target(conn_id: str | None, path: str) -> tuple[str, dict[str, str]]:
    """The full URL and the connection's headers for `path` (an absolute URL when there is no connection)."""
    if conn_id is None:
        return path, {}
    from orchestrator.core.connections import get_connection

    conn = get_connection(conn_id)
    return base_url(conn) + "/" + path.lstrip("/") if path else base_url(conn), connection_headers(conn)


def request(
    method: str, url: str, *, headers: Mapping[str, str], body: Any = None, params: Mapping[str, Any] | None = None, timeout_s: float
) -> HttpResponse:
    """Send one request; any status comes back as a response (only network failures raise)."""
    if params:
        url += ("&" if "?" in url else "?") + urllib.parse.urlencode(params, doseq=True)
    data = None
    all_headers = {"Accept": "application/json", **headers}
    if body is not None:
        data = json.dumps(body).encode()
        all_headers.setdefault("Content-Type", "application/json")
    req = urllib.request.Request(url, data=data, headers=all_headers, method=method)
    try:
        with urllib.request.urlopen(req, timeout=timeout_s) as resp:  # noqa: S310 - the URL is the DAG author's
            return HttpResponse(resp.status, dict(resp.headers), resp.read(MAX_RESPONSE_BYTES))
    except urllib.error.HTTPError as exc:
        with exc:
            return HttpResponse(exc.code, dict(exc.headers or {}), exc.read(MAX_RESPONSE_BYTES))


class HttpTask(BaseTask):
    """Sends `method` to `path` on the connection `conn_id` (or to `path` as a full URL without one).

    `json` is sent as the JSON body and `params` as the query string; both may hold results
    of other tasks. A status outside `expected_status` (default: any 2xx) fails the try. The
    result is the response's JSON (its text when it is not JSON; None when empty).
    """

    step_type = "http"
    template_fields = ("path", "headers", "json", "params")

    def __init__(
        self,
        *,
        task_id: str,
        path: str = "",
        method: str = "GET",
        conn_id: str | None = None,
        headers: Mapping[str, str] | None = None,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        expected_status: Iterable[int] | None = None,
        timeout: timedelta | float = 30.0,
        **kwargs: Any,
    ) -> None:
        method = str(method).upper()
        if method not in METHODS:
            raise DagDefinitionError(f"task {task_id!r}: method must be one of {', '.join(METHODS)}, not {method!r}")
        if conn_id is None and not path.startswith(("http://", "https://")):
            raise DagDefinitionError(f"task {task_id!r}: without conn_id, path must be a full http(s):// URL, not {path!r}")
        if conn_id is not None and "://" in path:
            raise DagDefinitionError(f"task {task_id!r}: path {path!r} is a full URL; with conn_id give the path on the connection")
        super().__init__(task_id=task_id, conn_id=conn_id, **kwargs)
        self.method = method
        self.path = path
        self.headers = dict(headers or {})
        self.json = json
        self.params = dict(params or {})
        self.expected_status = None if expected_status is None else frozenset(int(s) for s in expected_status)
        self.timeout_s = seconds_of(timeout, "timeout") or 30.0
        for ref in xcom_refs_in([self.json, self.params]):
            self.set_upstream(ref.task)

    def args_repr(self) -> str:
        return f"{self.method} {self.path}"

    def execute(self, context: TaskContext, upstream_results: dict[str, Any]) -> Any:
        url, conn_headers = target(self.conn_id, self.path)
        response = request(
            self.method, url, headers={**conn_headers, **self.headers}, body=resolve_xcoms(self.json, upstream_results),
            params=resolve_xcoms(self.params, upstream_results), timeout_s=self.timeout_s,
        )
        log.info("%s %s -> %d (%d bytes)", self.method, url, response.status, len(response.body))
        ok = response.status in self.expected_status if self.expected_status is not None else 200 <= response.status < 300
        if not ok:
            raise HttpStatusError(self.method, url, response.status, response.body[:2000].decode("utf-8", errors="replace"))
        return response.value()


@hookimpl
def orchestrator_step_types() -> list[type[BaseTask]]:
    return [HttpTask]
