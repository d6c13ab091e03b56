"""The run page's time slider: the run as it stood after any past event, rebuilt from its events."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.e2e.helpers import RUN_TIMEOUT_MS, Pages, screenshot, trigger_from_dag_page

pytestmark = pytest.mark.slow


def test_the_time_slider_shows_the_run_as_it_stood_at_a_past_event(pages: Pages) -> None:
    page = pages.new()
    trigger_from_dag_page(page, "e2e_browse")
    page.locator("#grid .runhead a").last.click()
    expect(page.locator("#run-state .badge")).to_have_text("success", timeout=RUN_TIMEOUT_MS)
    at = page.locator("#replay-at")
    # at the newest event: every task as the task table shows it
    expect(at).to_have_attribute("data-run-state", "success")
    tasks = page.locator("#task-table tbody tr").count()
    expect(page.locator("#replay-tasks tbody tr[data-state='success']")).to_have_count(tasks)
    slider = page.locator("#replay-slider")
    slider.fill("1")  # the run's first event: queued, no task yet
    expect(at).to_have_attribute("data-run-state", "queued")
    expect(page.locator("#replay-tasks tbody tr")).to_have_count(0)
    slider.fill("3")  # started, its first task queued: the others wait
    expect(at).to_have_attribute("data-run-state", "running")
    expect(page.locator("#replay-tasks tbody tr[data-state='queued']")).to_have_count(1)
    expect(page.locator("#replay-tasks tbody tr[data-state='pending']")).to_have_count(tasks - 1)
    expect(page.locator("#replay-position")).to_contain_text("3 of ")
    screenshot(page, "run_time_slider")
