"""Named connections: the model, URIs, `get_connection` inside a task, masking, and the resolver.

A connection is found, in this order, in the environment (`ORCH_CONN_<ID>=<uri>`), in the
secrets-backend plugins (hook `orchestrator_secrets_backends`), then in the database. The
scheduler resolves a task's `conn_id` when it submits the try and ships the connection inside
the WorkItem; the task reads it with `get_connection(conn_id)`, and the runtime masks its
secrets in the try's log.
"""

from __future__ import annotations

import contextvars
import json
import os
import re
import threading
import time
import warnings
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol, runtime_checkable
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from orchestrator.core.errors import NotFoundError, OrchestratorError

CONN_ID_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,249}$"
ENV_PREFIX = "ORCH_CONN_"
MASK = "***"
# extras whose key contains one of these words hold secrets (the words Airflow also treats as sensitive)
SENSITIVE_WORDS = ("password", "passwd", "passphrase", "secret", "token", "api_key", "apikey", "private_key", "authorization", "credential")
_EXTRA_JSON_PARAM = "__extra__"


class ConnectionNotFoundError(NotFoundError):
    """No source defines the connection, or the running task was not given it."""


class ConnectionLookupError(OrchestratorError):
    """A source (a secrets backend, the database) failed while looking a connection up."""


def is_sensitive(key: str) -> bool:
    """Whether an extra named `key` holds a secret (masked in output and logs)."""
    lowered = key.lower()
    return any(word in lowered for word in SENSITIVE_WORDS)


with warnings.catch_warnings():
    # the field is called `schema`, as everywhere else connections exist; BaseModel.schema is deprecated anyway
    warnings.filterwarnings("ignore", message='Field name "schema"', category=UserWarning)

    class Connection(BaseModel):
        """How to reach an outside system. `password` and sensitive extras are secrets."""

        model_config = ConfigDict(frozen=True, extra="forbid")

        conn_id: str = Field(pattern=CONN_ID_PATTERN, description="the name tasks use (letters, digits, _ . -)")
        conn_type: str = Field(min_length=1, max_length=50, pattern=r"^[A-Za-z0-9_+.\-]+$", description="e.g. postgresql, http, smtp")
        host: str | None = Field(default=None, max_length=500)
        port: int | None = Field(default=None, ge=0, le=65535)
        login: str | None = Field(default=None, max_length=500)
        password: str | None = Field(default=None, max_length=5000)
        schema: str | None = Field(default=None, max_length=500, description="database name, path or URL path")
        extra: dict[str, Any] = Field(default_factory=dict)

        # -- URIs ------------------------------------------------------------------------------
        @classmethod
        def from_uri(cls, conn_id: str, uri: str) -> Connection:
            """Parse `type://login:password@host:port/schema?key=value` (percent-encoded parts).

            Query parameters become extras; `__extra__=<json object>` carries extras that are not
            plain strings. Raises ValueError naming what is wrong.
            """
            parts = urlsplit(uri)
            if not parts.scheme or "://" not in uri:
                raise ValueError(f"connection {conn_id!r}: {_redact_uri(uri)!r} is not a URI like postgresql://user:pass@host:5432/db")
            try:
                port = parts.port
            except ValueError as exc:
                raise ValueError(f"connection {conn_id!r}: bad port in {_redact_uri(uri)!r} ({exc})") from None
            extra: dict[str, Any] = {}
            for key, value in parse_qsl(parts.query, keep_blank_values=True):
                if key == _EXTRA_JSON_PARAM:
                    try:
                        loaded = json.loads(value)
                    except json.JSONDecodeError as exc:
                        raise ValueError(f"connection {conn_id!r}: __extra__ is not JSON ({exc.msg})") from None
                    if not isinstance(loaded, dict):
                        raise ValueError(f"connection {conn_id!r}: __extra__ must be a JSON object")
                    extra.update(loaded)
                elif key in extra:
                    previous = extra[key]
                    extra[key] = [*previous, value] if isinstance(previous, list) else [previous, value]
                else:
                    extra[key] = value
            path = parts.path[1:] if parts.path.startswith("/") else parts.path
            return cls(
                conn_id=conn_id,
                conn_type=parts.scheme.replace("-", "_"),
                host=unquote(parts.hostname) if parts.hostname else None,
                port=port,
                login=unquote(parts.username) if parts.username is not None else None,
                password=unquote(parts.password) if parts.password is not None else None,
                schema=unquote(path) or None,
                extra=extra,
            )

        def to_uri(self) -> str:
            """The connection as a URI that `from_uri` reads back to an equal connection."""
            auth = ""
            if self.login is not None or self.password is not None:
                auth = quote(self.login or "", safe="")
                if self.password is not None:
                    auth += ":" + quote(self.password, safe="")
                auth += "@"
            host = quote(self.host or "", safe="")
            port = f":{self.port}" if self.port is not None else ""
            path = "/" + quote(self.schema, safe="/") if self.schema else ""
            query = ""
            if self.extra:
                if all(isinstance(v, str) for v in self.extra.values()):
                    query = "?" + urlencode(self.extra)
                else:
                    query = "?" + urlencode({_EXTRA_JSON_PARAM: json.dumps(self.extra, separators=(",", ":"))})
            return f"{self.conn_type.replace('_', '-')}://{auth}{host}{port}{path}{query}"

        # -- secrets ---------------------------------------------------------------------------
        def secret_values(self) -> list[str]:
            """Every secret string of this connection: the password and sensitive extras."""
            return ([self.password] if self.password else []) + _secret_strings(self.extra, inside_secret=False)

        def masked(self) -> dict[str, Any]:
            """The connection as a dict safe to show: secrets replaced by '***'."""
            data = self.model_dump()
            if self.password:
                data["password"] = MASK
            data["extra"] = _masked_extra(self.extra)
            return data


def _secret_strings(value: Any, inside_secret: bool) -> list[str]:
    """The values under a sensitive key, at any depth of the extras."""
    if isinstance(value, Mapping):
        return [s for k, v in value.items() for s in _secret_strings(v, inside_secret or is_sensitive(str(k)))]
    if isinstance(value, (list, tuple)):
        return [s for v in value for s in _secret_strings(v, inside_secret)]
    if not inside_secret or value is None or isinstance(value, bool):
        return []
    text = str(value)
    return [text] if text else []


def _masked_extra(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: (MASK if is_sensitive(str(k)) else _masked_extra(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [_masked_extra(v) for v in value]
    return value


def _redact_uri(uri: str) -> str:
    """The URI with anything between '://' and '@' hidden, for error messages."""
    return re.sub(r"://[^/@]*@", "://***@", uri)


# -- what plugins provide ----------------------------------------------------------------------------
@runtime_checkable
class ConnectorType(Protocol):
    """A kind of connection (hook `orchestrator_connector_types`): how to test one."""

    conn_type: str

    def test(self, connection: Connection) -> tuple[bool, str]:
        """Try to reach the system: (True, what worked) or (False, why not). Must not raise."""
        ...


@runtime_checkable
class SecretsBackend(Protocol):
    """Another source of connections (hook `orchestrator_secrets_backends`), e.g. a vault."""

    def get_connection(self, conn_id: str) -> Connection | None:
        """The connection, or None when this backend does not know it. Raising fails the lookup."""
        ...


# -- inside a running task ---------------------------------------------------------------------------
_current: contextvars.ContextVar[Mapping[str, Mapping[str, Any]] | None] = contextvars.ContextVar(
    "orchestrator_connections", default=None
)


def set_connections(connections: Mapping[str, Mapping[str, Any]]) -> contextvars.Token[Any]:
    """Called by the runtime around a try: the connections its WorkItem carries."""
    return _current.set(connections)


def reset_connections(token: contextvars.Token[Any]) -> None:
    _current.reset(token)


def get_connection(conn_id: str) -> Connection:
    """The connection `conn_id` given to the running task (its `conn_id`), as the scheduler resolved it."""
    available = _current.get()
    if available is None:
        raise ConnectionNotFoundError(f"get_connection({conn_id!r}) was called outside a running task")
    data = available.get(conn_id)
    if data is None:
        have = ", ".join(sorted(available)) or "none"
        raise ConnectionNotFoundError(
            f"connection {conn_id!r} was not given to this task (it has: {have}); "
            f"set conn_id={conn_id!r} on the task so the scheduler resolves it"
        )
    return Connection.model_validate(dict(data))


# -- masking ---------------------------------------------------------------------------------------
class Masker:
    """Replaces secret values in text with '***'.

    Works line by line (a multi-line secret such as a PEM key is masked line by line), so the
    live log can be sent in whole lines and agree with the final log.
    """

    def __init__(self, secrets: Iterable[str]) -> None:
        self._pieces: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        self.add(*secrets)

    def add(self, *secrets: str) -> None:
        """Mask these too from now on (a sensitive Variable the task read, say)."""
        for secret in secrets:
            for variant in (secret, quote(secret, safe="")):  # also as it appears inside a URI
                self._pieces.update(line for line in (part.strip() for part in variant.splitlines()) if line)
        ordered = sorted(self._pieces, key=len, reverse=True)  # longest first: no secret is left half-shown
        self._pattern = re.compile("|".join(re.escape(p) for p in ordered)) if ordered else None

    def __bool__(self) -> bool:
        return self._pattern is not None

    def mask(self, text: str | None) -> str | None:
        if text is None or self._pattern is None:
            return text
        return self._pattern.sub(MASK, text)


_masker: contextvars.ContextVar[Masker | None] = contextvars.ContextVar("orchestrator_masker", default=None)


def set_masker(masker: Masker) -> contextvars.Token[Masker | None]:
    """Called by the runtime around a try: the masker its log, errors and rendered fields go through."""
    return _masker.set(masker)


def reset_masker(token: contextvars.Token[Masker | None]) -> None:
    _masker.reset(token)


def note_secret(value: str) -> None:
    """Inside a running try: mask `value` in what leaves the worker. Elsewhere: nothing to do."""
    masker = _masker.get()
    if masker is not None and value:
        masker.add(value)


def current_masker() -> Masker | None:
    return _masker.get()


def masker_for(connections: Mapping[str, Mapping[str, Any]]) -> Masker:
    """A masker for every secret of the given connections (as WorkItem.connections holds them)."""
    secrets: list[str] = []
    for data in connections.values():
        secrets.extend(Connection.model_validate(dict(data)).secret_values())
    return Masker(secrets)


# -- the resolver the scheduler uses ------------------------------------------------------------------
def env_var_name(conn_id: str) -> str:
    """ORCH_CONN_<ID>: the id upper-cased, characters a shell cannot name ('.', '-') as '_'."""
    return ENV_PREFIX + re.sub(r"[^A-Z0-9_]", "_", conn_id.upper())


def from_env(conn_id: str, environ: Mapping[str, str] | None = None) -> Connection | None:
    """The connection defined by ORCH_CONN_<ID>, if that variable is set."""
    name = env_var_name(conn_id)
    uri = (os.environ if environ is None else environ).get(name)
    if uri is None:
        return None
    try:
        return Connection.from_uri(conn_id, uri)
    except (ValueError, ValidationError) as exc:
        raise ConnectionLookupError(f"{name} does not hold a valid connection URI: {exc}") from None


def env_connections(environ: Mapping[str, str] | None = None) -> tuple[list[Connection], list[str]]:
    """Every connection defined by an ORCH_CONN_<ID> variable (id lower-cased), and one message per bad variable."""
    env = os.environ if environ is None else environ
    found: list[Connection] = []
    errors: list[str] = []
    for name in sorted(env):
        if name.startswith(ENV_PREFIX) and len(name) > len(ENV_PREFIX):
            try:
                conn = from_env(name[len(ENV_PREFIX):].lower(), env)
            except ConnectionLookupError as exc:  # one bad variable is reported, the rest listed
                errors.append(str(exc))
                continue
            if conn is not None:
                found.append(conn)
    return found, errors


Lookup = Callable[[str], Connection | None]


class ConnectionResolver:
    """Finds connections: environment, then secrets backends, then the database.

    Answers (found or not) are kept for `ttl_s`, so submitting thousands of tasks that share a
    connection costs one lookup. Thread-safe. Called with a conn_id it returns the connection
    as a dict (what WorkItem.connections holds) or None, as RunTracker expects.
    """

    def __init__(
        self,
        *,
        backends: Iterable[Any] = (),
        database: Lookup | None = None,
        ttl_s: float = 10.0,
        environ: Mapping[str, str] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.backends = list(backends)
        self.database = database
        self.ttl_s = ttl_s
        self.environ = environ
        self.clock = clock
        self._cache: dict[str, tuple[float, Connection | None, str | None]] = {}
        self._lock = threading.Lock()

    def lookup(self, conn_id: str) -> tuple[Connection, str] | None:
        """The connection and where it came from ('env', the backend's name, 'database'), or None."""
        env = from_env(conn_id, self.environ)
        if env is not None:
            return env, "env"
        now = self.clock()
        with self._lock:
            cached = self._cache.get(conn_id)
        if cached is not None and now - cached[0] < self.ttl_s:
            return None if cached[1] is None else (cached[1], cached[2] or "")
        found = self._lookup_uncached(conn_id)
        with self._lock:
            self._cache[conn_id] = (now, *(found or (None, None)))
        return found

    def _lookup_uncached(self, conn_id: str) -> tuple[Connection, str] | None:
        for backend in self.backends:
            name = getattr(backend, "name", type(backend).__name__)
            try:
                answer = backend.get_connection(conn_id)
            except Exception as exc:  # noqa: BLE001 - a backend's failure must not fall through to another source
                raise ConnectionLookupError(f"secrets backend {name} failed to look up connection {conn_id!r}: {exc}") from exc
            if answer is not None:
                conn = answer if isinstance(answer, Connection) else Connection.model_validate(answer)
                return conn, f"backend:{name}"
        if self.database is not None:
            try:
                conn = self.database(conn_id)
            except OrchestratorError:
                raise
            except Exception as exc:  # noqa: BLE001 - named for the task's error message
                raise ConnectionLookupError(f"cannot read connection {conn_id!r} from the database: {exc}") from exc
            if conn is not None:
                return conn, "database"
        return None

    def get(self, conn_id: str) -> Connection:
        """The connection, or ConnectionNotFoundError naming where it was looked for."""
        found = self.lookup(conn_id)
        if found is None:
            raise ConnectionNotFoundError(
                f"connection {conn_id!r} is not defined: not in ${env_var_name(conn_id)}, "
                f"not in {len(self.backends)} secrets backend(s), not in the database "
                f"(add it with `orchestrator connections add {conn_id} --uri ...`)"
            )
        return found[0]

    def __call__(self, conn_id: str) -> dict[str, Any] | None:
        found = self.lookup(conn_id)
        return None if found is None else found[0].model_dump()

    def invalidate(self, conn_id: str | None = None) -> None:
        with self._lock:
            if conn_id is None:
                self._cache.clear()
            else:
                self._cache.pop(conn_id, None)
