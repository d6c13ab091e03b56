"""Sensor: a step that waits for a condition, poking it on a worker or deferring it to the scheduler.

`Sensor(task_id=..., python_callable=check, mode="reschedule", poke_interval=30, timeout=3600)`,
or `@task.sensor(...)` over the check, or a subclass that overrides `poke(context)`. A poke returns
a bool, or a `PokeReturnValue(is_done, xcom_value)` whose value becomes the task's result.
orchestrator/core/sensors.py holds the modes and the pure decisions; the scheduler re-queues a
rescheduled sensor (planner) and awaits a deferred one's trigger (scheduler/triggerer.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Literal

from pydantic import ValidationError

from orchestrator.authoring.decorators import task
from orchestrator.authoring.python_tasks import PythonTask, TaskDecorator
from orchestrator.authoring.task_options import seconds_of
from orchestrator.authoring.tasks import BaseTask
from orchestrator.core.errors import DagDefinitionError
from orchestrator.core.sensors import (
    TIMEOUT_ERROR_TYPE,
    PokeReturnValue,
    Reschedule,
    SensorSpec,
    SensorTimeout,
    TaskSkipped,
    TriggerWaitSpec,
    next_poke_interval,
)
from orchestrator.core.spec import TaskSpec
from orchestrator.plugins.hookspecs import hookimpl
from orchestrator.plugins.steps.approval import definition_error

if TYPE_CHECKING:
    from orchestrator.execution.context import TaskContext

MODES = ("poke", "reschedule")


def _no_callable(*_args: Any, **_kwargs: Any) -> Any:  # pragma: no cover - a subclass's poke() replaces it
    raise NotImplementedError("this sensor has no python_callable and does not override poke()")


class Sensor(PythonTask):
    """Wait until a condition holds, then succeed (with the poke's xcom_value as the result).

    `mode="poke"` keeps one try on a worker, poking every `poke_interval`; `mode="reschedule"`
    pokes once per try and frees the worker slot in between (state `up_for_reschedule`);
    `deferrable=True` waits in the scheduler's event loop with no worker at all (for sensors
    that name a trigger: files, times, HTTP). `timeout` counts from the first poke: past it the
    sensor fails with SensorTimeout, or is skipped with `soft_fail=True`. `exponential_backoff`
    lengthens the interval after each poke, up to `max_wait`.
    """

    step_type = "sensor"

    def __init__(
        self,
        *,
        task_id: str,
        python_callable: Callable[..., Any] | None = None,
        mode: Literal["poke", "reschedule"] = "poke",
        poke_interval: timedelta | float = 60.0,
        timeout: timedelta | float = 7 * 24 * 3600.0,
        exponential_backoff: bool = False,
        max_wait: timedelta | float | None = None,
        soft_fail: bool = False,
        deferrable: bool = False,
        **kwargs: Any,
    ) -> None:
        if mode not in MODES:
            raise DagDefinitionError(f"sensor {task_id!r}: mode must be 'poke' or 'reschedule', not {mode!r}")
        try:
            self.sensor = SensorSpec(
                mode=mode, poke_interval_s=seconds_of(poke_interval, "poke_interval"), timeout_s=seconds_of(timeout, "timeout"),
                exponential_backoff=exponential_backoff, max_wait_s=seconds_of(max_wait, "max_wait"), soft_fail=soft_fail,
            )
        except ValidationError as exc:
            raise definition_error(f"sensor {task_id!r}", exc) from None
        self.deferrable = bool(deferrable)
        self._overrides_poke = type(self).poke is not Sensor.poke
        if python_callable is None and not self._overrides_poke:
            raise DagDefinitionError(f"sensor {task_id!r}: give python_callable (the check), or subclass Sensor and override poke()")
        super().__init__(task_id=task_id, python_callable=python_callable or _no_callable, **kwargs)
        self._upstream: dict[str, Any] = {}

    # -- what a subclass may override -------------------------------------------------------------
    def poke(self, context: TaskContext) -> bool | PokeReturnValue:
        """One check of the condition: calls python_callable (its arguments resolved as a PythonTask's)."""
        return PythonTask.execute(self, context, self._upstream)  # type: ignore[no-any-return]

    def defer_trigger(self) -> tuple[str, dict[str, Any]] | None:
        """For deferrable=True: the trigger type and its JSON arguments (None: this sensor cannot defer)."""
        return None

    # -- running on a worker ---------------------------------------------------------------------
    def execute(self, context: TaskContext, upstream_results: dict[str, Any]) -> Any:
        self._upstream = upstream_results
        spec = self.sensor
        if spec.mode == "reschedule":
            done, value = _answer(self.poke(context))
            if not done:
                raise Reschedule()  # the scheduler decides when the next poke is, or that it timed out
            return value
        started = time.monotonic()
        pokes = 0
        while True:
            done, value = _answer(self.poke(context))
            pokes += 1
            if done:
                context.log.info("poke %d: the condition holds", pokes)
                return value
            elapsed = time.monotonic() - started
            if elapsed >= spec.timeout_s:
                error = f"the sensor's condition did not hold within its timeout of {spec.timeout_s:g} s ({pokes} pokes)"
                raise TaskSkipped(f"{error} (soft_fail)") if spec.soft_fail else SensorTimeout(error)
            interval = next_poke_interval(spec, pokes, elapsed, f"{context.dag_id}#{context.task_id}#{context.run_id}")
            context.log.info("poke %d: not yet; next poke in %g s", pokes, interval)
            time.sleep(min(interval, max(spec.timeout_s - elapsed, 0.0)))

    # -- its spec ------------------------------------------------------------------------------
    def callable_ref(self) -> str:
        if self._overrides_poke and self.python_callable is _no_callable:
            return f"{type(self).__module__}:{type(self).__qualname__}.poke"
        return super().callable_ref()

    def to_spec(self) -> TaskSpec:
        spec = super().to_spec()
        if not self.deferrable:
            # a timeout is final, as Airflow's AirflowSensorTimeout: retrying would only wait again
            return spec.model_copy(update={"sensor": self.sensor, "no_retry_on": (*spec.no_retry_on, TIMEOUT_ERROR_TYPE)})
        if self.mapped:
            raise DagDefinitionError(
                f"sensor {self.task_id!r}: a deferrable sensor cannot be mapped; map a reschedule-mode one (mode='reschedule')"
            )
        trigger = self.defer_trigger()
        if trigger is None:
            raise DagDefinitionError(
                f"sensor {self.task_id!r}: a {type(self).__name__} cannot be deferrable (its check is code that runs on a worker); "
                "use mode='reschedule' to hold no worker slot between pokes"
            )
        name, args = trigger
        for key, value in args.items():
            if _has_template(value):
                raise DagDefinitionError(
                    f"sensor {self.task_id!r}: a deferrable sensor's {key} cannot be a template ({value!r}): the scheduler "
                    "waits for it without rendering; give the value itself, or use mode='reschedule'"
                )
        wait = TriggerWaitSpec(trigger=name, args=args, timeout_s=self.sensor.timeout_s, soft_fail=self.sensor.soft_fail)
        # settled by the scheduler (no try to retry), as a WaitForEvent
        return spec.model_copy(update={"wait": wait, "retries": 0})


def _has_template(value: Any) -> bool:
    """Whether a trigger argument (or a string inside it) is a Jinja template."""
    if isinstance(value, str):
        return "{{" in value or "{%" in value
    if isinstance(value, dict):
        return any(_has_template(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(_has_template(v) for v in value)
    return False


def _answer(value: Any) -> tuple[bool, Any]:
    """(done, the result) of what a poke returned: a PokeReturnValue, or anything truthy."""
    if isinstance(value, PokeReturnValue):
        return value.is_done, value.xcom_value
    return bool(value), None


def sensor(fn: Callable[..., Any] | None = None, **task_kwargs: Any) -> Any:
    """`@task.sensor(mode=..., poke_interval=..., timeout=...)`: the function is the poke, returning
    a bool or a PokeReturnValue."""
    if fn is not None:
        return TaskDecorator(fn, task_kwargs, Sensor)
    return lambda f: TaskDecorator(f, task_kwargs, Sensor)


task.sensor = sensor  # type: ignore[attr-defined]  # beside task.branch and task.short_circuit (orchestrator.authoring.tasks)


@hookimpl
def orchestrator_step_types() -> list[type[BaseTask]]:
    return [Sensor]
