"""Exec probe of a web UI pod: `live` or `ready`, from this container's GET /api/v1/health.

live:  the server answers with a health document, 200 or 503 (the process serves requests).
ready: besides, the document says the database answers (the UI can serve pages).

/api/v1/health also answers 503 when no scheduler heartbeats; that alone neither restarts the
web UI nor takes it out of its Service, because the UI is where an operator sees it.
Only the standard library: the probe starts fast.
"""

from __future__ import annotations

import json
import os
import sys
import urllib.error
import urllib.request


def health_document(url: str) -> dict[str, object]:
    """The parsed health document; OSError when the server does not answer with one."""
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return json.load(response)
    except urllib.error.HTTPError as exc:
        if exc.code != 503:
            raise
        return json.load(exc)


def main(mode: str) -> int:
    url = f"http://127.0.0.1:{os.environ.get('ORCH_WEBUI_PORT', '8080')}/api/v1/health"
    try:
        health = health_document(url)
    except (OSError, ValueError) as exc:
        print(f"{url}: {exc}", file=sys.stderr)
        return 1
    database = health.get("database") or {}
    if mode == "ready" and database.get("status") != "healthy":
        print(f"not ready: {database.get('message') or 'the database is unhealthy'}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2 or sys.argv[1] not in ("live", "ready"):
        sys.exit("usage: webui_health.py live|ready")
    sys.exit(main(sys.argv[1]))
