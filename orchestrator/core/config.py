"""Configuration: environment variables (ORCH_*) over an optional TOML file over defaults.

The TOML file is `$ORCH_CONFIG` if set, else `$ORCH_HOME/orchestrator.toml` when it exists;
its keys are the field names below (e.g. `dask_workers = 4`). Named environments: with
`ORCH_ENV=staging`, the file's `[env.staging]` section is laid over its top-level keys (the
environment variables still win); without ORCH_ENV the `[env.*]` sections are ignored.

`orchestrator scheduler` and `orchestrator standalone` read the file again on SIGHUP
(`ConfigReloader`): changed settings apply at once, except RESTART_SETTINGS (the database and
the Dask cluster, the web server's address), which keep their value and the log says a restart
is needed.
"""

from __future__ import annotations

import logging
import os
import threading
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, PositiveFloat, ValidationError, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from orchestrator.core.errors import ConfigError

log = logging.getLogger(__name__)

ENV_VAR = "ORCH_ENV"
ENV_TABLE = "env"
RESTART_SETTINGS = frozenset({
    "home", "database_url", "dask_address", "dask_workers", "dask_threads_per_worker", "ship_code", "webui_host", "webui_port",
    # read once when the process starts: the web app's session key and rate limiter, the plugins, the tracer
    "secret_key", "plugins_folder", "tracing_otlp_endpoint", "tracing_service_name",
    "api_rate_limit_per_token", "api_rate_limit_per_ip", "api_auth_failure_limit", "api_rate_limit_storage",
    # values encrypted under the old key would no longer read: a key change is a restart with the new key
    "fernet_key",
})
"""Settings a running process cannot change: its database, its Dask cluster, its web server (address,
session key, rate limits), its plugins, its tracer and its encryption key."""


def _default_home() -> Path:
    return Path(os.environ.get("ORCH_HOME") or Path.home() / "orchestrator")


class Config(BaseSettings):
    """Every setting, with its environment name ORCH_<FIELD> (upper case)."""

    model_config = SettingsConfigDict(env_prefix="ORCH_", extra="forbid", validate_default=True)

    home: Path = Field(default_factory=_default_home, description="where the SQLite file and logs live")
    dags_folder: Path | None = Field(default=None, description="the DAG folder; default $ORCH_HOME/dags")
    plugins_folder: Path | None = Field(default=None, description="drop-in plugins; default next to the DAG folder")
    database_url: str | None = Field(default=None, description="SQLAlchemy URL; default SQLite in $ORCH_HOME")
    dask_address: str | None = Field(default=None, description="tcp://host:8786 of an existing Dask scheduler")
    dask_workers: int = Field(default=2, ge=1, description="worker processes of the LocalCluster")
    dask_threads_per_worker: int = Field(default=1, ge=1)
    ship_code: Literal["auto", "always", "never"] = Field(
        default="auto",
        description="send the DAG folder to the workers with the work (a code bundle): auto does so for an outside cluster (dask_address)",
    )
    dag_file_timeout_s: float = Field(default=30.0, gt=0, description="time limit for importing one DAG file")
    parsing_processes: int = Field(default=2, ge=1)
    dag_dir_scan_interval_s: float = Field(default=5.0, gt=0, description="how often the DAG folder is re-scanned")
    poll_interval_s: float = Field(default=0.2, gt=0, description="how often the scheduler looks for new triggers")
    commit_interval_s: float = Field(
        default=0.05, ge=0, description="how long completions may wait to be written together (nothing is submitted meanwhile)"
    )
    heartbeat_interval_s: float = Field(default=2.0, gt=0)
    scheduler_health_threshold_s: float = Field(default=30.0, gt=0)
    dags_paused_at_creation: bool = False
    secret_key: str | None = Field(default=None, description="signs web UI sessions; default a key kept in $ORCH_HOME")
    fernet_key: str | None = Field(
        default=None,
        description="encrypts connection secrets at rest (Fernet; comma-separated to rotate, newest first); default a key kept in $ORCH_HOME/fernet_key",
    )
    webui_host: str = "127.0.0.1"
    webui_port: int = Field(default=8080, ge=0, le=65535)
    max_result_bytes: int = Field(default=1_000_000, ge=1024, description="largest JSON result a task may return")
    # circuit breakers (defaults; a connection's extras `circuit_<name>` override them per breaker)
    circuit_failure_threshold: int = Field(default=5, ge=1, description="consecutive failures that open a breaker")
    circuit_failure_rate: float | None = Field(default=None, gt=0, le=1, description="failure rate over the window that opens a breaker")
    circuit_window_s: float = Field(default=60.0, gt=0, description="the window of the failure rate")
    circuit_min_calls: int = Field(default=10, ge=1, description="outcomes in the window before the rate counts")
    circuit_cooldown_s: float = Field(default=30.0, ge=0, description="how long an open breaker waits before a probe")
    circuit_exempt_step_types: list[str] = Field(
        default_factory=lambda: ["python"],
        description="step types whose tasks without a connection have no breaker (their failures are the code's own)",
    )
    # retention (orchestrator.operations.retention): off unless retention_days is set
    retention_days: float | None = Field(
        default=None, gt=0, description="the scheduler purges finished runs older than this many days, once a day; off when unset"
    )
    retention_dag_days: dict[str, PositiveFloat] = Field(
        default_factory=dict, description='per-DAG retention in days over retention_days, e.g. ORCH_RETENTION_DAG_DAYS=\'{"etl": 7}\''
    )
    log_store: str = Field(default="file", description="where logs that outgrow their row go: a log store scheme (file: $ORCH_HOME/logs)")
    log_offload_chars: int = Field(
        default=1_000_000, ge=1024, description="a finished try's log longer than this moves to the log store; the row keeps its head"
    )
    log_head_chars: int = Field(default=10_000, ge=0, description="how much of a moved log its row keeps, for a quick look")
    # OpenTelemetry traces of runs and tasks (orchestrator.plugins.tracing): off unless an endpoint is set
    tracing_otlp_endpoint: str | None = Field(
        default=None, description="OTLP/HTTP collector, e.g. http://127.0.0.1:4318: traces of runs and tasks are sent there"
    )
    tracing_service_name: str = Field(default="orchestrator", description="service.name of the traces")

    # API rate limits (flask-limiter syntax, "N per second; M per minute"; empty switches one off)
    api_rate_limit_per_token: str = Field(
        default="50 per second; 1200 per minute", description="requests one bearer token may make to /api/"
    )
    api_rate_limit_per_ip: str = Field(
        default="100 per second; 3000 per minute", description="requests one client address may make to /api/ (the UI's calls included)"
    )
    api_auth_failure_limit: str = Field(
        default="10 per minute", description="refused credentials one client address may send to /api/ before it must wait"
    )
    api_rate_limit_storage: str = Field(
        default="memory://", description="where the counters live: memory:// (this process) or redis://host:6379 (shared)"
    )

    @field_validator("api_rate_limit_per_token", "api_rate_limit_per_ip", "api_auth_failure_limit")
    @classmethod
    def _rate_limit(cls, value: str) -> str:
        from limits import parse_many

        if value.strip():
            try:
                parse_many(value)
            except ValueError:
                raise ValueError(f"{value!r} is not a rate limit such as '10 per second; 600 per minute'") from None
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, _TomlSource(settings_cls))

    @property
    def ships_code(self) -> bool:
        """Whether the workers get the DAG folder with the work instead of reading it from disk."""
        return self.ship_code == "always" or (self.ship_code == "auto" and self.dask_address is not None)

    @property
    def resolved_dags_folder(self) -> Path:
        return (self.dags_folder or self.home / "dags").resolve()

    @property
    def resolved_plugins_folder(self) -> Path:
        return (self.plugins_folder or self.resolved_dags_folder.parent / "plugins").resolve()

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.home / 'orchestrator.db').resolve()}"


class _TomlSource(PydanticBaseSettingsSource):
    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:  # pragma: no cover
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        explicit = os.environ.get("ORCH_CONFIG")
        path = Path(explicit) if explicit else _default_home() / "orchestrator.toml"
        if not path.exists():
            if explicit:
                raise ConfigError(f"ORCH_CONFIG names {path}, which does not exist")
            return {}
        try:
            with path.open("rb") as fh:
                data = tomllib.load(fh)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path} is not valid TOML: {exc}") from exc
        return with_environment(data, os.environ.get(ENV_VAR), str(path))


def with_environment(data: dict[str, Any], name: str | None, where: str) -> dict[str, Any]:
    """The TOML's top-level settings with the `[env.<name>]` section laid over them (none: as they are)."""
    settings = dict(data)
    envs = settings.pop(ENV_TABLE, {})
    if not isinstance(envs, dict) or not all(isinstance(v, dict) for v in envs.values()):
        raise ConfigError(f"{where}: [{ENV_TABLE}] holds one table per environment, e.g. [{ENV_TABLE}.staging]")
    if not name:
        return settings
    if name not in envs:
        known = ", ".join(sorted(envs)) or "none"
        raise ConfigError(f"{ENV_VAR}={name} names no [{ENV_TABLE}.{name}] section in {where} (its environments: {known})")
    return settings | envs[name]


def load_config(**overrides: Any) -> Config:
    """Read the configuration; raises ConfigError naming the bad setting."""
    try:
        return Config(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'config'} (ORCH_{str(e['loc'][0]).upper() if e['loc'] else ''}): {e['msg']}"
            for e in exc.errors()
        )
        raise ConfigError(f"invalid configuration: {problems}") from None


@dataclass(frozen=True)
class Reload:
    """What reading the configuration again changes: `applied` settings take effect at once,
    `needs_restart` ones keep their old value until the process restarts. Each maps a setting to
    (old, new)."""

    applied: dict[str, tuple[Any, Any]]
    needs_restart: dict[str, tuple[Any, Any]]


def reload_plan(current: Config, new: Config) -> Reload:
    """Sort the settings that differ between the running configuration and the one read again."""
    applied, restart = {}, {}
    for name in Config.model_fields:
        old, value = getattr(current, name), getattr(new, name)
        if old != value:
            (restart if name in RESTART_SETTINGS else applied)[name] = (old, value)
    return Reload(applied, restart)


def _shown(name: str, value: Any) -> str:
    return "(hidden)" if name in ("secret_key", "fernet_key") and value else repr(value)


class ConfigReloader:
    """Reads the configuration again when asked (SIGHUP) and changes the running `config` in place,
    so every part holding it sees the new values. The reading happens on a thread of its own: a
    signal handler only asks. A configuration that does not load is logged and changes nothing."""

    def __init__(self, config: Config, overrides: dict[str, Any] | None = None) -> None:
        self.config = config
        self.overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
        self._asked = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="config-reload", daemon=True)
        self._thread.start()

    def request(self) -> None:
        """Ask for a reload (safe in a signal handler)."""
        self._asked.set()

    def _serve(self) -> None:
        while True:
            self._asked.wait()
            self._asked.clear()
            self.reload()

    def reload(self) -> Reload | None:
        """Read the configuration again and apply what may change now; None if it does not load."""
        try:
            new = load_config(**self.overrides)
        except ConfigError as exc:
            log.error("configuration not reloaded, the running one stays: %s", exc)
            return None
        plan = reload_plan(self.config, new)
        for name, (old, value) in plan.applied.items():
            setattr(self.config, name, value)
            log.info("configuration reloaded: %s %s -> %s", name, _shown(name, old), _shown(name, value))
        for name, (old, value) in plan.needs_restart.items():
            log.warning("configuration: %s changed to %s but needs a restart to take effect; still using %s",
                        name, _shown(name, value), _shown(name, old))
        if not plan.applied and not plan.needs_restart:
            log.info("configuration reloaded: nothing changed")
        return plan
