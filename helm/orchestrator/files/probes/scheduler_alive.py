"""Exec probe of a scheduler pod: exit 0 when this pod's scheduler heartbeats, else 1.

It reads the same ORCH_* settings as `orchestrator scheduler` and asks the database whether a
scheduler of this host (a pod's hostname is its name) is running and heartbeated within
`scheduler_health_threshold_s`: the scheduler's own proof of life, not merely a live process.
"""

from __future__ import annotations

import socket
import sys
from datetime import UTC, datetime, timedelta

from orchestrator.core.config import load_config
from orchestrator.store.db import make_engine, make_sessionmaker
from orchestrator.store.jobs import alive_schedulers


def main() -> int:
    config = load_config()
    engine = make_engine(config.resolved_database_url)
    threshold = timedelta(seconds=config.scheduler_health_threshold_s)
    try:
        with make_sessionmaker(engine, readonly=True)() as session:
            hosts = {job.hostname for job in alive_schedulers(session, datetime.now(UTC), threshold)}
    finally:
        engine.dispose()
    host = socket.gethostname()
    if host in hosts:
        return 0
    print(f"no scheduler on {host} heartbeated within {threshold.total_seconds():g} s", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
