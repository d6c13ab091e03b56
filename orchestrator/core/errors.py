"""Exception classes. Each message names what is wrong and what the user can do about it."""

from __future__ import annotations


class OrchestratorError(Exception):
    """Base class for every error this package raises on purpose."""


class DagDefinitionError(OrchestratorError):
    """A DAG is malformed: a cycle, a duplicate task id, a bad schedule or argument."""


class DuplicateTaskIdError(DagDefinitionError):
    """Two tasks in one DAG share a task id."""


class CycleError(DagDefinitionError):
    """The task dependencies of a DAG form a cycle."""


class DagImportError(OrchestratorError):
    """A DAG file could not be turned into DagSpecs (raised only where one file is asked for)."""


class ConfigError(OrchestratorError):
    """The configuration (environment or TOML file) is invalid."""


class IllegalTransitionError(OrchestratorError):
    """A state change that the state machine does not allow was asked for."""

    def __init__(self, what: str, current: str, requested: str, history: list[str] | None = None):
        self.what = what
        self.current = current
        self.requested = requested
        self.history = history or []
        trail = f" (history: {' -> '.join(self.history)})" if self.history else ""
        super().__init__(f"{what}: cannot go from {current!r} to {requested!r}{trail}")


class DatabaseError(OrchestratorError):
    """The database is unreachable or its schema is not at the expected revision."""


class SchemaNotReadyError(DatabaseError):
    """The database has no schema, or an older one: `orchestrator db upgrade` fixes it."""


class NotFoundError(OrchestratorError):
    """A DAG, run, task or try that was named does not exist."""


class TaskTimeoutError(OrchestratorError, TimeoutError):
    """A task try ran past its execution_timeout."""


class SchedulerAlreadyRunningError(OrchestratorError):
    """A second scheduler was started against a database that allows only one."""


class ConflictError(OrchestratorError):
    """The action does not fit the current state (cancel a finished run, clear a running task)."""


class BranchError(OrchestratorError):
    """A branch task chose something other than its direct downstream tasks."""


class PluginError(OrchestratorError):
    """The plugins cannot work together (e.g. two register the same step type name)."""
