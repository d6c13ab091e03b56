"""Retention: `orchestrator db clean` and the daily policy the scheduler applies.

The decisions are pure (`parse_age`, `policy_selections`, `is_due`); `clean` does one audited
purge and `run_retention` applies the policy when it is due. The scheduler starts
`RetentionThread`, which wakes up every minute to move long finished logs to the log store and
applies the policy once a day has passed since its last clean (found in the audit log, so a
restart or a second scheduler does not repeat it).
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from orchestrator.core.config import Config
from orchestrator.core.errors import ConfigError
from orchestrator.plugins.log_store import LogStores, offload
from orchestrator.store import audit
from orchestrator.store import retention as store
from orchestrator.store.models import AuditLog
from orchestrator.store.retention import Pacing, PurgeReport, Selection

log = logging.getLogger(__name__)

POLICY_ACTOR = "scheduler:retention"
CLEAN_ACTION = "db.clean"
POLICY_INTERVAL = timedelta(days=1)

_AGE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([dhm])\s*$", re.IGNORECASE)
_UNITS = {"d": timedelta(days=1), "h": timedelta(hours=1), "m": timedelta(minutes=1)}


class BadAgeError(ConfigError):
    """An age such as `--older-than` that is not a number of days, hours or minutes."""


def parse_age(text: str) -> timedelta:
    """`30d`, `12h`, `90m` as a timedelta; BadAgeError saying what is accepted otherwise."""
    match = _AGE.match(text)
    if match is None:
        raise BadAgeError(f"{text!r} is not an age: use a number and a unit d, h or m, e.g. 30d, 12h or 90m")
    age = float(match[1]) * _UNITS[match[2].lower()]
    if age <= timedelta(0):
        raise BadAgeError(f"{text!r}: the age must be greater than zero")
    return age


def policy_selections(config: Config, now: datetime, declared: Mapping[str, float] | None = None) -> list[Selection]:
    """The cleans the policy asks for at `now`: one per DAG with its own retention, then the rest.

    A DAG's retention is the configuration's per-DAG override (retention_dag_days) if there is one,
    else what the DAG declares (`declared`: seconds, from `DAG(log_retention=...)` or a workflow's
    executionLog), else retention_days."""
    own = {dag_id: timedelta(seconds=s) for dag_id, s in (declared or {}).items()}
    own.update((dag_id, timedelta(days=days)) for dag_id, days in config.retention_dag_days.items())
    selections = [Selection(cutoff=now - age, dag_ids=(dag_id,)) for dag_id, age in sorted(own.items())]
    if config.retention_days is not None:
        selections.append(Selection(cutoff=now - timedelta(days=config.retention_days), exclude_dag_ids=tuple(sorted(own))))
    return selections


def current_policy(session: Session, config: Config, now: datetime) -> list[Selection]:
    """The policy's cleans at `now`, with the retention the stored DAGs declare."""
    return policy_selections(config, now, store.declared_retention(session))


def is_due(last_run: datetime | None, now: datetime, interval: timedelta = POLICY_INTERVAL) -> bool:
    """Whether the daily policy should run at `now`, given when it last ran (None: never)."""
    return last_run is None or now - last_run >= interval


def last_policy_run(session: Session) -> datetime | None:
    """When the policy last cleaned, from its audit entries."""
    return session.scalar(select(func.max(AuditLog.at)).where(AuditLog.action == CLEAN_ACTION, AuditLog.actor == POLICY_ACTOR))


def clean(
    sessions: sessionmaker[Session],
    selection: Selection,
    *,
    actor: str,
    now: datetime,
    details: dict[str, Any] | None = None,
    pacing: Pacing = Pacing(),
    stop: Callable[[], bool] = lambda: False,
    log_stores: LogStores | None = None,
) -> PurgeReport:
    """Purge `selection` in chunks (with the logs `log_stores` keeps), then record one audit entry with what went."""
    report = store.purge(sessions, selection, pacing=pacing, stop=stop, delete_logs=log_stores.delete if log_stores else None)
    target = ",".join(selection.dag_ids) if selection.dag_ids else "*"
    with sessions.begin() as session:
        audit.record(
            session, actor=actor, action=CLEAN_ACTION, target=target, at=now,
            details={
                **(details or {}),
                "cutoff": selection.cutoff.isoformat(),
                "exclude_dag_ids": list(selection.exclude_dag_ids),
                "include_audit": selection.include_audit,
                "deleted": report.rows,
                "chunks": report.chunks,
            },
        )
    return report


def run_retention(
    sessions: sessionmaker[Session], config: Config, now: datetime, *, stop: Callable[[], bool] = lambda: False,
    log_stores: LogStores | None = None,
) -> list[PurgeReport] | None:
    """Apply the policy if it is configured (or a DAG declares its retention) and due; None when nothing was due."""
    with sessions.begin() as session:
        selections = current_policy(session, config, now)
        if not selections or not is_due(last_policy_run(session), now):
            return None
    return apply_policy(sessions, selections, now, actor=POLICY_ACTOR, stop=stop, log_stores=log_stores)


def apply_policy(
    sessions: sessionmaker[Session], selections: list[Selection], now: datetime, *, actor: str,
    stop: Callable[[], bool] = lambda: False, log_stores: LogStores | None = None,
) -> list[PurgeReport]:
    """Clean each of the policy's selections now, each audited (`orchestrator db clean --policy` too)."""
    reports = [clean(sessions, sel, actor=actor, now=now, stop=stop, log_stores=log_stores, details={"policy": True}) for sel in selections]
    log.info("retention: removed %s", {t: sum(r.rows.get(t, 0) for r in reports) for t in store.TABLE_ORDER})
    return reports


class RetentionThread(threading.Thread):
    """The scheduler's housekeeping: every `check_interval_s` it moves long finished logs to the log
    store, and applies the daily policy when one is configured and due. Ends when `stopping` is set."""

    def __init__(
        self, sessions: sessionmaker[Session], config: Config, stopping: threading.Event, clock: Callable[[], datetime],
        check_interval_s: float = 60.0, log_stores: LogStores | None = None,
    ) -> None:
        super().__init__(name="retention", daemon=True)
        self.sessions, self.config, self.stopping, self.clock = sessions, config, stopping, clock
        self.check_interval_s = check_interval_s
        self.log_stores = log_stores or LogStores.configured(config)

    def run(self) -> None:
        # first pass after one interval: a scheduler's start is busy enough
        while not self.stopping.wait(self.check_interval_s):
            try:
                while not self.stopping.is_set() and offload(self.sessions, self.log_stores):
                    pass
                run_retention(self.sessions, self.config, self.clock(), stop=self.stopping.is_set, log_stores=self.log_stores)
            except (SQLAlchemyError, OSError) as exc:
                log.error("retention failed, will retry in %.0f s: %s", self.check_interval_s, exc)


def start_retention(
    sessions: sessionmaker[Session], config: Config, stopping: threading.Event, clock: Callable[[], datetime],
    log_store_types: dict[str, Any],
) -> RetentionThread:
    """Start the housekeeping thread (log offloading always; the retention policy when configured)."""
    thread = RetentionThread(sessions, config, stopping, clock, log_stores=LogStores(log_store_types, config))
    thread.start()
    return thread
