"""`orchestrator dags trigger --conf-file FILE.jsonl`: one run a line, read and checked whole."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, TextIO

import click

from orchestrator.store.run_batches import RunRequest

_KEYS = {"conf", "run_id", "logical_date"}


def read_run_requests(stream: TextIO) -> list[RunRequest]:
    """The runs of a JSON Lines file: each non-blank line {"conf": {...}, "run_id": "...",
    "logical_date": "ISO 8601"}, every key optional. A bad line is a BadParameter naming it."""
    requests = []
    for number, line in enumerate(stream, start=1):
        if line.strip():
            requests.append(_request(number, line))
    if not requests:
        raise click.BadParameter("the file has no runs (one JSON object a line)", param_hint="--conf-file")
    return requests


def _request(number: int, line: str) -> RunRequest:
    def bad(message: str) -> click.BadParameter:
        return click.BadParameter(f"line {number}: {message}", param_hint="--conf-file")

    try:
        item: Any = json.loads(line)
    except json.JSONDecodeError as exc:
        raise bad(f"not valid JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(item, dict):
        raise bad('must be a JSON object, e.g. {"conf": {"limit": 5}}')
    unknown = sorted(set(item) - _KEYS)
    if unknown:
        raise bad(f"unknown key(s) {', '.join(map(repr, unknown))}; a line takes conf, run_id and logical_date")
    conf = item.get("conf", {})
    if not isinstance(conf, dict):
        raise bad("conf must be a JSON object")
    run_id = item.get("run_id")
    if run_id is not None and (not isinstance(run_id, str) or not run_id.strip() or len(run_id) > 250):
        raise bad("run_id must be a non-empty string of at most 250 characters")
    return RunRequest(conf, run_id, _date(item.get("logical_date"), bad))


def _date(raw: Any, bad: Any) -> datetime | None:
    if raw is None:
        return None
    if not isinstance(raw, str):
        raise bad("logical_date must be an ISO 8601 string")
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        raise bad(f"logical_date {raw!r} is not an ISO 8601 date and time") from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
