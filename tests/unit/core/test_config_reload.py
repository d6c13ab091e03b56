"""Named environments and what a reload may change, as pure decisions over Config values."""

from __future__ import annotations

import pytest

from orchestrator.core.config import Config, reload_plan, with_environment
from orchestrator.core.errors import ConfigError

TOML = {"poll_interval_s": 0.5, "env": {"staging": {"poll_interval_s": 2.0, "retention_days": 7}, "prod": {}}}


def test_a_named_environment_lays_its_section_over_the_top_level_settings() -> None:
    assert with_environment(TOML, "staging", "x.toml") == {"poll_interval_s": 2.0, "retention_days": 7}


def test_without_a_named_environment_the_sections_are_ignored() -> None:
    assert with_environment(TOML, None, "x.toml") == {"poll_interval_s": 0.5}


def test_an_unknown_environment_is_refused_naming_the_known_ones() -> None:
    with pytest.raises(ConfigError, match=r"ORCH_ENV=qa names no \[env\.qa\] section in x\.toml \(its environments: prod, staging\)"):
        with_environment(TOML, "qa", "x.toml")


def test_a_reload_applies_ordinary_settings_and_holds_back_database_and_cluster_ones() -> None:
    old = Config(home="/tmp/h", poll_interval_s=0.2, database_url="sqlite:///a.db", dask_workers=2)
    new = Config(home="/tmp/h", poll_interval_s=1.0, database_url="sqlite:///b.db", dask_workers=4)
    plan = reload_plan(old, new)
    assert plan.applied == {"poll_interval_s": (0.2, 1.0)}
    assert plan.needs_restart == {"database_url": ("sqlite:///a.db", "sqlite:///b.db"), "dask_workers": (2, 4)}
