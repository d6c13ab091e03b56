"""The task try page follows a running log; the run page cancels a run and clears a task."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.e2e.helpers import RUN_TIMEOUT_MS, Pages, page_loads, screenshot, trigger_from_dag_page

pytestmark = pytest.mark.slow


def test_the_log_of_a_running_try_grows_on_the_page(pages: Pages) -> None:
    page = pages.new()
    trigger_from_dag_page(page, "e2e_logs")
    cell = page.locator("#grid tr[data-task='talk'] a.cell").last
    expect(cell).to_have_attribute("data-state", "running", timeout=RUN_TIMEOUT_MS)
    cell.click()
    log = page.locator("#log")
    expect(page.locator("#try-state .badge")).to_have_text("running")
    expect(log).to_contain_text("line 1", timeout=20_000)
    # its first lines are on the page while it still runs: the log is followed, not loaded at the end
    assert "line 19" not in log.inner_text()
    expect(page.locator("#log-live")).to_be_visible()
    screenshot(page, "task_try_running")
    expect(log).to_contain_text("line 19", timeout=RUN_TIMEOUT_MS)
    expect(page.locator("#try-state .badge")).to_have_text("success")
    expect(page.locator("#log-live")).to_be_hidden()
    assert page.locator("#log").inner_text().count("line 5\n") == 1, "a log chunk was shown twice"
    expect(page.locator("#result")).to_have_text("20")
    screenshot(page, "task_try")


def test_the_run_page_shows_tasks_gantt_and_timeline(pages: Pages) -> None:
    page = pages.new()
    trigger_from_dag_page(page, "e2e_browse")
    page.locator("#grid .runhead a").last.click()
    expect(page.locator("h1")).to_contain_text("Run")
    expect(page.locator("#run-state .badge")).to_have_text("success", timeout=RUN_TIMEOUT_MS)
    rows = page.locator("#task-table tbody tr")
    expect(rows).to_have_count(3)
    expect(page.locator("#task-table tbody tr[data-state='success']")).to_have_count(3)
    expect(page.locator("#gantt rect.barrect")).to_have_count(3)
    expect(page.locator("#events tbody")).to_contain_text("run.success")
    screenshot(page, "run")


def test_cancelling_a_run_then_clearing_its_task_runs_it_again(pages: Pages) -> None:
    page = pages.new()
    trigger_from_dag_page(page, "e2e_cancel")
    cell = page.locator("#grid tr[data-task='slow'] a.cell").last
    expect(cell).to_have_attribute("data-state", "running", timeout=RUN_TIMEOUT_MS)
    with page_loads(page):
        page.locator("#grid .runhead a").last.click()
    page.click("#cancel-run")
    expect(page.locator("#confirm-dialog")).to_be_visible()
    screenshot(page, "run_cancel_confirm")
    page.click("#confirm-ok")
    expect(page.locator("#run-state .badge")).to_have_text("cancelled", timeout=30_000)
    expect(page.locator("#task-table tr[data-task='slow']")).to_have_attribute("data-state", "cancelled")
    expect(page.locator("#cancel-run")).to_be_hidden()
    expect(page.locator("#events tbody")).to_contain_text("run.cancelled")
    screenshot(page, "run_cancelled")

    page.click("#task-table [data-clear='slow']")
    expect(page.locator("#confirm-option")).to_be_checked()
    page.click("#confirm-ok")
    # cleared with what follows it: both run again and the run ends well this time
    expect(page.locator("#run-state .badge")).to_have_text("success", timeout=RUN_TIMEOUT_MS)
    expect(page.locator("#task-table tr[data-task='slow'] td").nth(2)).to_have_text("2 / 2")
    expect(page.locator("#task-table tr[data-task='done']")).to_have_attribute("data-state", "success")
    expect(page.locator("#events tbody")).to_contain_text("cleared by admin")
    screenshot(page, "run_cleared")
