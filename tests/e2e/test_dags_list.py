"""The DAGs list: trigger with a conf, squares that follow the run, pausing, the import-errors banner."""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import expect

from tests.e2e.helpers import RUN_TIMEOUT_MS, Pages, screenshot

pytestmark = pytest.mark.slow


def test_triggering_a_dag_turns_its_newest_square_green(pages: Pages) -> None:
    page = pages.new()
    row = page.locator("tr[data-dag='e2e_trigger']")
    before = row.locator("a.sq").count()
    row.locator("[data-trigger]").click()
    dialog = page.locator("#trigger-dialog")
    expect(dialog).to_be_visible()
    expect(page.locator("#trigger-conf")).to_have_value(json.dumps({"n": 3}, indent=2))
    page.fill("#trigger-conf", '{"n": 5,}')
    expect(page.locator("#trigger-error")).to_contain_text("Not valid JSON")
    expect(page.locator("#trigger-submit")).to_be_disabled()
    screenshot(page, "trigger_dialog_invalid")
    page.fill("#trigger-conf", '{"n": 5, "note": "from the browser"}')
    expect(page.locator("#trigger-submit")).to_be_enabled()
    page.click("#trigger-submit")
    expect(dialog).to_be_hidden()
    squares = row.locator("a.sq")
    expect(squares).to_have_count(before + 1)
    expect(squares.last).to_have_attribute("data-state", "success", timeout=RUN_TIMEOUT_MS)
    screenshot(page, "dags")


def test_the_conf_must_be_a_json_object(pages: Pages) -> None:
    page = pages.new()
    page.locator("tr[data-dag='e2e_trigger'] [data-trigger]").click()
    page.fill("#trigger-conf", "[1, 2]")
    expect(page.locator("#trigger-error")).to_contain_text("must be a JSON object")
    expect(page.locator("#trigger-submit")).to_be_disabled()


def test_pausing_a_dag_from_the_list_sticks_and_is_audited(pages: Pages) -> None:
    page = pages.new()
    switch = page.locator("input[data-pause='e2e_pause']")
    expect(switch).to_be_checked()
    page.locator("tr[data-dag='e2e_pause'] .slider").click()
    expect(page.locator(".toast")).to_contain_text("e2e_pause paused")
    page.reload()
    expect(page.locator("input[data-pause='e2e_pause']")).not_to_be_checked()
    expect(page.locator("tr[data-dag='e2e_pause']")).to_have_class("is-paused")
    page.goto("/dags?status=paused")
    expect(page.locator("tr[data-dag]")).to_have_count(1)
    screenshot(page, "dags_paused_filter")
    page.goto("/audit?action=dag.pause")
    expect(page.locator("#audit tbody tr").first).to_contain_text("dag:e2e_pause")


def test_search_and_tag_filter_the_list(pages: Pages) -> None:
    page = pages.new()
    page.fill("input[name=q]", "logs")
    page.click("form.filters button[type=submit]")
    expect(page.locator("tr[data-dag]")).to_have_count(1)
    expect(page.locator("tr[data-dag]")).to_have_attribute("data-dag", "e2e_logs")
    page.goto("/dags")
    page.locator("tr[data-dag='e2e_trigger'] a.tag", has_text="chain").click()
    expect(page.locator("tr[data-dag]")).to_have_count(2)


def test_a_broken_dag_file_shows_a_banner_that_leads_to_its_error(pages: Pages) -> None:
    page = pages.new()
    page.click("#import-errors-banner")
    expect(page.locator("h1")).to_contain_text("Import errors")
    expect(page.locator(".import-error")).to_contain_text("e2e_broken.py")
    expect(page.locator(".import-error")).to_contain_text("broken on purpose")
    screenshot(page, "import_errors")
