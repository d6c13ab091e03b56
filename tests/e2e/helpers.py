"""What the browser tests share: the server they talk to, logged-in pages, screenshots."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
ORCHESTRATOR = Path(sys.executable).parent / "orchestrator"
SCREENSHOTS = REPO_ROOT / "artifacts" / "screenshots"
VIEWER = ("vera", "viewer-password-1")
ACTION_TIMEOUT_MS = 15_000
"""How long a click, a fill or an assertion on the page waits."""
RUN_TIMEOUT_MS = 90_000
"""How long a test waits for a run to finish in the browser (Dask on a shared machine can be slow)."""


@dataclass
class Server:
    url: str
    home: Path
    env: dict[str, str]
    admin_password: str

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run `orchestrator ARGS` against the server's database."""
        return subprocess.run([str(ORCHESTRATOR), *args], env=self.env, capture_output=True, text=True, timeout=120)


class Pages:
    """Opens logged-in browser pages; fails the test on a JavaScript error in any of them."""

    def __init__(self, browser: object, server: Server) -> None:
        self.browser = browser
        self.server = server
        self.contexts: list[object] = []
        self.js_errors: list[str] = []

    def new(self, username: str | None = None, password: str | None = None):  # noqa: ANN201 - a playwright Page
        """A page in a fresh browser context, logged in as `username` (admin by default)."""
        context = self.browser.new_context(base_url=self.server.url, viewport={"width": 1400, "height": 900})  # type: ignore[attr-defined]
        self.contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda exc: self.js_errors.append(f"{page.url}: {exc}"))
        page.set_default_timeout(ACTION_TIMEOUT_MS)
        page.goto("/login")
        page.fill("input[name=username]", username or "admin")
        page.fill("input[name=password]", password or self.server.admin_password)
        page.click("button[type=submit]")
        page.wait_for_url("**/dags")
        return page

    def close(self) -> None:
        for context in self.contexts:
            context.close()  # type: ignore[attr-defined]


@contextmanager
def page_loads(page: object) -> Iterator[None]:
    """Around an action that opens a page (a link, or a script that navigates or reloads): wait
    until the new page has loaded, its scripts included.

    Without it the next click can land on the new page's button before its script has attached
    the handler, and is lost.
    """
    with page.expect_navigation(wait_until="load"):  # type: ignore[attr-defined]
        yield


def screenshot(page: object, name: str) -> Path:
    """Keep a picture of the page as a test artifact (artifacts/screenshots/NAME.png)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)  # type: ignore[attr-defined]
    return path


def trigger_from_dag_page(page: object, dag_id: str) -> None:
    """Open the DAG's page and trigger a run with its default conf."""
    from playwright.sync_api import expect

    page.goto(f"/dags/{dag_id}")  # type: ignore[attr-defined]
    page.click(f"[data-trigger='{dag_id}']")  # type: ignore[attr-defined]
    page.click("#trigger-submit")  # type: ignore[attr-defined]
    expect(page.locator("#trigger-dialog")).to_be_hidden()  # type: ignore[attr-defined]
