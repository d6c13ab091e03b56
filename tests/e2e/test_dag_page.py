"""The DAG page: the grid follows a run live; the graph, source code and durations chart draw it."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.e2e.helpers import RUN_TIMEOUT_MS, Pages, screenshot

pytestmark = pytest.mark.slow

TASKS = ["numbers", "total", "describe"]


def test_the_grid_follows_a_triggered_run_until_every_task_is_green(pages: Pages) -> None:
    page = pages.new()
    page.goto("/dags/e2e_browse")
    expect(page.locator("#grid")).to_contain_text("No runs yet")
    page.click("[data-trigger='e2e_browse']")
    page.click("#trigger-submit")
    # one column of cells per run, one row per task, in the DAG's order
    expect(page.locator("#grid tbody tr")).to_have_count(3)
    for task in TASKS:
        cell = page.locator(f"#grid tr[data-task='{task}'] a.cell").last
        expect(cell).to_have_attribute("data-state", "success", timeout=RUN_TIMEOUT_MS)
    expect(page.locator("#grid .runhead .bar.s-success")).to_have_count(1)
    screenshot(page, "dag_grid")

    page.click("[data-tab='graph']")
    expect(page.locator("#graph .node")).to_have_count(3)
    expect(page.locator("#graph .node.s-success")).to_have_count(3)
    # laid out left to right: each task sits right of its upstream
    xs = [page.locator(f"#graph .node[data-task='{t}']").bounding_box()["x"] for t in TASKS]  # type: ignore[index]
    assert xs == sorted(xs) and len(set(xs)) == 3
    expect(page.locator("#graph path.edge")).to_have_count(2)
    screenshot(page, "dag_graph")

    page.click("[data-tab='durations']")
    expect(page.locator("#durations rect.barrect")).to_have_count(1)
    screenshot(page, "dag_durations")

    page.click("[data-tab='code']")
    expect(page.locator("#source")).to_contain_text('chain("e2e_browse"')
    screenshot(page, "dag_code")


def test_a_grid_cell_opens_that_task_try(pages: Pages) -> None:
    page = pages.new()
    page.goto("/dags/e2e_browse")
    page.click("[data-trigger='e2e_browse']")
    page.click("#trigger-submit")
    cell = page.locator("#grid tr[data-task='total'] a.cell").last
    expect(cell).to_have_attribute("data-state", "success", timeout=RUN_TIMEOUT_MS)
    cell.click()
    expect(page.locator("h1")).to_contain_text("total")
    expect(page.locator("#try-state .badge")).to_have_text("success")
    # total of numbers(3) = 1 + 2 + 3
    expect(page.locator("#result")).to_have_text("6")
