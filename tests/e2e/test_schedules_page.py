"""The schedules page: an operator creates, edits, pauses, resumes and deletes a named schedule."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.e2e.helpers import VIEWER, Pages, page_loads, screenshot

pytestmark = pytest.mark.slow


def test_an_operator_manages_a_named_schedule_from_the_page(pages: Pages) -> None:
    page = pages.new()
    page.goto("/schedules")
    page.click("#new-schedule")
    page.fill("#schedule-name", "e2e_weekday_mornings")
    page.select_option("#schedule-dag", "e2e_browse")
    page.fill("#schedule-cron", "0 7 * * 1-5")
    page.fill("#schedule-timezone", "Europe/Paris")
    page.fill("#schedule-conf", '{"n": 5}')
    page.fill("#schedule-start", "2030-01-01T00:00")  # never due while the tests run
    with page_loads(page):
        page.click("#schedule-submit")
    row = page.locator('tr[data-schedule="e2e_weekday_mornings"]')
    expect(row).to_contain_text("0 7 * * 1-5")
    expect(row).to_contain_text("Europe/Paris")
    expect(row).to_contain_text('{"n": 5}')
    expect(row).to_contain_text("2030-01-01")  # the first weekday 07:00 Paris after the start
    expect(row.locator(".pill")).to_have_text("active")
    screenshot(page, "schedules")

    row.locator("[data-edit]").click()
    page.fill("#schedule-cron", "30 6 * * 1-5")
    with page_loads(page):
        page.click("#schedule-submit")
    expect(row).to_contain_text("30 6 * * 1-5")

    with page_loads(page):
        row.locator("[data-toggle]").click()
    expect(row.locator(".pill")).to_have_text("paused")
    with page_loads(page):
        row.locator("[data-toggle]").click()
    expect(row.locator(".pill")).to_have_text("active")

    row.locator("[data-delete]").click()
    page.click("#confirm-ok")
    expect(row).to_have_count(0)


def test_a_viewer_sees_the_schedules_without_the_buttons_that_change_them(pages: Pages) -> None:
    page = pages.new(*VIEWER)
    page.goto("/schedules")
    expect(page.locator("h1")).to_contain_text("Schedules")
    expect(page.locator("#new-schedule")).to_have_count(0)
    expect(page.locator("[data-edit], [data-toggle], [data-delete]")).to_have_count(0)
