"""The plugin manager: hook specs, the built-in plugins, entry points and the plugins folder.

`load_plugins(config)` builds a fresh manager each time (no import-time global): it adds the
specs, registers the built-in modules, loads the entry-point group `orchestrator.plugins` and
each `.py` file of the plugins folder. A plugin that fails to import or names a hook that does
not exist is recorded with its error and left out; the others still load. Registrations (step
types, notifiers, blueprints...) are checked for duplicate names by `Plugins.check()`, which
the scheduler and the web UI call at start-up to fail fast.

The core calls hooks only through the typed `Plugins` wrapper.
"""

from __future__ import annotations

import difflib
import functools
import hashlib
import importlib
import importlib.util
import logging
import sys
import threading
import traceback
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from importlib.metadata import entry_points
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, Literal

import pluggy

from orchestrator.authoring import step_types
from orchestrator.core.errors import ConfigError, PluginError
from orchestrator.plugins import hookspecs

if TYPE_CHECKING:
    from orchestrator.authoring.tasks import BaseTask
    from orchestrator.core.config import Config

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "orchestrator.plugins"
BUILTIN_MODULES: tuple[str, ...] = (
    "orchestrator.plugins.steps.python",
    "orchestrator.plugins.steps.empty",
    "orchestrator.plugins.steps.shell",
    "orchestrator.plugins.steps.http",
    "orchestrator.plugins.steps.sql",
    "orchestrator.plugins.steps.notify",
    "orchestrator.plugins.steps.trigger",
    "orchestrator.plugins.steps.subdag",
    "orchestrator.plugins.steps.approval",
    "orchestrator.plugins.steps.wait_event",
    "orchestrator.plugins.steps.sensor",
    "orchestrator.execution.async_triggers",
    "orchestrator.plugins.connectors",
    "orchestrator.plugins.tracing",
    "orchestrator.cli.tracing",
    "orchestrator.plugins.log_store",
)
Source = Literal["builtin", "entry point", "plugins folder"]


@dataclass(frozen=True)
class PluginInfo:
    """One plugin as `plugins list` shows it: where it came from, its hooks, or why it failed."""

    name: str
    source: Source
    location: str
    hooks: tuple[str, ...] = ()
    error: str | None = None
    traceback: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True)
class StateEvent:
    """A committed state change, as listeners hear it (one event row of the store)."""

    kind: str
    at: datetime
    dag_id: str | None = None
    run_id: str | None = None
    task_id: str | None = None
    map_index: int | None = None
    try_number: int | None = None
    from_state: str | None = None
    to_state: str | None = None
    actor: str = "scheduler"
    reason: str | None = None
    payload: dict[str, Any] | None = None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> StateEvent:
        return cls(**{k: row.get(k) for k in cls.__dataclass_fields__ if k in row})


# -- the manager -------------------------------------------------------------------------------
class Plugins:
    """The loaded plugins and the typed calls the core makes into them."""

    def __init__(self, pm: pluggy.PluginManager, infos: list[PluginInfo]) -> None:
        self.pm = pm
        self.infos = infos
        # how listeners resolve a named connection (orchestrator_on_deadline_missed); the scheduler sets it
        self.resolve_connection: Callable[[str], dict[str, Any] | None] = lambda _conn_id: None

    @property
    def failures(self) -> list[PluginInfo]:
        return [i for i in self.infos if not i.ok]

    # -- registrations, each a name -> object map checked for duplicates
    @functools.cached_property
    def step_types(self) -> dict[str, type[BaseTask]]:
        """step_type name -> BaseTask subclass."""
        from orchestrator.authoring.tasks import BaseTask

        def name_of(cls: Any) -> str:
            if not (isinstance(cls, type) and issubclass(cls, BaseTask)):
                raise PluginError(f"a step type must be a BaseTask subclass, got {cls!r}")
            return str(cls.step_type)

        return self._collect("orchestrator_step_types", "step type", name_of)

    @functools.cached_property
    def notifiers(self) -> dict[str, Any]:
        """channel name -> notifier."""
        return self._collect("orchestrator_notifiers", "notifier channel", lambda n: str(n.channel))

    @functools.cached_property
    def connector_types(self) -> dict[str, Any]:
        """conn_type -> connector type."""
        return self._collect("orchestrator_connector_types", "connector type", lambda c: str(c.conn_type))

    @functools.cached_property
    def timetables(self) -> dict[str, Any]:
        """timetable name -> Timetable (made known to the schedule math when the plugins load)."""
        return self._collect("orchestrator_timetables", "timetable", lambda t: str(t.name))

    @functools.cached_property
    def trigger_types(self) -> dict[str, Any]:
        """trigger name -> BaseTrigger subclass (what deferrable sensors wait for, scheduler/triggerer.py)."""
        return self._collect("orchestrator_trigger_types", "trigger type", lambda t: str(t.name))

    @functools.cached_property
    def log_store_types(self) -> dict[str, Any]:
        """scheme -> log store class."""
        return self._collect("orchestrator_log_stores", "log store", lambda c: str(c.scheme))

    def secrets_backends(self) -> list[Any]:
        """Secrets backends in registration order (the first that knows a connection answers)."""
        return [b for _plugin, batch in self._results("orchestrator_secrets_backends") for b in batch]

    def web_blueprints(self) -> list[Any]:
        blueprints = [b for _plugin, batch in self._results("orchestrator_web_blueprints") for b in batch]
        names = [b.name for b in blueprints]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise PluginError(f"two plugins provide a Flask blueprint named {dupes[0]!r}: blueprint names must be unique")
        return blueprints

    def summary(self) -> dict[str, Any]:
        """What `plugins list`, the API and the UI show: each plugin, the step types, the trigger types
        (what deferrable sensors can wait for), and a clash if any."""
        problem = None
        step_types: dict[str, str] = {}
        trigger_types: dict[str, str] = {}
        try:
            step_types = {name: f"{cls.__module__}.{cls.__qualname__}" for name, cls in self.step_types.items()}
            trigger_types = {name: f"{cls.__module__}.{cls.__qualname__}" for name, cls in self.trigger_types.items()}
            _ = self.notifiers, self.connector_types
        except PluginError as exc:
            problem = str(exc)
        return {"plugins": [asdict(i) for i in self.infos], "step_types": step_types, "trigger_types": trigger_types, "error": problem}

    def check(self) -> None:
        """Fail fast when registrations clash: called when the scheduler and the web UI start."""
        for failed in self.failures:
            log.warning("plugin %s (%s) was not loaded: %s", failed.name, failed.source, failed.error)
        _ = self.step_types, self.notifiers, self.connector_types, self.log_store_types, self.trigger_types

    def _results(self, hook_name: str) -> list[tuple[str, list[Any]]]:
        """(plugin name, its answer) for each implementation, in registration order."""
        out = []
        for impl in getattr(self.pm.hook, hook_name).get_hookimpls():
            answer = impl.function()
            out.append((impl.plugin_name, list(answer or ())))
        return out

    def _collect(self, hook_name: str, what: str, name_of: Any) -> dict[str, Any]:
        found: dict[str, tuple[str, Any]] = {}
        for plugin, items in self._results(hook_name):
            for item in items:
                name = name_of(item)
                if name in found:
                    raise PluginError(
                        f"{what} {name!r} is registered twice: by plugin {found[name][0]!r} and by plugin {plugin!r}; "
                        f"uninstall or rename one of them"
                    )
                found[name] = (plugin, item)
        return {name: item for name, (_plugin, item) in found.items()}

    # -- calls
    def services(self, config: Any, sessions: Any, options: dict[str, Any]) -> list[Any]:
        return [s for batch in self.pm.hook.orchestrator_services(config=config, sessions=sessions, options=options) for s in batch]

    def notify_listeners(self, rows: Iterable[dict[str, Any]]) -> None:
        """Tell every listener about each committed event row; a failing listener is logged only."""
        impls = {prefix: getattr(self.pm.hook, name).get_hookimpls() for prefix, name in _LISTENER_HOOKS.items()}
        for row in rows:
            kind = str(row.get("kind", ""))
            hearing = impls.get(kind.split(".", 1)[0])
            if not hearing:
                continue  # nobody listens to this kind: no event object is made
            hook_name = _LISTENER_HOOKS[kind.split(".", 1)[0]]
            event = StateEvent.from_row(row)
            extra = {"connection": self.resolve_connection} if hook_name == "orchestrator_on_deadline_missed" else {}
            # each implementation on its own: one that raises must not keep the others from hearing
            for impl in hearing:
                try:
                    impl.function(event=event, **extra)
                except Exception:  # noqa: BLE001 - a plugin's bug is logged, never the scheduler's problem
                    log.exception("listener %s of plugin %s failed on %s", hook_name, impl.plugin_name, kind)

    def listened_kinds(self) -> frozenset[str]:
        """The event kind prefixes ("task", "run", "deadline", ...) some plugin listens to."""
        return frozenset(prefix for prefix, name in _LISTENER_HOOKS.items() if getattr(self.pm.hook, name).get_hookimpls())


# event kind prefix -> the listener hook that hears it
_LISTENER_HOOKS = {
    "task": "orchestrator_on_task_state", "run": "orchestrator_on_run_state", "dag": "orchestrator_on_dag_state",
    "approval": "orchestrator_on_approval", "deadline": "orchestrator_on_deadline_missed",
}


# -- loading -----------------------------------------------------------------------------------
def _hook_names(pm: pluggy.PluginManager, plugin: object) -> tuple[str, ...]:
    return tuple(sorted(h.name for h in pm.get_hookcallers(plugin) or ()))


def _unknown_hooks(pm: pluggy.PluginManager, plugin: object) -> list[str]:
    """Hooks the plugin implements that no spec declares (misspelled, or from another version)."""
    return sorted(
        h.name
        for h in pm.get_hookcallers(plugin) or ()
        if h.spec is None and any(not i.optionalhook for i in h.get_hookimpls() if i.plugin is plugin)
    )


def _register(pm: pluggy.PluginManager, infos: list[PluginInfo], plugin: object, name: str, source: Source, location: str) -> None:
    """Register one plugin; a registration problem is recorded instead of raised."""
    if pm.has_plugin(name):
        infos.append(PluginInfo(name, source, location, error=f"a plugin named {name!r} is already registered"))
        return
    try:
        pm.register(plugin, name=name)
    except Exception as exc:  # noqa: BLE001 - e.g. a hook implemented with wrong argument names
        infos.append(PluginInfo(name, source, location, error=f"{type(exc).__name__}: {exc}", traceback=traceback.format_exc()))
        return
    unknown = _unknown_hooks(pm, plugin)
    if unknown:
        pm.unregister(plugin)
        specs = [n for n in dir(pm.hook) if n.startswith(hookspecs.PROJECT + "_") and getattr(pm.hook, n).spec is not None]
        hints = [f"{u!r}" + (f" (did you mean {close[0]!r}?)" if (close := difflib.get_close_matches(u, specs, n=1)) else "") for u in unknown]
        infos.append(PluginInfo(name, source, location, error=f"implements unknown hook {', '.join(hints)}"))
        return
    infos.append(PluginInfo(name, source, location, hooks=_hook_names(pm, plugin)))


def _failed(infos: list[PluginInfo], name: str, source: Source, location: str, exc: BaseException) -> None:
    log.warning("plugin %s (%s, %s) failed to load: %s: %s", name, source, location, type(exc).__name__, exc)
    infos.append(PluginInfo(name, source, location, error=f"{type(exc).__name__}: {exc}", traceback=traceback.format_exc()))


def _load_builtins(pm: pluggy.PluginManager, infos: list[PluginInfo], modules: Sequence[str]) -> None:
    for module_name in modules:
        try:
            module = importlib.import_module(module_name)
        except Exception as exc:  # noqa: BLE001 - e.g. an optional dependency is missing
            _failed(infos, module_name, "builtin", module_name, exc)
            continue
        _register(pm, infos, module, module_name, "builtin", module_name)


def _load_entry_points(pm: pluggy.PluginManager, infos: list[PluginInfo]) -> None:
    for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        dist = getattr(ep.dist, "name", None)
        location = f"{ep.value} ({dist})" if dist else ep.value
        try:
            plugin = ep.load()
        except Exception as exc:  # noqa: BLE001 - one broken package must not stop the rest
            _failed(infos, ep.name, "entry point", location, exc)
            continue
        _register(pm, infos, plugin, ep.name, "entry point", location)


def _folder_module_name(path: Path) -> str:
    # unique per file, so two folders' "example.py" never share (or clobber) a module
    return f"orch_plugin_{path.stem}_{hashlib.sha1(str(path).encode()).hexdigest()[:10]}"


def import_plugin_file(path: Path) -> ModuleType:
    """Import one plugins-folder file as a module (once per process)."""
    name = _folder_module_name(path)
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"{path} cannot be imported as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module


def plugin_files(folder: Path) -> list[Path]:
    """The `.py` files directly in `folder`, skipping hidden ones and `_private.py` helpers."""
    if not folder.is_dir():
        return []
    return sorted(p.resolve() for p in folder.glob("*.py") if not p.name.startswith((".", "_")))


def _load_folder(pm: pluggy.PluginManager, infos: list[PluginInfo], folder: Path) -> None:
    for path in plugin_files(folder):
        try:
            module = import_plugin_file(path)
        except BaseException as exc:  # noqa: BLE001 - SystemExit from a plugin file is a failure too
            _failed(infos, path.stem, "plugins folder", str(path), exc)
            continue
        _register(pm, infos, module, path.stem, "plugins folder", str(path))


def load_plugins(
    config: Config | None = None,
    *,
    builtins: Sequence[str] = BUILTIN_MODULES,
    load_entry_points: bool = True,
    folder: Path | None = None,
    extra: Sequence[tuple[str, object]] = (),
) -> Plugins:
    """A fresh manager with every plugin that loads; failures are in `Plugins.failures`.

    `folder` defaults to the configured plugins folder; `extra` registers (name, object)
    pairs as built-ins (tests use it to add plugins without files).
    """
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    infos: list[PluginInfo] = []
    _load_builtins(pm, infos, builtins)
    for name, obj in extra:
        _register(pm, infos, obj, name, "builtin", getattr(obj, "__name__", repr(obj)))
    if load_entry_points:
        _load_entry_points(pm, infos)
    if folder is None and config is not None:
        folder = config.resolved_plugins_folder
    if folder is not None:
        _load_folder(pm, infos, folder)
    pm.check_pending()  # a safety net: every plugin with an unknown hook was left out above
    plugins = Plugins(pm, infos)
    _register_timetables(plugins)
    return plugins


def _register_timetables(plugins: Plugins) -> None:
    """Make the plugins' timetables known to the schedule math of this process; a bad one is logged."""
    from orchestrator.core.timetables import register

    try:
        for timetable in plugins.timetables.values():
            register(timetable)
    except Exception as exc:  # noqa: BLE001 - a broken plugin must not stop the process; its DAGs fail to parse
        log.warning("timetables from plugins were not registered: %s", exc)


def load_configured_plugins() -> Plugins:
    """The plugins this process's configuration names (ORCH_*); without the folder if it is invalid."""
    from orchestrator.core.config import load_config

    try:
        config: Config | None = load_config()
    except ConfigError:
        config = None  # the command itself reports the bad setting
    return load_plugins(config)


def make_plugin_manager(*, load_entry_points: bool = True) -> pluggy.PluginManager:
    """A fresh PluginManager with the configured plugins (for callers that use the raw hooks)."""
    if not load_entry_points:
        return load_plugins(load_entry_points=False).pm
    return load_configured_plugins().pm


# -- step types by name, in any process (a DAG file being parsed, a worker) --------------------
_process_lock = threading.Lock()
_process_plugins: dict[str, Plugins] = {}


def _plugins_for_this_process() -> Plugins:
    from orchestrator.core.config import load_config

    folder = str(load_config().resolved_plugins_folder)
    with _process_lock:
        if folder not in _process_plugins:
            _process_plugins[folder] = load_plugins(folder=Path(folder))
        return _process_plugins[folder]


def get_step_type(name: str) -> type[BaseTask]:
    """The step type registered under `name` (built-in, installed or in the plugins folder).

    For DAG files: `Greet = get_step_type("greet")`, then `Greet(task_id=..., ...)`.
    """
    types = _plugins_for_this_process().step_types
    if name not in types:
        known = ", ".join(sorted(types)) or "none"
        raise PluginError(f"no step type named {name!r} is registered (known: {known})")
    return types[name]


def get_notifier(channel: str) -> Any:
    """The notifier of `channel` ("webhook", "email" or a plugin's)."""
    notifiers = _plugins_for_this_process().notifiers
    if channel not in notifiers:
        raise PluginError(f"no notifier for channel {channel!r} is registered (known: {', '.join(sorted(notifiers)) or 'none'})")
    return notifiers[channel]


step_types.answer_with(get_step_type)
