"""The variables page: an operator sets and deletes a Variable; a sensitive value shows as ***."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.e2e.helpers import VIEWER, Pages, page_loads, screenshot

pytestmark = pytest.mark.slow


def test_an_operator_sets_a_json_variable_and_deletes_it(pages: Pages) -> None:
    page = pages.new()
    page.goto("/variables")
    page.fill("#variable-form [name=key]", "e2e_limits")
    page.fill("#variable-form [name=value]", '{"rows": 5}')
    page.check("#variable-form [name=is_json]")
    page.fill("#variable-form [name=description]", "row limits")
    with page_loads(page):
        page.click("#variable-save")
    row = page.locator('tr[data-variable="e2e_limits"]')
    expect(row).to_contain_text('{"rows": 5}')
    expect(row).to_contain_text("row limits")
    screenshot(page, "variables")
    row.locator("[data-delete]").click()
    page.click("#confirm-ok")
    expect(row).to_have_count(0)


def test_a_sensitive_variable_is_masked_on_the_page(pages: Pages) -> None:
    page = pages.new()
    page.goto("/variables")
    page.fill("#variable-form [name=key]", "e2e_db_password")
    page.fill("#variable-form [name=value]", "s3cr3t-value")
    page.click("#variable-save")
    row = page.locator('tr[data-variable="e2e_db_password"]')
    expect(row).to_contain_text("***")
    expect(page.locator("body")).not_to_contain_text("s3cr3t-value")


def test_a_viewer_sees_the_variables_without_the_form(pages: Pages) -> None:
    page = pages.new(*VIEWER)
    page.goto("/variables")
    expect(page.locator("h1")).to_contain_text("Variables")
    expect(page.locator("#variable-form")).to_have_count(0)
