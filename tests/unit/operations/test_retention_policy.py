"""The pure decisions of retention: ages, the daily policy, the chunk size."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from orchestrator.core.config import load_config
from orchestrator.core.errors import ConfigError
from orchestrator.operations.retention import BadAgeError, is_due, parse_age, policy_selections
from orchestrator.store.retention import Pacing, next_chunk

NOW = datetime(2026, 12, 6, 4, 0, tzinfo=UTC)


@pytest.mark.parametrize(("text", "age"), [("30d", timedelta(days=30)), ("12h", timedelta(hours=12)), ("90m", timedelta(minutes=90)),
                                           ("1.5D", timedelta(hours=36)), (" 7d ", timedelta(days=7))])
def test_an_age_is_a_number_and_a_unit(text: str, age: timedelta) -> None:
    assert parse_age(text) == age


@pytest.mark.parametrize("text", ["30", "30s", "d", "-1d", "30 days", "P30D", ""])
def test_anything_else_is_refused_with_the_accepted_forms(text: str) -> None:
    with pytest.raises(BadAgeError, match="30d, 12h or 90m"):
        parse_age(text)


def test_a_zero_age_is_refused() -> None:
    with pytest.raises(BadAgeError, match="greater than zero"):
        parse_age("0d")


def test_the_policy_is_due_the_first_time_and_a_day_after_the_last() -> None:
    assert is_due(None, NOW)
    assert not is_due(NOW - timedelta(hours=23, minutes=59), NOW)
    assert is_due(NOW - timedelta(days=1), NOW)


def test_no_policy_is_configured_by_default(tmp_path: Path) -> None:
    assert policy_selections(load_config(home=tmp_path), NOW) == []


def test_the_policy_cleans_each_overridden_dag_alone_and_the_rest_together(tmp_path: Path) -> None:
    config = load_config(home=tmp_path, retention_days=30, retention_dag_days={"etl": 7, "audit_trail": 365})
    selections = policy_selections(config, NOW)
    assert [(s.dag_ids, s.exclude_dag_ids, s.cutoff) for s in selections] == [
        (("audit_trail",), (), NOW - timedelta(days=365)),
        (("etl",), (), NOW - timedelta(days=7)),
        ((), ("audit_trail", "etl"), NOW - timedelta(days=30)),
    ]
    assert not any(s.include_audit for s in selections)


def test_overrides_alone_clean_only_their_dags(tmp_path: Path) -> None:
    selections = policy_selections(load_config(home=tmp_path, retention_dag_days={"etl": 7}), NOW)
    assert [s.dag_ids for s in selections] == [("etl",)]


def test_a_retention_of_zero_days_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="ORCH_RETENTION_DAYS"):
        load_config(home=tmp_path, retention_days=0)


@pytest.mark.parametrize(("size", "elapsed", "expected"), [(100, 0.2, 50), (1, 0.5, 1), (100, 0.01, 200), (1500, 0.001, 2000), (100, 0.05, 100)])
def test_the_chunk_halves_when_over_budget_and_doubles_when_well_under(size: int, elapsed: float, expected: int) -> None:
    assert next_chunk(size, elapsed, Pacing(budget_s=0.1, most=2000)) == expected


# -- a DAG's own retention (DAG(log_retention=...), a workflow's executionLog) ---------------------------------
def test_a_dag_s_declared_retention_cleans_it_alone_and_the_configuration_s_override_wins(tmp_path: Path) -> None:
    config = load_config(home=tmp_path, retention_days=30, retention_dag_days={"etl": 7})
    selections = policy_selections(config, NOW, {"orders": 3600.0, "etl": 86400.0 * 90})
    assert [(s.dag_ids, s.exclude_dag_ids, s.cutoff) for s in selections] == [
        (("etl",), (), NOW - timedelta(days=7)),
        (("orders",), (), NOW - timedelta(hours=1)),
        ((), ("etl", "orders"), NOW - timedelta(days=30)),
    ]


def test_a_declared_retention_alone_makes_a_policy(tmp_path: Path) -> None:
    assert [s.dag_ids for s in policy_selections(load_config(home=tmp_path), NOW, {"orders": 60.0})] == [("orders",)]


def test_dag_log_retention_takes_iso_8601_and_lands_in_the_spec() -> None:
    from orchestrator import DAG
    from orchestrator.core.errors import DagDefinitionError

    assert DAG("kept", log_retention="P30D").to_spec().log_retention_s == 30 * 86400
    assert DAG("plain").to_spec().log_retention_s is None
    with pytest.raises(DagDefinitionError, match="log_retention must be a positive duration"):
        DAG("bad", log_retention=0)
