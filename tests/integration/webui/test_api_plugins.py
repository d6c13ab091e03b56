"""GET /api/v1/plugins and the plugins page: each plugin, where it came from, and import failures."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from orchestrator.store.db import make_engine, make_sessionmaker
from orchestrator.store.models import User
from webui import create_app

from ..harness import make_config, write_dag
from .conftest import Api, Seed, copy_store

GOOD = """
    from orchestrator import BaseTask
    from orchestrator.plugins.hookspecs import hookimpl

    class Upload(BaseTask):
        step_type = "upload"

    @hookimpl
    def orchestrator_step_types():
        return [Upload]
"""


@pytest.fixture
def plugin_api(seed: Seed, tmp_path: Path) -> Iterator[Api]:
    """The API of a copy of the seeded store, with a plugins folder holding a good and a broken plugin."""
    folder = tmp_path / "plugins"
    write_dag(folder, "uploads.py", GOOD)
    write_dag(folder, "broken.py", "import no_such_module\n")
    config = make_config(tmp_path, f"sqlite:///{copy_store(seed, tmp_path)}", secret_key="test", dags_folder=seed.dags_folder, plugins_folder=folder)
    sessions = make_sessionmaker(make_engine(config.resolved_database_url))
    app = create_app(config, sessions=sessions)
    app.config["TESTING"] = True
    yield Api(app.test_client(), seed, sessions, config)
    sessions.kw["bind"].dispose()


def test_the_plugins_api_lists_each_plugin_with_its_source_and_hooks(plugin_api: Api) -> None:
    body = plugin_api.get("/plugins", role="viewer").get_json()
    by_name = {p["name"]: p for p in body["plugins"]}
    assert by_name["uploads"]["source"] == "plugins folder" and by_name["uploads"]["hooks"] == ["orchestrator_step_types"]
    assert by_name["orchestrator.plugins.steps.shell"]["source"] == "builtin"
    assert by_name["scheduler"]["source"] == "entry point"
    assert {"upload", "shell", "http", "sql", "notify"} <= set(body["step_types"])


def test_the_plugins_api_reports_a_plugin_that_failed_to_import(plugin_api: Api) -> None:
    body = plugin_api.get("/plugins", role="viewer").get_json()
    [broken] = [p for p in body["plugins"] if p["error"]]
    assert (broken["name"], broken["error"]) == ("broken", "ModuleNotFoundError: No module named 'no_such_module'")
    assert body["error"] is None


def test_the_plugins_api_needs_a_login(plugin_api: Api) -> None:
    assert plugin_api.get("/plugins", role=None).status_code == 401


def test_the_plugins_page_shows_plugins_and_import_failures(plugin_api: Api) -> None:
    with plugin_api.sessions() as s:
        viewer = s.scalars(select(User).where(User.username == "viewer")).one()
    with plugin_api.client.session_transaction() as session:
        session["user_id"] = viewer.id
    page = plugin_api.client.get("/plugins")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "No module named &#39;no_such_module&#39;" in html and "uploads" in html and "Failed to load" in html
    assert 'href="/plugins"' in html  # the nav link
