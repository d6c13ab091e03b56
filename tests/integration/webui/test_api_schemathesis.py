"""The live API, fuzzed by schemathesis from its own OpenAPI document with all of its checks: no
5xx, every answer as documented, schema-valid requests accepted and invalid ones refused (with
the exceptions schemathesis.toml states and explains)."""

from __future__ import annotations

import threading
import tomllib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import CHECKS, load_all_checks
from werkzeug.serving import make_server

from orchestrator.store import jobs
from orchestrator.store.db import make_engine, make_sessionmaker
from webui import create_app
from webui.api.endpoint import ENDPOINTS

from ..harness import REPO_ROOT, make_config
from .conftest import SEEDED_DEFINITION, Seed, copy_store

MAX_EXAMPLES = 10
load_all_checks()
ALL_CHECKS = CHECKS.get_all()


@pytest.fixture(scope="module")
def live_api(seed: Seed, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The real app on a free port, served by werkzeug in a thread; yields its /api/v1 URL."""
    home: Path = tmp_path_factory.mktemp("live_api")
    # no rate limits: the fuzzer sends hundreds of requests a minute with one token, which is not what it tests
    config = make_config(
        home, f"sqlite:///{copy_store(seed, home)}", secret_key="test", dags_folder=seed.dags_folder,
        scheduler_health_threshold_s=3600, api_rate_limit_per_token="", api_rate_limit_per_ip="", api_auth_failure_limit="",
    )
    sessions = make_sessionmaker(make_engine(config.resolved_database_url))
    with sessions.begin() as s:
        # a scheduler that heartbeats, or /health would rightly answer 503, which counts as a server error
        jobs.register(s, datetime.now(UTC), timedelta(hours=1), exclusive=False)
    server = make_server("127.0.0.1", 0, create_app(config, sessions=sessions), threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-api", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/api/v1"
    finally:
        server.shutdown()
        thread.join(10)
        sessions.kw["bind"].dispose()


@pytest.fixture(scope="module")
def live_schema(live_api: str, seed: Seed) -> schemathesis.BaseSchema:
    config = schemathesis.Config.from_dict(
        {
            **tomllib.loads((REPO_ROOT / "schemathesis.toml").read_text()),
            "base-url": live_api,
            "headers": {"Authorization": f"Bearer {seed.tokens['admin']}"},
            "request-timeout": 30,  # a wide backfill is planned in the request: seconds on a loaded machine
        }
    )
    return schemathesis.openapi.from_url(f"{live_api}/openapi.json", config=config)


def _seeded_path(seed: Seed) -> dict[str, object]:
    """Path parameters naming seeded objects, so generated requests also reach real DAGs, runs and tries."""
    return {
        "dag_id": "etl", "run_id": seed.finished["etl"], "task_id": "load", "try_number": 1,
        "definition_id": SEEDED_DEFINITION, "number": 1, "a": 1, "b": 2,
    }


# breaker keys admit any text but '/' and NUL, which no URL path segment can carry: nothing
# invalid can be sent to this path, so hypothesis would find no negative case to generate
NO_INVALID_PATH = {("post", "/circuits/{key}/reset")}


def _cases() -> list[tuple[str, str, str]]:
    """(method, path, mode) to fuzz: every operation with valid data; with invalid data where it takes
    any input; and with valid data around seeded objects where it has path parameters."""
    cases = []
    for ep in ENDPOINTS:
        cases.append((ep.method, ep.path, "positive"))
        if (ep.query_model or ep.body_model or ep.path_model) and (ep.method, ep.path) not in NO_INVALID_PATH:
            cases.append((ep.method, ep.path, "negative"))
        if ep.path_model:
            cases.append((ep.method, ep.path, "seeded"))
    return cases


CASES = _cases()


@pytest.mark.slow
@pytest.mark.parametrize(("method", "path", "mode"), CASES, ids=[f"{m.upper()} {p} {mode}" for m, p, mode in CASES])
def test_every_answer_of_the_live_api_matches_its_openapi_document(
    live_schema: schemathesis.BaseSchema, seed: Seed, method: str, path: str, mode: str
) -> None:
    operation = live_schema[path][method]
    if mode == "seeded":
        wanted = {p.name for p in operation.path_parameters}
        fixed = {k: v for k, v in _seeded_path(seed).items() if k in wanted}
        strategy = operation.as_strategy(GenerationMode.POSITIVE, path_parameters=fixed)
    else:
        strategy = operation.as_strategy(GenerationMode(mode))

    # no per-example deadline: timing is not what this test is about (pytest-timeout bounds a hang)
    @settings(max_examples=MAX_EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(case=strategy)
    def answers_as_documented(case: schemathesis.Case) -> None:
        case.call_and_validate(checks=ALL_CHECKS)

    answers_as_documented()
