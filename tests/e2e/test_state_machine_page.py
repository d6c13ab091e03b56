"""A state machine in the browser: the graph draws its states and guarded transitions, the run page
shows its current state and the history of states as events move it."""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import expect

from tests.e2e.helpers import RUN_TIMEOUT_MS, Pages, screenshot, trigger_from_dag_page

pytestmark = pytest.mark.slow


def test_the_graph_and_the_run_page_follow_a_machine_run(pages: Pages) -> None:
    page = pages.new()
    trigger_from_dag_page(page, "e2e_machine")
    listed = pages.server.cli("runs", "list", "e2e_machine", "--json")
    assert listed.returncode == 0, listed.stderr
    [run] = json.loads(listed.stdout)
    run_id = run["run_id"]

    page.goto(f"/dags/e2e_machine/runs/{run_id}")
    expect(page.locator("#machine-state")).to_have_text("draft", timeout=RUN_TIMEOUT_MS)
    sent = pages.server.cli("runs", "send-event", "e2e_machine", run_id, "submit")
    assert sent.returncode == 0, sent.stderr
    expect(page.locator("#machine-state")).to_have_text("review", timeout=RUN_TIMEOUT_MS)
    expect(page.locator("#machine-history tbody tr")).to_have_count(2)
    screenshot(page, "machine_run")

    page.goto("/dags/e2e_machine")
    page.click("[data-tab='graph']")
    expect(page.locator("#graph .node")).to_have_count(3)
    expect(page.locator("#graph .node[data-kind='final']")).to_have_count(1)
    expect(page.locator("#graph path.edge")).to_have_count(3)  # the loop back from review to draft included
    expect(page.locator("#graph .edge-label")).to_contain_text(["submit", "reject", "approve [event.ok == true]"])
    expect(page.locator("#graph .node[data-task='review']")).to_have_attribute("data-state", "running")
    screenshot(page, "machine_graph")

    refused = pages.server.cli("runs", "send-event", "e2e_machine", run_id, "approve", "--payload", '{"ok": false}')
    assert refused.returncode != 0 and "no guard holds" in refused.stderr
    assert pages.server.cli("runs", "send-event", "e2e_machine", run_id, "approve", "--payload", '{"ok": true}').returncode == 0
    page.goto(f"/dags/e2e_machine/runs/{run_id}")
    expect(page.locator("#run-state .badge")).to_have_text("success", timeout=RUN_TIMEOUT_MS)
    expect(page.locator("#machine-state")).to_have_text("done")
    assert pages.js_errors == []
