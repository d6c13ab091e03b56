"""Health and the audit log."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.e2e.helpers import Pages, screenshot

pytestmark = pytest.mark.slow


def test_health_shows_the_scheduler_the_database_and_the_dask_workers(pages: Pages) -> None:
    page = pages.new()
    page.goto("/health")
    expect(page.locator("#overall .badge")).to_have_text("healthy")
    expect(page.locator("#schedulers")).to_contain_text("alive")
    expect(page.locator("#database")).to_contain_text("reachable")
    expect(page.locator("#database")).to_contain_text("sqlite")
    # the standalone LocalCluster has two workers (ORCH_DASK_WORKERS=2)
    expect(page.locator("#worker-table tbody tr")).to_have_count(2, timeout=20_000)
    screenshot(page, "health")


def test_the_audit_log_lists_logins_with_their_source_address(pages: Pages) -> None:
    page = pages.new()
    page.goto("/audit?action=user.login")
    first = page.locator("#audit tbody tr").first
    expect(first).to_contain_text("admin")
    expect(first).to_contain_text("user.login")
    expect(first).to_contain_text("127.0.0.1")
    page.goto("/audit")
    screenshot(page, "audit")
