"""Variables: named JSON values that DAGs and templates read (`Variable.get`, `{{ var.value.x }}`).

Where a value comes from, first hit wins: the environment (`ORCH_VAR_<KEY>`, a string, JSON-decoded
when asked), then the database (encrypted at rest, orchestrator.store.variables). Inside a running
task the database is reached with the process's own configuration; a worker without it sees only
the environment. Values of sensitive keys (named like a password, secret, token or API key, as
Airflow decides) are masked as '***' in the try's log and in what the UI and API show.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from typing import Any

from orchestrator.core.errors import NotFoundError, OrchestratorError

ENV_PREFIX = "ORCH_VAR_"

SENSITIVE_WORDS = (
    "access_token", "api_key", "apikey", "authorization", "passphrase", "passwd", "password",
    "private_key", "secret", "token", "keyfile_dict", "service_account",
)
"""A key containing one of these (any case) is sensitive: its value is masked wherever it is shown."""

_KEY = re.compile(r"[A-Za-z0-9_.\-]{1,250}")
MISSING: Any = object()
"""The default of an argument not given (None is a value a caller may give)."""


class VariableNotFoundError(NotFoundError, KeyError):
    """Variable.get of a key that is neither in the environment nor in the database, with no default."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class VariableKeyError(OrchestratorError, ValueError):
    """A variable key that cannot be stored (empty, too long, or characters other than letters, digits, '_', '-', '.')."""


def check_key(key: object) -> str:
    if not isinstance(key, str) or not _KEY.fullmatch(key):
        raise VariableKeyError(f"variable key {key!r} is not valid: use 1-250 letters, digits, '_', '-' or '.'")
    return key


def is_sensitive(key: str) -> bool:
    """Whether the key names a secret (its value is masked in logs, the UI and the API)."""
    lowered = key.lower()
    return any(word in lowered for word in SENSITIVE_WORDS)


def env_name(key: str) -> str:
    """ORCH_VAR_<KEY>: the key upper-cased, characters a shell cannot name ('.', '-') as '_'."""
    return ENV_PREFIX + re.sub(r"[^A-Z0-9_]", "_", key.upper())


def from_env(key: str, environ: Mapping[str, str] | None = None) -> str | None:
    return (os.environ if environ is None else environ).get(env_name(key))


def env_variables(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The variables the environment defines, by their key as it appears there (lower-cased)."""
    env = os.environ if environ is None else environ
    return {name[len(ENV_PREFIX):].lower(): value for name, value in env.items() if name.startswith(ENV_PREFIX) and len(name) > len(ENV_PREFIX)}


def as_text(value: Any) -> str:
    """A stored value as Airflow's `Variable.get` returns it: a string as it is, anything else as JSON."""
    return value if isinstance(value, str) else json.dumps(value)


def decode(text: str, key: str) -> Any:
    """The JSON value of a text (the environment's, or a string stored for deserialize_json)."""
    try:
        return json.loads(text)
    except ValueError as exc:
        raise OrchestratorError(f"variable {key!r} is not JSON ({exc}); read it without deserialize_json") from None


MASK = "***"


def shown(key: str, value: Any) -> Any:
    """The value as listings show it: masked for a sensitive key."""
    return MASK if is_sensitive(key) else value


def parse_import(data: Any) -> dict[str, Any]:
    """The variables of an import file: a JSON object of key -> value; every key checked."""
    if not isinstance(data, dict):
        raise VariableKeyError(f"a variables file holds a JSON object of key -> value, not {type(data).__name__}")
    for key in data:
        check_key(key)
    return dict(data)
