"""Run controls in the browser: pause, resume and mark from the run page, the Late page, and the
buttons a user's DAG role does not allow are not shown (screenshots at 1400x900)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.e2e.helpers import RUN_TIMEOUT_MS, VIEWER, Pages, Server, page_loads, screenshot, trigger_from_dag_page

pytestmark = pytest.mark.slow

TEAM_USER = ("tess", "team-password-1")


def test_a_run_is_paused_resumed_and_its_running_task_marked_success_from_the_run_page(pages: Pages) -> None:
    page = pages.new()
    trigger_from_dag_page(page, "e2e_controls")
    cell = page.locator("#grid tr[data-task='slow'] a.cell").last
    expect(cell).to_have_attribute("data-state", "running", timeout=RUN_TIMEOUT_MS)
    with page_loads(page):
        page.locator("#grid .runhead a").last.click()
    page.click("#pause-run")
    expect(page.locator("#run-paused")).to_be_visible()
    expect(page.locator("#resume-run")).to_be_visible()
    expect(page.locator("#pause-run")).to_be_hidden()
    expect(page.locator("#events tbody")).to_contain_text("run.paused")
    screenshot(page, "run_paused")
    page.click("#resume-run")
    expect(page.locator("#run-paused")).to_be_hidden()
    expect(page.locator("#events tbody")).to_contain_text("run.resumed")

    page.click("#task-table [data-mark='success'][data-task-id='slow']")
    expect(page.locator("#confirm-dialog")).to_be_visible()
    page.click("#confirm-ok")
    expect(page.locator("#task-table tr[data-task='slow']")).to_have_attribute("data-state", "success", timeout=30_000)
    # its downstream then ran by their trigger rules, and the run ended well long before the task would have
    expect(page.locator("#run-state .badge")).to_have_text("success", timeout=RUN_TIMEOUT_MS)
    expect(page.locator("#task-table tr[data-task='left']")).to_have_attribute("data-state", "success")
    expect(page.locator("#events tbody")).to_contain_text("marked success by admin")
    expect(page.locator("#mark-run-success")).to_be_hidden()
    screenshot(page, "run_marked")


def test_a_run_that_missed_its_deadline_is_on_the_late_page(pages: Pages) -> None:
    page = pages.new()
    trigger_from_dag_page(page, "e2e_late")
    cell = page.locator("#grid tr[data-task='takes_a_while'] a.cell").last
    expect(cell).to_have_attribute("data-state", "success", timeout=RUN_TIMEOUT_MS)
    page.click(".navgroup-head:has-text('Browse')")
    page.click(".menu a:has-text('Late')")
    row = page.locator("#late tbody tr", has_text="e2e_late").first
    expect(row).to_contain_text("(the run)")
    expect(row.locator(".badge")).to_have_text("success")  # its state now: it finished, late
    screenshot(page, "late")


def _team_member(server: Server) -> None:
    """`tess`, an operator in a DAG role that may trigger the `team` tag's DAGs, not edit them."""
    for args in (
        ("users", "create", "--username", TEAM_USER[0], "--role", "operator", "--password", TEAM_USER[1]),
        ("roles", "create", "team_ops"),
        ("roles", "grant", "team_ops", "--permission", "trigger", "--tag", "team"),
        ("roles", "add-user", "team_ops", TEAM_USER[0]),
    ):
        done = server.cli(*args)
        assert done.returncode == 0, done.stderr


def test_buttons_follow_the_users_dag_role(pages: Pages, server: Server) -> None:
    _team_member(server)
    run_id = server.cli("dags", "trigger", "e2e_team", "--wait").stdout.strip().splitlines()[0]
    page = pages.new(*TEAM_USER)
    page.goto("/dags/e2e_team")
    expect(page.locator("[data-trigger='e2e_team']")).to_have_count(1)  # trigger: allowed
    expect(page.locator("[data-pause='e2e_team']")).to_have_count(0)  # pausing the DAG needs edit
    expect(page.locator(".pill")).to_contain_text("active")
    screenshot(page, "dag_trigger_only")
    page.goto(f"/dags/e2e_team/runs/{run_id}")
    expect(page.locator("#run-state .badge")).to_have_text("success")
    expect(page.locator("#task-table [data-clear='only']")).to_have_count(1)
    expect(page.locator("#mark-run-success, #mark-run-failed, #task-table [data-mark]")).to_have_count(0)
    screenshot(page, "run_trigger_only")
    page.goto(f"/dags/e2e_team/runs/{run_id}/tasks/only")
    expect(page.locator("#clear-task")).to_be_visible()
    expect(page.locator("#mark-task-success, #mark-task-failed")).to_have_count(0)

    admin = pages.new()
    admin.goto(f"/dags/e2e_team/runs/{run_id}/tasks/only")
    expect(admin.locator("#mark-task-failed")).to_be_visible()
    expect(admin.locator("#mark-task-success")).to_be_hidden()  # it is a success already

    viewer = pages.new(*VIEWER)
    viewer.goto(f"/dags/e2e_team/runs/{run_id}")
    expect(viewer.locator(".head-actions button, #task-table button")).to_have_count(0)
    screenshot(viewer, "run_viewer")
