"""Sensors: what a sensor waits by (its spec) and the pure decisions about its checks.

A sensor checks a condition ("pokes") until it holds, in one of three ways:

- `mode="poke"`: one try on a worker that pokes, sleeps `poke_interval`, pokes again, holding its
  worker slot the whole time (right for checks a few seconds apart);
- `mode="reschedule"`: each try pokes once on a worker. A check that fails ends the try as
  `reschedule`; the task becomes `up_for_reschedule` (no slot held) and the scheduler submits it
  again at the next interval. Its task instance's result keeps the first poke's time and the
  poke count meanwhile (`PokeRecord`), as a loop controller keeps its iteration;
- deferrable: no worker at all. The spec carries a trigger (`TriggerWaitSpec`) that the scheduler's
  own event loop awaits (scheduler/triggerer.py); the task is `waiting` until it fires.

`timeout` counts from the first poke; past it the sensor fails (`SensorTimeout`, never retried)
or, with `soft_fail`, is skipped. `exponential_backoff` lengthens the interval as Airflow does
(`next_poke_interval`). Nothing here reads a clock: times are passed in.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, Field

from orchestrator.core.errors import OrchestratorError
from orchestrator.core.states import TaskState

DEFAULT_TIMEOUT_S = 7 * 24 * 3600.0
"""Airflow's default: a sensor gives up after a week."""
MIN_BACKOFF_S = 1.0
"""The shortest interval exponential backoff waits (Airflow's floor of one second)."""
_MAX_DOUBLINGS = 60  # beyond this the interval is capped by timeout/max_wait anyway; keeps the float finite
TIMEOUT_ERROR_TYPE = "SensorTimeout"
"""The error type of a sensor that timed out, for `on_failure={"SensorTimeout": ...}`."""


class SensorTimeout(OrchestratorError):
    """A sensor's condition did not hold within its timeout (counted from its first poke)."""


class TaskSkipped(OrchestratorError):
    """Raised by task code to end its try as skipped (Airflow's AirflowSkipException); a soft_fail
    sensor that timed out raises it."""


class Reschedule(OrchestratorError):
    """Raised by a reschedule-mode sensor whose poke found the condition not met: the try ends as
    `reschedule`, and the scheduler decides when the next poke is (or that the sensor timed out)."""


@dataclass(frozen=True)
class PokeReturnValue:
    """What a poke may return instead of a bool: whether the condition holds, and the value that
    becomes the sensor's result (its XCom) when it does."""

    is_done: bool
    xcom_value: Any = None

    def __bool__(self) -> bool:
        return self.is_done


class SensorSpec(BaseModel):
    """How a sensor that runs on workers pokes (kept in its TaskSpec as `sensor`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    mode: Literal["poke", "reschedule"] = "poke"
    poke_interval_s: float = Field(default=60.0, ge=0, description="seconds between two pokes")
    timeout_s: float = Field(default=DEFAULT_TIMEOUT_S, ge=0, description="seconds from the first poke before the sensor gives up")
    exponential_backoff: bool = Field(default=False, description="lengthen the interval after each poke (capped by max_wait and timeout)")
    max_wait_s: float | None = Field(default=None, gt=0, description="the longest interval exponential backoff may reach")
    soft_fail: bool = Field(default=False, description="a timeout skips the sensor instead of failing it")


class TriggerWaitSpec(BaseModel):
    """What a deferrable sensor waits for in the scheduler's event loop (kept in its TaskSpec as `wait`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["trigger"] = "trigger"
    trigger: str = Field(min_length=1, description="the trigger type's name (hook orchestrator_trigger_types)")
    args: dict[str, Any] = Field(default_factory=dict, description="the trigger's JSON arguments")
    timeout_s: float = Field(default=DEFAULT_TIMEOUT_S, ge=0, description="seconds from the start of the wait before it gives up")
    soft_fail: bool = False


def describe_trigger(spec: TriggerWaitSpec) -> str:
    """How the UI says what a deferred sensor waits for: `deferred: file /data/x`."""
    shown = ", ".join(f"{k}={v}" for k, v in spec.args.items() if k not in ("headers",))
    return f"deferred: waiting for trigger {spec.trigger}" + (f" ({shown})" if shown else "")


# -- intervals -----------------------------------------------------------------------------------------
def next_poke_interval(spec: SensorSpec, pokes: int, elapsed_s: float, seed: str) -> float:
    """Seconds to wait after the `pokes`-th poke (1-based), `elapsed_s` after the first one.

    Without backoff: `poke_interval`. With it, as Airflow: a base of poke_interval * 2**(pokes-2)
    (at least one second) plus a deterministic jitter of up to the base (from `seed`, so a restart
    waits the same), capped by `max_wait` and by what is left of the timeout.
    """
    if not spec.exponential_backoff:
        return spec.poke_interval_s
    base = max(spec.poke_interval_s * 2.0 ** min(pokes - 2, _MAX_DOUBLINGS), MIN_BACKOFF_S)
    digest = int(hashlib.sha1(f"{seed}#{pokes}".encode()).hexdigest(), 16)
    interval = base + base * (digest % 1_000_000) / 1_000_000
    interval = min(interval, max(spec.timeout_s - elapsed_s, 0.0))
    if spec.max_wait_s is not None:
        interval = min(interval, spec.max_wait_s)
    return interval


# -- reschedule mode: what a try that found the condition not met leads to ----------------------------
class PokeRecord(NamedTuple):
    """What a rescheduled sensor's task instance keeps between its tries (in its `result`)."""

    first_poke: datetime
    pokes: int

    def to_result(self) -> dict[str, Any]:
        return {"sensor": {"first_poke": self.first_poke.isoformat(), "pokes": self.pokes}}


def poke_record(result: Any) -> PokeRecord | None:
    """The record a task instance's result keeps, if it is one (None: this is the first poke)."""
    if not isinstance(result, dict) or not isinstance(result.get("sensor"), dict):
        return None
    try:
        return PokeRecord(datetime.fromisoformat(result["sensor"]["first_poke"]), int(result["sensor"]["pokes"]))
    except (KeyError, TypeError, ValueError):
        return None


class PokeVerdict(NamedTuple):
    """After a poke that found the condition not met: the task's next state and what goes with it."""

    state: TaskState
    reason: str
    next_poke_at: datetime | None = None
    record: PokeRecord | None = None
    error: str | None = None
    error_type: str | None = None


def after_poke(spec: SensorSpec, previous: PokeRecord | None, poke_start: datetime, ended: datetime, seed: str) -> PokeVerdict:
    """A rescheduled poke (that started at `poke_start`) ended at `ended` without the condition:
    `up_for_reschedule` at the next interval, or the timeout's verdict (failed, or skipped)."""
    first = previous.first_poke if previous is not None else poke_start
    record = PokeRecord(first, (previous.pokes if previous is not None else 0) + 1)
    elapsed = (ended - first).total_seconds()
    if elapsed >= spec.timeout_s:
        return timed_out(record.pokes, elapsed, spec.timeout_s, spec.soft_fail)
    interval = next_poke_interval(spec, record.pokes, elapsed, f"{seed}#{first.isoformat()}")
    return PokeVerdict(
        TaskState.UP_FOR_RESCHEDULE, f"poke {record.pokes}: not yet; next poke in {interval:g} s", ended + timedelta(seconds=interval),
        record,
    )


def timed_out(pokes: int | None, elapsed_s: float, timeout_s: float, soft_fail: bool) -> PokeVerdict:
    """A sensor whose condition did not hold within its timeout: failed, or skipped with soft_fail."""
    after = f" after {pokes} poke(s)" if pokes is not None else ""
    error = f"the sensor's condition did not hold within its timeout of {timeout_s:g} s ({elapsed_s:g} s{after})"
    if soft_fail:
        return PokeVerdict(TaskState.SKIPPED, f"skipped: {error} (soft_fail)", error=f"{error} (soft_fail)")
    return PokeVerdict(TaskState.FAILED, error, error=f"{TIMEOUT_ERROR_TYPE}: {error}", error_type=TIMEOUT_ERROR_TYPE)
