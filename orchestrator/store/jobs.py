"""Writes to scheduler_job: scheduler processes and their heartbeats."""

from __future__ import annotations

import os
import socket
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from orchestrator.core.errors import SchedulerAlreadyRunningError
from orchestrator.store.models import SchedulerJob


def alive_schedulers(session: Session, now: datetime, threshold: timedelta) -> list[SchedulerJob]:
    """Schedulers that say they run and heartbeated within `threshold`."""
    return list(
        session.scalars(
            select(SchedulerJob).where(SchedulerJob.state == "running", SchedulerJob.last_heartbeat >= now - threshold)
        )
    )


_registered_here: set[int] = set()  # scheduler jobs of this process (schedulers in threads, as tests and bench run them)


def alive_job_ids(session: Session, now: datetime, threshold: timedelta) -> set[int]:
    """The ids of the schedulers that say they run and heartbeated within `threshold`."""
    return set(
        session.scalars(
            select(SchedulerJob.id).where(SchedulerJob.state == "running", SchedulerJob.last_heartbeat >= now - threshold)
        )
    )


def _died_here(job: SchedulerJob) -> bool:
    """A job of this host whose process is gone (killed) is dead whatever its last heartbeat says.

    So is one with this very process's pid that this process did not register: a container
    restarted in its pod keeps the hostname and often the pid.
    """
    if job.hostname != socket.gethostname():
        return False
    if job.pid == os.getpid():
        return job.id not in _registered_here
    try:
        os.kill(job.pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def register(session: Session, now: datetime, threshold: timedelta, *, exclusive: bool) -> int:
    """Record this process as a running scheduler and return its job id.

    With `exclusive`, refuse when another scheduler is alive; jobs that stopped heartbeating
    are marked dead either way.
    """
    alive = [job for job in alive_schedulers(session, now, threshold) if not _died_here(job)]
    for job in alive_schedulers(session, now, threshold):
        if _died_here(job):
            job.state = "dead"
    if exclusive and alive:
        other = alive[0]
        raise SchedulerAlreadyRunningError(
            f"another scheduler is running (pid {other.pid} on {other.hostname}, last heartbeat "
            f"{other.last_heartbeat:%H:%M:%S} UTC); this database supports only one. Stop it first, "
            "or use PostgreSQL for several schedulers"
        )
    session.execute(
        update(SchedulerJob).where(SchedulerJob.state == "running", SchedulerJob.last_heartbeat < now - threshold).values(state="dead")
    )
    job = SchedulerJob(hostname=socket.gethostname(), pid=os.getpid(), state="running", started_at=now, last_heartbeat=now)
    session.add(job)
    session.flush()
    _registered_here.add(job.id)
    return job.id


def heartbeat(session: Session, job_id: int, now: datetime, stats: dict[str, Any] | None = None) -> None:
    """Record that the scheduler is alive, with what it reports about itself."""
    values: dict[str, Any] = {"last_heartbeat": now}
    if stats is not None:
        values["stats"] = stats
    session.execute(update(SchedulerJob).where(SchedulerJob.id == job_id).values(**values))


def stop(session: Session, job_id: int, now: datetime) -> None:
    session.execute(update(SchedulerJob).where(SchedulerJob.id == job_id).values(state="stopped", last_heartbeat=now))
