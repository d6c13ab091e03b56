"""ShellTask: run a command; its output goes to the try's log, its last line (or JSON) is the result."""

from __future__ import annotations

import contextvars
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import IO, TYPE_CHECKING, Any, Literal

from orchestrator.authoring.task_options import seconds_of
from orchestrator.authoring.tasks import BaseTask
from orchestrator.core.errors import DagDefinitionError, OrchestratorError
from orchestrator.plugins.hookspecs import hookimpl

if TYPE_CHECKING:
    from orchestrator.execution.context import TaskContext

OutputMode = Literal["auto", "json", "last_line", "none"]
_KEEP_STDOUT_CHARS = 4_000_000  # beyond this the whole output cannot be a result anyway; the last line still is


class ShellCommandError(OrchestratorError):
    """The command exited with a non-zero code, or ran past its timeout."""


class ShellTask(BaseTask):
    """Runs `command` (a string for the shell, or an argument list run without one).

    stdout and stderr stream into the try's log. A non-zero exit fails the try. The result:
    with `output="auto"` the whole stdout if it is JSON, else its last non-empty line;
    "json" requires JSON, "last_line" never parses, "none" returns None. `env` is added to
    the worker's environment (`inherit_env=False` starts from an empty one); `timeout`
    (seconds or timedelta) kills the command and its children.
    """

    step_type = "shell"
    template_fields = ("command", "env", "cwd")

    def __init__(
        self,
        *,
        task_id: str,
        command: str | Sequence[str],
        env: Mapping[str, str] | None = None,
        inherit_env: bool = True,
        cwd: str | os.PathLike[str] | None = None,
        timeout: timedelta | float | None = None,
        output: OutputMode = "auto",
        **kwargs: Any,
    ) -> None:
        if isinstance(command, str):
            if not command.strip():
                raise DagDefinitionError(f"task {task_id!r}: command must not be empty")
        elif not command or not all(isinstance(a, str) for a in command):
            raise DagDefinitionError(f"task {task_id!r}: command must be a string or a non-empty list of strings")
        if output not in ("auto", "json", "last_line", "none"):
            raise DagDefinitionError(f"task {task_id!r}: output must be auto, json, last_line or none, not {output!r}")
        if env is not None and not all(isinstance(k, str) and isinstance(v, str) for k, v in env.items()):
            raise DagDefinitionError(f"task {task_id!r}: env must map strings to strings")
        super().__init__(task_id=task_id, **kwargs)
        self.command = command if isinstance(command, str) else list(command)
        self.env = dict(env or {})
        self.inherit_env = inherit_env
        self.cwd = None if cwd is None else os.fspath(cwd)
        self.timeout_s = seconds_of(timeout, "timeout")
        self.output_mode = output

    def args_repr(self) -> str:
        return repr(self.command)[:2000]

    def execute(self, context: TaskContext, upstream_results: dict[str, Any]) -> Any:
        env = {**(os.environ if self.inherit_env else {}), **self.env}
        code, stdout, last_line = run_command(self.command, env=env, cwd=self.cwd, timeout_s=self.timeout_s)
        if code != 0:
            raise ShellCommandError(f"the command exited with code {code}" + (f" (last line: {last_line})" if last_line else ""))
        return _result(self.output_mode, stdout, last_line)


def _result(mode: OutputMode, stdout: str | None, last_line: str | None) -> Any:
    if mode == "none":
        return None
    if mode == "last_line":
        return last_line
    text = (stdout or "").strip()
    if text:
        try:
            return json.loads(text)
        except ValueError:
            pass
    if mode == "json":
        raise ShellCommandError("the command's output is not JSON" if stdout is not None else "the command's output is too large to be JSON")
    return last_line


class _Reader:
    """Copies one pipe into a stream of the try's log, line by line, keeping what the result needs."""

    def __init__(self, pipe: IO[str], sink: Any, keep: bool) -> None:
        self.pipe, self.sink, self.keep = pipe, sink, keep
        self.parts: list[str] = []
        self.kept = 0
        self.overflow = False
        self.last_line: str | None = None
        # the runtime routes sys.stdout to the running try's log through a context variable
        self.thread = threading.Thread(target=contextvars.copy_context().run, args=(self._run,), daemon=True)
        self.thread.start()

    def _run(self) -> None:
        for line in self.pipe:
            self.sink.write(line)
            if line.strip():
                self.last_line = line.strip()
            if self.keep and not self.overflow:
                self.kept += len(line)
                self.overflow = self.kept > _KEEP_STDOUT_CHARS
                self.parts.append(line)
        getattr(self.sink, "flush", lambda: None)()

    def text(self) -> str | None:
        return None if self.overflow else "".join(self.parts)


def run_command(
    command: str | Sequence[str], *, env: Mapping[str, str], cwd: str | None, timeout_s: float | None
) -> tuple[int, str | None, str | None]:
    """Run the command; return (exit code, stdout or None if too large, last non-empty stdout line).

    The command runs in a session of its own, so a timeout (or the task being interrupted)
    kills it together with whatever it started.
    """
    proc = subprocess.Popen(
        command, shell=isinstance(command, str), env=dict(env), cwd=cwd, stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, errors="replace", start_new_session=True,
    )
    assert proc.stdout is not None and proc.stderr is not None
    out = _Reader(proc.stdout, sys.stdout, keep=True)
    err = _Reader(proc.stderr, sys.stderr, keep=False)
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    try:
        # short waits, so the runtime's execution_timeout can interrupt this thread between them
        while True:
            try:
                code = proc.wait(timeout=0.1)
                break
            except subprocess.TimeoutExpired:
                if deadline is not None and time.monotonic() > deadline:
                    raise ShellCommandError(f"the command ran longer than its timeout of {timeout_s:g} s and was killed") from None
    finally:
        if proc.poll() is None:
            _kill_group(proc)
        out.thread.join(5)
        err.thread.join(5)
    return code, out.text(), out.last_line


def _kill_group(proc: subprocess.Popen[str]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


@hookimpl
def orchestrator_step_types() -> list[type[BaseTask]]:
    return [ShellTask]
