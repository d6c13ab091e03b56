"""The DAG specs the scheduler plans with, parsed once per DAG version and kept.

A run is pinned to its DAG's version; a spec is JSON in the store and costs milliseconds to
parse, so each version is parsed once, and the specs of DAGs about to fall due are parsed ahead
of time, a few per poll (`warm`): when 1,000 DAGs fall due together, the poll that starts their
runs finds their specs ready.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from orchestrator.core.spec import DagSpec
from orchestrator.store import runs as run_store
from orchestrator.store.models import Dag

SPEC_LOOKAHEAD_S = 5.0
"""The specs of the DAGs due within this are parsed ahead, in the polls before they fall due."""
WARM_PER_POLL = 100
"""Specs parsed ahead per poll at most (about 50 ms): the warm-up never makes a long pass itself."""


class SpecCache:
    """Specs by (dag_id, version_hash)."""

    def __init__(self) -> None:
        self._specs: dict[tuple[str, str], DagSpec] = {}

    def of_dag(self, dag: Dag) -> DagSpec:
        """The current spec of a dag row."""
        cache_key = (dag.dag_id, dag.version_hash)
        if cache_key not in self._specs:
            self._specs[cache_key] = DagSpec.model_validate(dag.spec)
        return self._specs[cache_key]

    def get(self, session: Session, dag_id: str, version_hash: str) -> DagSpec:
        """The spec of one stored version."""
        cache_key = (dag_id, version_hash)
        if cache_key not in self._specs:
            self._specs[cache_key] = run_store.spec_for_version(session, dag_id, version_hash)
        return self._specs[cache_key]

    def load(self, session: Session, versions: set[tuple[str, str]]) -> None:
        """Read the specs of these versions not yet cached, in one query."""
        missing = versions - self._specs.keys()
        if missing:
            self._specs.update(run_store.specs_for_versions(session, missing))

    def warm(self, session: Session, now: datetime) -> datetime | None:
        """Parse the specs of the DAGs due in the next SPEC_LOOKAHEAD_S, WARM_PER_POLL at most.
        Returns the first of those due times still ahead (it should wake the scheduler for a full
        poll); one already due whose run could not start waits for the poll interval."""
        due = session.execute(
            select(Dag.dag_id, Dag.version_hash, Dag.next_run_at)
            .where(Dag.next_run_at <= now + timedelta(seconds=SPEC_LOOKAHEAD_S), Dag.is_paused.is_(False), Dag.is_active.is_(True))
        ).all()
        missing = sorted({(dag_id, version_hash) for dag_id, version_hash, _ in due} - self._specs.keys())
        self.load(session, set(missing[:WARM_PER_POLL]))
        return min((row.next_run_at for row in due if row.next_run_at > now), default=None)
