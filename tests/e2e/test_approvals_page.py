"""The Approvals page: an approver sees the request in their inbox and approves it with a comment;
a viewer who is not an approver sees it among the other open requests, without buttons."""

from __future__ import annotations

import textwrap
import time

import pytest
from playwright.sync_api import expect

from tests.e2e.helpers import RUN_TIMEOUT_MS, VIEWER, Pages, Server, page_loads, screenshot

pytestmark = pytest.mark.slow

DAG_FILE = """
    from orchestrator import ApprovalTask, DAG, PythonTask
    from tests.fixtures import succeed

    with DAG("e2e_approve", schedule=None, tags=["e2e"], description="Waits for an operator's approval") as dag:
        ApprovalTask(task_id="sign_off", approvers=["role:operator"], require_comment=True) >> PythonTask(task_id="go", python_callable=succeed)
"""


def _queued_run_waiting_for_approval(server: Server) -> None:
    """The DAG in the server's folder (synced by the CLI), and a run of it started by the CLI (not by admin)."""
    (server.home / "dags" / "e2e_approvals.py").write_text(textwrap.dedent(DAG_FILE).lstrip())
    for args in (("dags", "list"), ("dags", "trigger", "e2e_approve")):
        done = server.cli(*args)
        assert done.returncode == 0, done.stderr


def _reload_until(page, selector: str, timeout_s: float = 60) -> None:  # noqa: ANN001 - a playwright Page
    """The page is rendered by the server: reload it until `selector` is on it."""
    deadline = time.monotonic() + timeout_s
    while page.locator(selector).count() == 0:
        assert time.monotonic() < deadline, f"{selector} did not appear on {page.url}"
        time.sleep(0.5)
        page.reload()


def test_an_approver_approves_from_the_inbox_and_a_viewer_only_sees_the_request(pages: Pages, server: Server) -> None:
    _queued_run_waiting_for_approval(server)
    page = pages.new()
    page.goto("/approvals")
    _reload_until(page, "#inbox tr[data-approval]")
    row = page.locator("#inbox tr[data-approval]").first
    request_id = row.get_attribute("data-approval")
    expect(row).to_contain_text("e2e_approve")
    expect(row).to_contain_text("0 of 1")

    viewer = pages.new(*VIEWER)
    viewer.goto("/approvals")
    expect(viewer.locator("#inbox-empty")).to_be_visible()
    expect(viewer.locator(f"#open-requests tr[data-approval='{request_id}']")).to_contain_text("e2e_approve")
    expect(viewer.locator("[data-decide]")).to_have_count(0)

    row.locator("[data-decide='approve']").click()
    expect(page.locator("#decision-dialog [data-slot='comment-hint']")).to_have_text("(required)")
    page.fill("#decision-comment", "checked the numbers")
    screenshot(page, "approvals_inbox")
    with page_loads(page):  # the page reloads itself once the decision is in
        page.click("#decision-submit")
    _reload_until(page, f"#decided tr[data-approval='{request_id}']", timeout_s=RUN_TIMEOUT_MS / 1000)
    decided = page.locator(f"#decided tr[data-approval='{request_id}']")
    expect(decided).to_contain_text("approved")
    expect(decided).to_contain_text("checked the numbers")
    expect(page.locator(f"#inbox tr[data-approval='{request_id}']")).to_have_count(0)
    screenshot(page, "approvals_decided")
