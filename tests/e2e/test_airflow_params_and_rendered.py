"""A DAG with typed Params: its doc_md shows on its page, its trigger form is drawn from the params'
JSON Schemas, and the task page shows the command the try rendered."""

from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import expect

from tests.e2e.helpers import RUN_TIMEOUT_MS, Pages, screenshot

pytestmark = pytest.mark.slow


def test_the_dag_page_renders_the_doc_md(pages: Pages) -> None:
    page = pages.new()
    page.goto("/dags/e2e_params")
    expect(page.locator("#dag-doc h3")).to_have_text("Greets people")
    expect(page.locator("#dag-doc strong")).to_have_text("who")


def test_the_form_triggers_a_run_whose_rendered_command_shows_on_the_task_page(pages: Pages) -> None:
    page = pages.new()
    page.goto("/dags/e2e_params")
    page.click("#trigger-form-link")
    expect(page.locator("[data-param='names'][data-widget='lines'] textarea")).to_have_value("Ann")
    expect(page.locator("[data-param='loud'][data-widget='checkbox'] input")).not_to_be_checked()
    page.fill("#param-names", "Bo\nCy")
    page.fill("#param-times", "2")
    screenshot(page, "trigger_form")
    page.click("#params-submit")
    expect(page).to_have_url(re.compile(r"/dags/e2e_params/runs/manual__"))
    task_url = page.url + "/tasks/greet"
    deadline = time.monotonic() + RUN_TIMEOUT_MS / 1000
    page.goto(task_url)
    while page.locator("#rendered").count() == 0 and time.monotonic() < deadline:  # drawn once the try ended
        page.wait_for_timeout(500)
        page.goto(task_url)
    expect(page.locator("#rendered [data-field='command']")).to_contain_text("hi Bo hi Cy x2")
    screenshot(page, "task_rendered")


def test_a_value_outside_the_schema_is_refused_on_the_form(pages: Pages) -> None:
    page = pages.new()
    page.goto("/dags/e2e_params/trigger")
    page.fill("#param-times", "0")
    page.click("#params-submit")
    expect(page.locator("#params-error")).to_contain_text("times")
