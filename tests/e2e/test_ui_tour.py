"""Every page at 1400x900 (each kept as a screenshot in artifacts/screenshots/tour_*.png), the
grouped navigation, the grid of many runs, "success with failures", the graph's edge labels and
whole names, the task page's step type, and live updates by server-sent events."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import expect

from orchestrator.store import run_creation
from orchestrator.store.db import make_engine, make_sessionmaker
from tests.e2e.helpers import RUN_TIMEOUT_MS, Pages, Server, screenshot, trigger_from_dag_page

pytestmark = pytest.mark.slow

WIDTH = 1400
MANY = 100
STATIC_PAGES = {
    "dags": "/dags", "import_errors": "/import-errors", "health": "/health", "plugins": "/plugins",
    "connections": "/connections", "circuits": "/circuits", "schedules": "/schedules", "assets": "/assets",
    "events": "/events", "approvals": "/approvals", "audit": "/audit", "late": "/late",
}


def _fits_the_window(page) -> None:  # noqa: ANN001
    """Nothing wider than the window (wide content scrolls inside its own box), no Python None."""
    assert page.evaluate("document.documentElement.scrollWidth") <= WIDTH, f"{page.url} is wider than {WIDTH}px"
    text = page.locator("main").inner_text()
    assert not re.search(r"\bNone\b", text), f"{page.url} shows Python's None"


def _queue_runs(server: Server, dag_id: str, n: int) -> None:
    """Queue `n` manual runs through the store (as `dags trigger` does), a minute apart."""
    sessions = make_sessionmaker(make_engine(f"sqlite:///{server.home / 'orchestrator.db'}"))
    now = datetime.now(UTC)
    try:
        with sessions.begin() as s:
            for i in range(n):
                run_creation.create_run(
                    s, dag_id, run_id=f"many_{i:03d}", run_type="manual", logical_date=now - timedelta(minutes=n - i),
                    data_interval=None, conf={}, now=now, actor="e2e",
                )
    finally:
        sessions.kw["bind"].dispose()


@pytest.mark.parametrize("name", sorted(STATIC_PAGES))
def test_every_page_fits_1400_by_900_without_none(pages: Pages, name: str) -> None:
    page = pages.new()
    page.goto(STATIC_PAGES[name])
    expect(page.locator("main")).to_be_visible()
    page.wait_for_load_state("load")
    page.wait_for_timeout(300)  # the page's script draws its live parts
    _fits_the_window(page)
    screenshot(page, f"tour_{name}")


def test_navigation_is_grouped_into_menus(pages: Pages) -> None:
    page = pages.new()
    top = page.locator(".mainnav > a, .mainnav > .navgroup > button")
    expect(top).to_have_count(3)
    expect(top).to_have_text([re.compile("DAGs"), re.compile("Browse"), re.compile("Admin")])
    page.locator(".navgroup", has_text="Admin").locator("button").click()
    menu = page.locator(".navgroup.open .menu")
    expect(menu).to_be_visible()
    expect(menu.locator("a")).to_have_text(["Connections", "Variables", "Circuit breakers", "Plugins", "Health", "Audit log"])
    screenshot(page, "tour_nav_admin_menu")
    menu.locator("a", has_text="Health").click()
    page.wait_for_url("**/health")
    expect(page.locator(".navgroup-head.on")).to_contain_text("Admin")


def test_the_dags_list_shows_last_run_next_run_and_recent_dots(pages: Pages) -> None:
    page = pages.new()
    row = page.locator("tr[data-dag='e2e_long_names']")
    # a daily DAG: its newest interval ran (catchup is off), the next one is due tomorrow
    expect(row.locator(".last-run .badge")).to_have_text("success", timeout=RUN_TIMEOUT_MS)
    expect(row.locator(".next-run")).to_have_text(re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d"))
    expect(row.locator(".squares a.dot")).to_have_count(1)
    manual = page.locator("tr[data-dag='e2e_flow']")
    expect(manual).to_contain_text("manual only")
    expect(manual.locator(".next-run")).to_have_text("—")
    _fits_the_window(page)
    screenshot(page, "tour_dags_list")


def test_a_run_that_succeeds_past_a_failed_task_is_badged_success_with_failures(pages: Pages) -> None:
    page = pages.new()
    trigger_from_dag_page(page, "e2e_past_failures")
    bar = page.locator("#grid .runhead .bar").last
    expect(bar).to_have_class(re.compile("with-failures"), timeout=RUN_TIMEOUT_MS)
    expect(page.locator("#run-card .badge")).to_have_text("success with failures")
    screenshot(page, "tour_dag_success_with_failures")
    page.locator("#grid .runhead a").last.click()
    expect(page.locator("#run-state .badge")).to_have_text("success with failures")
    expect(page.locator("#task-table tr[data-task='boom'] .badge")).to_have_text("failed")
    _fits_the_window(page)
    screenshot(page, "tour_run_success_with_failures")
    page.goto("/dags")
    expect(page.locator("tr[data-dag='e2e_past_failures'] .last-run .badge")).to_have_text("success with failures")
    expect(page.locator("tr[data-dag='e2e_past_failures'] a.dot.with-failures")).to_have_count(1)


def test_the_grid_scrolls_a_hundred_runs_with_bars_dates_and_cells_that_open_their_task(pages: Pages, server: Server) -> None:
    _queue_runs(server, "e2e_many_runs", MANY)
    page = pages.new()
    page.goto(f"/dags/e2e_many_runs?runs={MANY}")
    # the page is live: the runs finish while it is open
    cells = page.locator("#grid tr[data-task='after_the_wait'] a.cell[data-state='success']")
    expect(cells).to_have_count(MANY, timeout=180_000)
    expect(page.locator("#grid .runhead")).to_have_count(MANY)
    wrap = page.locator("#grid-wrap")
    assert wrap.evaluate("el => el.scrollWidth > el.clientWidth"), "a hundred runs should scroll sideways"
    page.reload()
    # it opens scrolled to the newest runs, at the right
    assert wrap.evaluate("el => el.scrollLeft + el.clientWidth >= el.scrollWidth - 2")
    dates = page.locator("#grid tr.dates th.date span")
    assert dates.count() >= 10 and re.fullmatch(r"\d\d-\d\d \d\d:\d\d", dates.first.inner_text())
    heights = page.locator("#grid .runhead .bar").evaluate_all("bars => bars.map(b => b.getBoundingClientRect().height)")
    assert max(heights) > min(heights), "bars are as tall as their runs took"
    _fits_the_window(page)
    screenshot(page, "tour_grid_100_runs")
    cell = page.locator("#grid tr[data-task='wait_briefly'] a.cell").last
    assert "many_099" in (cell.get_attribute("title") or "")
    cell.hover()
    expect(page.locator("#run-card h3")).to_have_text("many_099")
    cell.click()
    expect(page.locator("h1")).to_contain_text("wait_briefly")
    expect(page.locator("#step-type")).to_have_text("Wait for an event (WaitForEvent)")


def test_the_graph_labels_conditional_edges_and_shows_whole_names(pages: Pages) -> None:
    page = pages.new()
    page.goto("/dags/e2e_flow#graph")
    label = page.locator("#graph .edge-tag[data-to='big_order'] text.edge-label")
    expect(label).to_have_text("data.amount > 1000")
    expect(page.locator("#graph text.edge-label")).to_have_count(2)
    screenshot(page, "tour_graph_edge_labels")
    page.goto("/dags/e2e_long_names#graph")
    for name in ("extract_the_orders_from_the_shop_database", "load_the_orders_into_the_warehouse_table"):
        node = page.locator(f"#graph .node[data-task='{name}']")
        expect(node.locator("text").first).to_have_text(name)
        text_box, node_box = node.locator("text").first.bounding_box(), node.locator("rect.box").bounding_box()
        assert text_box and node_box and text_box["x"] + text_box["width"] <= node_box["x"] + node_box["width"], f"{name} runs out of its node"
        expect(node.locator("title")).to_contain_text(name)
    _fits_the_window(page)
    screenshot(page, "tour_graph_long_names")


def test_the_task_page_names_the_step_type_and_the_dag_file_not_an_internal_module(pages: Pages) -> None:
    page = pages.new()
    trigger_from_dag_page(page, "e2e_past_failures")
    cell = page.locator("#grid tr[data-task='cleanup'] a.cell").last
    expect(cell).to_have_attribute("data-state", "success", timeout=RUN_TIMEOUT_MS)
    cell.click()
    expect(page.locator("#step-type")).to_have_text("Python function")
    expect(page.locator("#task-callable")).to_have_text("succeed (from tests.fixtures)")
    expect(page.locator("main")).not_to_contain_text("orch_dag_")
    _fits_the_window(page)
    screenshot(page, "tour_task_page")
    # a function written in the DAG file itself: named with the file, not the loader's module
    page.goto("/dags/e2e_long_names")
    cell = page.locator("#grid tr[data-task='extract_the_orders_from_the_shop_database'] a.cell").last
    expect(cell).to_have_attribute("data-state", "success", timeout=RUN_TIMEOUT_MS)
    cell.click()
    expect(page.locator("#task-callable")).to_have_text("extract_orders (in e2e_ui.py)")
    expect(page.locator("main")).not_to_contain_text("orch_dag_")


def test_pages_are_live_by_server_sent_events_not_by_polling(pages: Pages) -> None:
    page = pages.new()
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    # once subscribed, the page fetches its data once: what happened since it was drawn
    with page.expect_request(re.compile(r"/data/dags/e2e_live/grid")):
        page.goto("/dags/e2e_live")
    expect(page.locator("#live-status")).to_have_attribute("data-state", "live")
    streams = [u for u in requests if "/data/stream" in u]
    assert len(streams) == 1 and "dag=e2e_live" in streams[0]
    page.wait_for_timeout(500)
    requests.clear()
    page.wait_for_timeout(4000)
    assert not [u for u in requests if "/data/" in u], f"the page polled while nothing moved: {requests}"
    # a run started in another browser shows up without a reload
    before = page.locator("#grid .runhead").count()
    other = pages.new()
    trigger_from_dag_page(other, "e2e_live")
    expect(page.locator("#grid .runhead")).to_have_count(before + 1, timeout=RUN_TIMEOUT_MS)


def test_a_page_without_its_stream_says_so_refreshes_now_and_then_and_reconnects(pages: Pages) -> None:
    page = pages.new()
    # the stream cannot be had (a proxy that drops it, a restart): every attempt fails
    page.route("**/data/stream*", lambda route: route.abort())
    page.goto("/dags/e2e_live")
    expect(page.locator("#live-status")).to_have_attribute("data-state", "reconnecting", timeout=10_000)
    expect(page.locator("#live-status")).to_have_text("reconnecting…")
    screenshot(page, "tour_stream_dropped")
    # meanwhile the page keeps itself current the slow way
    with page.expect_request(re.compile(r"/data/dags/e2e_live/grid"), timeout=30_000):
        pass
    page.unroute("**/data/stream*")
    expect(page.locator("#live-status")).to_have_attribute("data-state", "live", timeout=40_000)
