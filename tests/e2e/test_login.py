"""Logging in and out, and what a viewer may not do."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.helpers import VIEWER, Pages, Server, screenshot

pytestmark = pytest.mark.slow


def test_a_page_asks_for_a_login_first_and_then_opens(server: Server, browser: object) -> None:
    context = browser.new_context(base_url=server.url)  # type: ignore[attr-defined]
    page = context.new_page()
    page.goto("/dags/e2e_browse")
    expect(page).to_have_url(re.compile(r"/login\?next=/dags/e2e_browse"))
    screenshot(page, "login")
    page.fill("input[name=username]", "admin")
    page.fill("input[name=password]", server.admin_password)
    page.click("button[type=submit]")
    expect(page).to_have_url(f"{server.url}/dags/e2e_browse")
    expect(page.locator("h1")).to_contain_text("e2e_browse")
    context.close()  # type: ignore[attr-defined]


def test_a_wrong_password_is_refused_with_a_message(server: Server, browser: object) -> None:
    context = browser.new_context(base_url=server.url)  # type: ignore[attr-defined]
    page = context.new_page()
    page.goto("/login")
    page.fill("input[name=username]", "admin")
    page.fill("input[name=password]", "not-the-password")
    page.click("button[type=submit]")
    expect(page.locator(".alert-error")).to_have_text("Wrong username or password.")
    screenshot(page, "login_refused")
    page.goto("/dags")
    expect(page).to_have_url(re.compile(r"/login\?next=/dags"))
    context.close()  # type: ignore[attr-defined]


def test_logging_out_ends_the_session(pages: Pages, server: Server) -> None:
    page = pages.new()
    page.click("text=Log out")
    expect(page).to_have_url(f"{server.url}/login")
    page.goto("/dags")
    expect(page).to_have_url(re.compile(r"/login\?next=/dags"))


def test_a_viewer_sees_no_action_buttons(pages: Pages) -> None:
    page = pages.new(*VIEWER)
    expect(page.locator("tr[data-dag='e2e_trigger']")).to_be_visible()
    expect(page.locator("[data-trigger]")).to_have_count(0)
    expect(page.locator("input[data-pause]")).to_have_count(0)
    expect(page.locator("tr[data-dag='e2e_trigger'] .pill")).to_have_text("active")
    expect(page.locator(".mainnav")).not_to_contain_text("Audit log")
    screenshot(page, "dags_as_viewer")


def test_a_viewer_gets_a_403_page_for_the_audit_log(pages: Pages) -> None:
    page = pages.new(*VIEWER)
    response = page.goto("/audit")
    assert response is not None and response.status == 403
    expect(page.locator(".error-page .status")).to_have_text("403")
    expect(page.locator(".error-page .message")).to_contain_text("admin role")
    screenshot(page, "forbidden_403")


def test_the_server_refuses_a_viewers_pause_request_with_403(pages: Pages) -> None:
    page = pages.new(*VIEWER)
    # what a viewer's browser would send if it had a pause switch: the API still says no
    status = page.evaluate(
        """async () => (await fetch('/api/v1/dags/e2e_trigger', {
            method: 'PATCH', credentials: 'same-origin',
            headers: {'Content-Type': 'application/json', 'X-CSRFToken': document.querySelector('meta[name=csrf-token]').content},
            body: JSON.stringify({is_paused: true})})).status"""
    )
    assert status == 403
