"""Tasks: the base class, `PythonTask`, the `@task` decorator and result references."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from orchestrator.authoring.linking import Linkable
from orchestrator.authoring.setup_teardown import enter_scope, exit_scope, mark_setup, mark_teardown
from orchestrator.authoring.task_group import TaskGroup
from orchestrator.authoring.task_options import CALLBACKS, MAX_ID_LEN, POLICY_DEFAULTS, UNSET, callable_ref_of, error_names, seconds_of, valid_task_id
from orchestrator.core.assets import Asset, outlet_uris
from orchestrator.core.deadlines import Deadline, deadline_spec
from orchestrator.core.error_routing import is_error_mode, on_failure_spec
from orchestrator.core.errors import DagDefinitionError
from orchestrator.core.spec import MapSource, TaskSpec
from orchestrator.core.states import TriggerRule
from orchestrator.core.templating import check_template

if TYPE_CHECKING:
    from orchestrator.authoring.dag import DAG
    from orchestrator.execution.context import TaskContext


class BaseTask(Linkable):
    """One step of a DAG. Subclasses implement `execute(context, upstream_results)`."""

    step_type = "base"
    template_fields: tuple[str, ...] = ()
    """Attributes rendered as Jinja templates (with Airflow's context) before each try runs."""
    branch = False
    """Whether the task's result names the direct downstream tasks to follow (see `follow`)."""
    compensation_from_callable: ClassVar[Callable[[BaseTask, Callable[..., Any]], str]]
    """Makes the task a callable given as `compensate=` becomes, and returns its id. Set by
    orchestrator.authoring.python_tasks, where that task's class (`PythonTask`, a subclass of this one) is."""

    def __init__(
        self,
        *,
        task_id: str,
        dag: DAG | None = None,
        retries: int = UNSET,
        retry_delay: timedelta | float = UNSET,
        retry_backoff: Literal["fixed", "exponential"] = UNSET,
        max_retry_delay: timedelta | float | None = UNSET,
        execution_timeout: timedelta | float | None = UNSET,
        trigger_rule: TriggerRule | str = UNSET,
        doc: str | None = None,
        conn_id: str | None = None,
        retry_jitter: float = UNSET,
        retry_on: Sequence[type[BaseException] | str] = UNSET,
        no_retry_on: Sequence[type[BaseException] | str] = UNSET,
        pool: str | None = UNSET,
        priority_weight: int = UNSET,
        tiny: bool | None = UNSET,
        on_success: Callable[[TaskContext], Any] | None = UNSET,
        on_failure: Callable[[TaskContext], Any] | str | dict[Any, Any] | None = UNSET,
        on_retry: Callable[[TaskContext], Any] | None = UNSET,
        outlets: Sequence[Asset] | None = None,
        min_success: int | Literal["all", "any", "majority"] | None = None,
        compensate: BaseTask | XComArg | str | Callable[..., Any] | None = None,
        idempotency_key: str | None = None,
        doc_md: str | None = None,
        depends_on_past: bool = False,
        deadline: Deadline | None = None,
        on_deadline_miss: Callable[[TaskContext], Any] | None = None,
    ) -> None:
        """`on_failure` is either the failure callback (a callable) or the error transition after
        the last try ("fail", "continue", "stop" or {error type: handler task}, see
        orchestrator.core.error_routing). `compensate` names the task that undoes this one if the run
        fails (orchestrator.core.compensation); `idempotency_key` is a template whose rendered key runs
        at most once (orchestrator.core.idempotency). A task unfinished at its `deadline` is late
        (orchestrator.core.deadlines): `on_deadline_miss` is called with its context."""
        from orchestrator.authoring.dag import current_dag

        if not valid_task_id(task_id):
            raise DagDefinitionError(
                f"task_id {task_id!r} is not valid: use 1-{MAX_ID_LEN} letters, digits, '_', '-' and '.'"
            )
        self.dag = dag or current_dag()
        # made inside `with TaskGroup(...)`: the id carries the group's prefix
        self.task_group = self.dag.current_group() if self.dag is not None else None
        if self.task_group is not None:
            task_id = self.task_group.child_id(task_id)
            if len(task_id) > MAX_ID_LEN:
                raise DagDefinitionError(f"task_id {task_id!r} is longer than {MAX_ID_LEN} characters with its group's prefix")
        self.task_id = task_id
        self.doc = doc_md if doc_md is not None else doc
        if not isinstance(depends_on_past, bool):
            raise DagDefinitionError(f"task {task_id!r}: depends_on_past must be True or False, not {depends_on_past!r}")
        self.depends_on_past = depends_on_past
        self.deadline = deadline_spec(deadline, f"task {task_id!r}")
        if on_deadline_miss is not None and not callable(on_deadline_miss):
            raise DagDefinitionError(f"task {task_id!r}: on_deadline_miss must be callable, not {on_deadline_miss!r}")
        self.on_deadline_miss = on_deadline_miss
        # set by as_setup() / as_teardown() (orchestrator.authoring.setup_teardown)
        self.setup_teardown: Literal["setup", "teardown"] | None = None
        self.fail_dagrun = False
        if conn_id is not None and (not isinstance(conn_id, str) or not conn_id):
            raise DagDefinitionError(f"task {task_id!r}: conn_id must be a non-empty string, not {conn_id!r}")
        self.conn_id = conn_id
        self.outlets = outlet_uris(task_id, outlets or [])
        self._error_transition: Any = UNSET
        if on_failure is not UNSET and is_error_mode(on_failure):
            self._error_transition = on_failure_spec(task_id, on_failure)
            on_failure = UNSET
        if idempotency_key is not None:
            if not isinstance(idempotency_key, str) or not idempotency_key.strip():
                raise DagDefinitionError(f"task {task_id!r}: idempotency_key must be a non-empty template string, not {idempotency_key!r}")
            check_template(idempotency_key, f"task {task_id!r}: idempotency_key")
        self.idempotency_key = idempotency_key
        self.min_success = min_success
        # set by PythonTask.expand/map: the arguments the task is mapped over
        self.mapped: tuple[MapSource, ...] = ()
        self._explicit: dict[str, Any] = {
            k: v
            for k, v in {
                "retries": retries,
                "retry_delay": retry_delay,
                "retry_backoff": retry_backoff,
                "max_retry_delay": max_retry_delay,
                "execution_timeout": execution_timeout,
                "trigger_rule": trigger_rule,
                "retry_jitter": retry_jitter,
                "retry_on": retry_on,
                "no_retry_on": no_retry_on,
                "pool": pool,
                "priority_weight": priority_weight,
                "tiny": tiny,
                "on_success": on_success,
                "on_failure": on_failure,
                "on_retry": on_retry,
            }.items()
            if v is not UNSET
        }
        for name in CALLBACKS:
            if self._explicit.get(name) is not None and not callable(self._explicit[name]):
                raise DagDefinitionError(f"task {task_id!r}: {name} must be callable, not {self._explicit[name]!r}")
        self.upstream_ids: list[str] = []
        self._upstream_seen: set[str] = set()
        if self.dag is None:
            raise DagDefinitionError(
                f"task {task_id!r} was created outside a DAG: create it inside `with DAG(...):` or pass dag="
            )
        self.dag.add_task(self)
        if self.task_group is not None:
            self.task_group.add(self)
        self.compensate = None if compensate is None else compensation_task_id(self, compensate)

    # -- policy, with the DAG's default_args filling what the task leaves unset
    def policy(self, name: str) -> Any:
        if name in self._explicit:
            return self._explicit[name]
        assert self.dag is not None
        return self.dag.default_args.get(name, POLICY_DEFAULTS[name])

    def callback(self, name: str) -> Callable[[TaskContext], Any] | None:
        """The task's `on_success`, `on_failure` or `on_retry` callback (its own or default_args'), if any."""
        fn = self.policy(name)
        if name == "on_failure" and is_error_mode(fn):
            return None  # default_args' on_failure is an error transition, not a callback
        if fn is not None and not callable(fn):
            raise DagDefinitionError(f"task {self.task_id!r}: {name} must be callable, not {fn!r}")
        return fn

    # -- dependencies
    def set_upstream(self, other: BaseTask | XComArg | TaskGroup | Sequence[BaseTask | XComArg | TaskGroup]) -> None:
        for t in _as_tasks(other, "leaves"):
            if t.dag is not self.dag:
                raise DagDefinitionError(f"cannot link {t.task_id!r} and {self.task_id!r}: they are in different DAGs")
            if t.task_id not in self._upstream_seen:  # a set: a join of thousands stays linear
                self._upstream_seen.add(t.task_id)
                self.upstream_ids.append(t.task_id)

    def set_downstream(self, other: BaseTask | XComArg | TaskGroup | Sequence[BaseTask | XComArg | TaskGroup]) -> None:
        for t in _as_tasks(other, "roots"):
            t.set_upstream(self)

    # -- execution and serialization
    def execute(self, context: TaskContext, upstream_results: dict[str, Any]) -> Any:
        raise NotImplementedError(f"{type(self).__name__} does not implement execute()")

    def follow(self, result: Any) -> tuple[str, ...] | None:
        """The direct downstream tasks to follow after a success with `result` (None: all)."""
        return None

    def downstream_ids(self) -> list[str]:
        """The ids of the tasks that list this one as an upstream."""
        assert self.dag is not None
        return [t.task_id for t in self.dag.tasks.values() if self.task_id in t.upstream_ids]

    def callable_ref(self) -> str | None:
        return None

    def args_repr(self) -> str:
        return ""

    def to_spec(self) -> TaskSpec:
        backoff = self.policy("retry_backoff")
        if backoff not in ("fixed", "exponential"):
            raise DagDefinitionError(f"task {self.task_id!r}: retry_backoff must be 'fixed' or 'exponential', not {backoff!r}")
        retries = self.policy("retries")
        if not isinstance(retries, int) or isinstance(retries, bool) or retries < 0:
            raise DagDefinitionError(f"task {self.task_id!r}: retries must be a whole number >= 0, not {retries!r}")
        try:
            rule = TriggerRule(self.policy("trigger_rule"))
        except ValueError:
            allowed = ", ".join(r.value for r in TriggerRule)
            raise DagDefinitionError(
                f"task {self.task_id!r}: unknown trigger_rule {self.policy('trigger_rule')!r} (one of {allowed})"
            ) from None
        for name in CALLBACKS:
            self.callback(name)  # a non-callable in default_args is a definition error at parse time
        return TaskSpec(
            task_id=self.task_id,
            step_type=self.step_type,
            callable=self.callable_ref(),
            args_repr=self.args_repr(),
            upstream=tuple(self.upstream_ids),
            trigger_rule=rule,
            retries=retries,
            retry_delay_s=seconds_of(self.policy("retry_delay"), "retry_delay") or 0.0,
            retry_backoff=backoff,
            max_retry_delay_s=seconds_of(self.policy("max_retry_delay"), "max_retry_delay"),
            execution_timeout_s=seconds_of(self.policy("execution_timeout"), "execution_timeout"),
            doc=self.doc,
            conn_id=self.conn_id,
            outlets=self.outlets,
            on_failure=self.error_transition(),
            compensate=self.compensate,
            idempotency_key=self.idempotency_key,
            task_group=self.task_group.group_id if self.task_group else None,
            branch=self.branch,
            min_success=self._min_success(rule),
            mapped=self.mapped,
            setup_teardown=self.setup_teardown,
            fail_dagrun=self.fail_dagrun,
            depends_on_past=self.depends_on_past or self.dag.default_args.get("depends_on_past", False) is True,
            deadline=self.deadline,
            on_deadline_miss=None if self.on_deadline_miss is None else callable_ref_of(self.on_deadline_miss),
            **self._resilience_fields(),
        )

    def _min_success(self, rule: TriggerRule) -> int | str | None:
        """The wait strategy, checked against the task's upstreams; it replaces the trigger rule."""
        value = self.min_success
        if value is None:
            return None
        if rule is not TriggerRule.ALL_SUCCESS:
            raise DagDefinitionError(f"task {self.task_id!r}: min_success replaces trigger_rule; set one of them, not both")
        total = len(self.upstream_ids)
        if value in ("all", "any", "majority"):
            return value
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= max(total, 1):
            raise DagDefinitionError(
                f"task {self.task_id!r}: min_success must be 'all', 'any', 'majority' or a number from 1 to its "
                f"{total} upstreams, not {value!r}"
            )
        return value

    def error_transition(self) -> str | dict[str, str] | None:
        """The task's `on_failure` mode or routes (its own or default_args'); None: fail as usual."""
        if self._error_transition is not UNSET:
            return self._error_transition
        assert self.dag is not None
        default = self.dag.default_args.get("on_failure")
        return on_failure_spec(self.task_id, default) if is_error_mode(default) else None

    def _resilience_fields(self) -> dict[str, Any]:
        """Retry jitter and filters, pool and priority, checked; exception types become their names."""
        jitter = self.policy("retry_jitter")
        if isinstance(jitter, bool) or not isinstance(jitter, (int, float)) or not 0 <= jitter <= 1:
            raise DagDefinitionError(f"task {self.task_id!r}: retry_jitter must be a fraction from 0 to 1, not {jitter!r}")
        weight = self.policy("priority_weight")
        if isinstance(weight, bool) or not isinstance(weight, int):
            raise DagDefinitionError(f"task {self.task_id!r}: priority_weight must be a whole number, not {weight!r}")
        pool = self.policy("pool")
        if pool is not None and (not isinstance(pool, str) or not pool):
            raise DagDefinitionError(f"task {self.task_id!r}: pool must be a pool's name, not {pool!r}")
        tiny = self.policy("tiny")
        if tiny is not None and not isinstance(tiny, bool):
            raise DagDefinitionError(f"task {self.task_id!r}: tiny must be True, False or None (learned), not {tiny!r}")
        return {
            "tiny": tiny,
            "retry_jitter": float(jitter),
            "retry_on": error_names(self.task_id, "retry_on", self.policy("retry_on")),
            "no_retry_on": error_names(self.task_id, "no_retry_on", self.policy("no_retry_on")),
            "pool": pool,
            "priority_weight": weight,
        }

    @property
    def doc_md(self) -> str | None:
        """The task's documentation (Markdown); the same as `doc`."""
        return self.doc

    @doc_md.setter
    def doc_md(self, value: str | None) -> None:
        self.doc = value

    @property
    def output(self) -> XComArg:
        """The task's result, to pass to another task (Airflow's `.output`)."""
        return XComArg(self)

    def as_setup(self) -> BaseTask:
        """Mark the task a setup: clearing a task after it clears it too; see orchestrator.authoring.setup_teardown."""
        mark_setup(self)
        return self

    def as_teardown(
        self, *, setups: BaseTask | XComArg | Sequence[BaseTask | XComArg] | None = None, on_failure_fail_dagrun: bool = False
    ) -> BaseTask:
        """Mark the task a teardown of `setups` (linked before it): it runs once its upstreams ended,
        failed or not, if a setup succeeded; its failure does not fail the run unless
        `on_failure_fail_dagrun`."""
        mark_teardown(self, _as_tasks(setups, "leaves") if setups is not None else [], on_failure_fail_dagrun)
        return self

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.task_id!r}>"


class XComArg:
    """The future result of a task, passed as an argument to another task (wires the dependency)."""

    def __init__(self, task: BaseTask, key: str | int | None = None) -> None:
        self.task = task
        self.key = key

    def __getitem__(self, key: str | int) -> XComArg:
        return XComArg(self.task, key)

    def resolve(self, upstream_results: dict[str, Any]) -> Any:
        value = upstream_results[self.task.task_id]
        return value if self.key is None else value[self.key]

    def __rshift__(self, other: Any) -> Any:
        return self.task >> other

    def __lshift__(self, other: Any) -> Any:
        return self.task << other

    def __rrshift__(self, other: Any) -> BaseTask:
        return other >> self.task

    def __rlshift__(self, other: Any) -> BaseTask:
        return other << self.task

    def as_setup(self) -> XComArg:
        self.task.as_setup()
        return self

    def as_teardown(self, *, setups: Any = None, on_failure_fail_dagrun: bool = False) -> XComArg:
        self.task.as_teardown(setups=setups, on_failure_fail_dagrun=on_failure_fail_dagrun)
        return self

    def __enter__(self) -> XComArg:
        """`with teardown_task(setup_task()):` puts the tasks made inside between the setups and the teardown."""
        enter_scope(self.task)
        return self

    def __exit__(self, *exc: object) -> None:
        exit_scope(self.task)

    def __repr__(self) -> str:
        suffix = "" if self.key is None else f"[{self.key!r}]"
        return f"<result of {self.task.task_id}{suffix}>"


def _as_tasks(obj: Any, group_side: Literal["roots", "leaves"]) -> list[BaseTask]:
    """The tasks `obj` stands for; a task group stands for its roots or its leaves (the side linked)."""
    if isinstance(obj, BaseTask):
        return [obj]
    if isinstance(obj, XComArg):
        return [obj.task]
    if isinstance(obj, TaskGroup):
        return obj.roots if group_side == "roots" else obj.leaves
    if isinstance(obj, Iterable) and not isinstance(obj, (str, bytes)):
        out: list[BaseTask] = []
        for item in obj:
            out.extend(_as_tasks(item, group_side))
        return out
    raise DagDefinitionError(f"expected a task or a list of tasks, got {obj!r}")


def xcom_refs_in(value: Any) -> list[XComArg]:
    """The XComArgs anywhere in `value` (nested dicts, lists, tuples and sets), in order."""
    if isinstance(value, XComArg):
        return [value]
    if isinstance(value, dict):
        return [r for v in value.values() for r in xcom_refs_in(v)]
    if isinstance(value, (list, tuple, set)):
        return [r for v in value for r in xcom_refs_in(v)]
    return []


def resolve_xcoms(value: Any, upstream_results: dict[str, Any]) -> Any:
    """`value` with every XComArg in it replaced by its upstream's result."""
    if isinstance(value, XComArg):
        return value.resolve(upstream_results)
    if isinstance(value, dict):
        return {k: resolve_xcoms(v, upstream_results) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(resolve_xcoms(v, upstream_results) for v in value)
    return value


def compensation_task_id(task: BaseTask, value: object) -> str:
    """The id of the task that compensates `task`: the task given (or its id), or one made from a
    callable (`<task_id>__compensate` beside it, called with `task`'s result)."""
    ref = getattr(value, "task", value)  # an XComArg stands for its task
    tid = getattr(ref, "task_id", ref)
    if isinstance(tid, str) and tid:
        return tid
    if callable(value):
        return BaseTask.compensation_from_callable(task, value)
    raise DagDefinitionError(f"task {task.task_id!r}: compensate must be a task, a task id or a callable, not {value!r}")
