"""The plugin manager: built-ins registered like plugins, failures isolated, clashes refused."""

from __future__ import annotations

import logging
import textwrap
import threading
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from orchestrator import BaseTask
from orchestrator.core.errors import PluginError
from orchestrator.plugins.hookspecs import hookimpl
from orchestrator.plugins.manager import load_plugins


def plugin_with_step(step_type: str) -> SimpleNamespace:
    cls = type(f"Step_{step_type}", (BaseTask,), {"step_type": step_type})

    @hookimpl
    def orchestrator_step_types() -> list[type[BaseTask]]:
        return [cls]

    return SimpleNamespace(orchestrator_step_types=orchestrator_step_types)


def write_plugin(folder: Path, name: str, source: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(textwrap.dedent(source).lstrip())
    return path


GOOD_PLUGIN = """
    from orchestrator import BaseTask
    from orchestrator.plugins.hookspecs import hookimpl

    class Good(BaseTask):
        step_type = "good"

    @hookimpl
    def orchestrator_step_types():
        return [Good]
"""


def test_builtin_step_types_are_registered_through_the_step_types_hook() -> None:
    plugins = load_plugins(load_entry_points=False)
    assert {"shell", "http", "sql", "notify"} <= set(plugins.step_types)
    shell = next(i for i in plugins.infos if i.name == "orchestrator.plugins.steps.shell")
    assert (shell.source, shell.hooks) == ("builtin", ("orchestrator_step_types",))


def test_two_plugins_registering_one_step_type_name_stop_the_start_up_naming_both() -> None:
    plugins = load_plugins(load_entry_points=False, extra=[("first", plugin_with_step("twin")), ("second", plugin_with_step("twin"))])
    with pytest.raises(PluginError, match=r"step type 'twin' is registered twice: by plugin 'first' and by plugin 'second'"):
        plugins.check()


def test_a_plugin_may_not_take_the_name_of_a_builtin_step_type() -> None:
    plugins = load_plugins(load_entry_points=False, extra=[("mine", plugin_with_step("shell"))])
    with pytest.raises(PluginError, match=r"'shell' is registered twice: by plugin 'orchestrator.plugins.steps.shell' and by plugin 'mine'"):
        plugins.check()


def test_a_plugin_file_that_fails_to_import_is_recorded_and_the_others_load(tmp_path: Path) -> None:
    write_plugin(tmp_path, "broken.py", "raise RuntimeError('no database driver')\n")
    write_plugin(tmp_path, "good.py", GOOD_PLUGIN)
    plugins = load_plugins(load_entry_points=False, folder=tmp_path)
    [failed] = plugins.failures
    assert (failed.name, failed.source, failed.error) == ("broken", "plugins folder", "RuntimeError: no database driver")
    assert "broken.py" in (failed.traceback or "")
    assert "good" in plugins.step_types


def test_a_plugin_file_shows_where_it_came_from_and_its_hooks(tmp_path: Path) -> None:
    path = write_plugin(tmp_path, "good.py", GOOD_PLUGIN)
    plugins = load_plugins(load_entry_points=False, folder=tmp_path)
    info = next(i for i in plugins.infos if i.name == "good")
    assert (info.source, info.location, info.hooks) == ("plugins folder", str(path.resolve()), ("orchestrator_step_types",))


def test_a_misspelled_hook_leaves_the_plugin_out_with_a_suggestion(tmp_path: Path) -> None:
    write_plugin(tmp_path, "typo.py", """
        from orchestrator.plugins.hookspecs import hookimpl

        @hookimpl
        def orchestrator_step_type():
            return []
    """)
    plugins = load_plugins(load_entry_points=False, folder=tmp_path)
    [failed] = plugins.failures
    assert failed.name == "typo"
    assert failed.error == "implements unknown hook 'orchestrator_step_type' (did you mean 'orchestrator_step_types'?)"
    assert plugins.pm.get_plugin("typo") is None


def test_files_starting_with_an_underscore_are_helpers_not_plugins(tmp_path: Path) -> None:
    write_plugin(tmp_path, "_helper.py", "raise RuntimeError('imported')\n")
    plugins = load_plugins(load_entry_points=False, folder=tmp_path)
    assert [i for i in plugins.infos if i.source == "plugins folder"] == []


class Recorder:
    def __init__(self) -> None:
        self.heard: list[Any] = []

    @hookimpl
    def orchestrator_on_task_state(self, event: Any) -> None:
        self.heard.append(event)


class Failing:
    @hookimpl
    def orchestrator_on_task_state(self, event: Any) -> None:
        raise RuntimeError("listener bug")


EVENT_ROW = {"kind": "task.success", "at": None, "dag_id": "d", "run_id": "r", "task_id": "t", "from_state": "running", "to_state": "success"}


def test_a_failing_listener_is_logged_and_the_other_listeners_still_hear(caplog: pytest.LogCaptureFixture) -> None:
    recorder = Recorder()
    # registered first, so pluggy would call the failing one first
    plugins = load_plugins(builtins=(), load_entry_points=False, extra=[("rec", recorder), ("bad", Failing())])
    with caplog.at_level(logging.ERROR, logger="orchestrator.plugins.manager"):
        plugins.notify_listeners([EVENT_ROW])
    assert [(e.kind, e.task_id, e.to_state) for e in recorder.heard] == [("task.success", "t", "success")]
    assert "listener orchestrator_on_task_state of plugin bad failed on task.success" in caplog.text


def test_publishing_events_never_waits_for_a_blocked_listener() -> None:
    from orchestrator.plugins.listeners import ListenerThread

    release = threading.Event()
    heard: list[str] = []

    class Blocking:
        @hookimpl
        def orchestrator_on_task_state(self, event: Any) -> None:
            release.wait(30)
            heard.append(event.task_id)

    listeners = ListenerThread(load_plugins(builtins=(), load_entry_points=False, extra=[("blocking", Blocking())]))
    listeners.publish([EVENT_ROW])
    listeners.publish([{**EVENT_ROW, "task_id": "t2"}])  # returns although the listener is stuck on the first
    assert heard == []
    release.set()
    listeners.close()
    assert heard == ["t", "t2"]


def test_events_that_are_not_state_changes_reach_no_listener() -> None:
    recorder = Recorder()
    plugins = load_plugins(builtins=(), load_entry_points=False, extra=[("rec", recorder)])
    plugins.notify_listeners([{**EVENT_ROW, "kind": "dag.paused"}])
    assert recorder.heard == []


def test_python_task_is_registered_through_the_step_type_hook_like_any_plugin() -> None:
    from orchestrator import PythonTask
    from orchestrator.plugins.manager import BUILTIN_MODULES, get_step_type

    assert "orchestrator.plugins.steps.python" in BUILTIN_MODULES
    assert get_step_type("python") is PythonTask
