"""Task groups and mapped tasks in the browser: a group's box collapses into one node and back; a
mapped task is one node with its instances counted, and the run page lists the instances under it."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.e2e.helpers import RUN_TIMEOUT_MS, Pages, screenshot

pytestmark = pytest.mark.slow


def run_to_the_end(page: object) -> None:
    page.goto("/dags/e2e_patterns")  # type: ignore[attr-defined]
    page.click("[data-trigger='e2e_patterns']")  # type: ignore[attr-defined]
    page.click("#trigger-submit")  # type: ignore[attr-defined]
    last = page.locator("#grid tr[data-task='total'] a.cell").last  # type: ignore[attr-defined]
    expect(last).to_have_attribute("data-state", "success", timeout=RUN_TIMEOUT_MS)


def test_a_task_group_collapses_into_one_node_and_expands_again(pages: Pages) -> None:
    page = pages.new()
    run_to_the_end(page)
    page.click("[data-tab='graph']")
    expect(page.locator("#graph .group")).to_have_count(2)
    expect(page.locator("#graph .node")).to_have_count(4)
    screenshot(page, "graph_groups_expanded")

    page.click("#graph [data-toggle='extract']")
    folded = page.locator("#graph .node[data-kind='group'][data-task='extract']")
    expect(folded).to_have_class("node s-success")
    expect(page.locator("#graph .node")).to_have_count(3)
    expect(page.locator("#graph .group")).to_have_count(0)
    expect(page.locator("#graph path.edge[data-from='extract'][data-to='square']")).to_have_count(1)
    screenshot(page, "graph_group_collapsed")

    folded.click()
    expect(page.locator("#graph .node")).to_have_count(4)
    expect(page.locator("#graph .group[data-group='extract.check']")).to_have_count(1)


def test_a_mapped_task_is_one_node_counting_its_instances_and_the_run_lists_them(pages: Pages) -> None:
    page = pages.new()
    run_to_the_end(page)
    page.click("[data-tab='graph']")
    node = page.locator("#graph .node.mapped[data-task='square']")
    expect(node.locator("text.map-count")).to_have_text("3/3")
    expect(node.locator("title")).to_contain_text("3 success")
    screenshot(page, "graph_mapped_task")

    page.locator("#graph-run-link").click()
    rows = page.locator("#task-table tr[data-task='square']")
    expect(rows).to_have_count(4)  # the task, then its three instances
    expect(page.locator("#task-table tr[data-task='square'][data-map-index='2'] .badge")).to_have_text("success")
    screenshot(page, "run_mapped_instances")
    page.locator("#task-table tr[data-task='square'][data-map-index='1'] a").click()
    expect(page.locator("h1")).to_contain_text("square [1]")
    expect(page.locator("#result")).to_have_text("4")
