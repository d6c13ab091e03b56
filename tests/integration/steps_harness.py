"""What the step-type tests share: a store with a DAG folder, one `dags test` run per DAG, local servers."""

from __future__ import annotations

import json
import socketserver
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from orchestrator.core.config import Config
from orchestrator.operations.folder_sync import sync_dag_folder
from orchestrator.store.models import DagRun, TaskInstance, TaskTry

from .harness import make_config, run_row, task_rows, tries_of, upgraded_sessions, write_dag


@dataclass
class Store:
    """A database and a DAG folder under one home."""

    config: Config
    sessions: sessionmaker[Session]

    @classmethod
    def create(cls, home: Path, database_url: str | None = None) -> Store:
        config = make_config(home, database_url or f"sqlite:///{home / 'orchestrator.db'}")
        return cls(config, upgraded_sessions(config.resolved_database_url))

    def run(self, dag_id: str, source: str) -> RunResult:
        """Write `source` as <dag_id>.py, load it and run it once with `dags test`'s in-process run."""
        from scheduler.testrun import test_run

        write_dag(self.config.resolved_dags_folder, f"{dag_id}.py", source)
        sync_dag_folder(self.sessions, self.config)
        key = test_run(self.sessions, self.config, dag_id, {})
        tries = tries_of(self.sessions, dag_id, key.run_id)
        return RunResult(run_row(self.sessions, dag_id, key.run_id), task_rows(self.sessions, dag_id, key.run_id), {t.task_id: t for t in tries})


@dataclass
class RunResult:
    run: DagRun
    tasks: dict[str, TaskInstance]
    last_try: dict[str, TaskTry]

    def state(self, task_id: str) -> str:
        return self.tasks[task_id].state

    def result(self, task_id: str) -> Any:
        return self.tasks[task_id].result

    def log(self, task_id: str) -> str:
        return self.last_try[task_id].log

    def error(self, task_id: str) -> str:
        return self.last_try[task_id].error or ""


# -- a local HTTP server ---------------------------------------------------------------------------
@dataclass
class HttpServer:
    """Answers GET /items with JSON, echoes POST /echo, 500 on /fail, 404 on /missing; records POSTs."""

    received: list[dict[str, Any]] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> HttpServer:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _answer(self, status: int, body: Any = None) -> None:
                data = b"" if body is None else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                if self.path.startswith("/items"):
                    self._answer(200, {"items": [1, 2, 3], "auth": self.headers.get("Authorization")})
                elif self.path == "/fail":
                    self._answer(500, {"error": "the server is down"})
                else:
                    self._answer(404, {"error": "no such thing"})

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"null")
                owner.received.append({"path": self.path, "body": body})
                self._answer(200 if self.path == "/echo" else 204, body if self.path == "/echo" else None)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


# -- a local SMTP server (just enough of RFC 5321 for smtplib) -----------------------------------
@dataclass
class SmtpServer:
    messages: list[dict[str, Any]] = field(default_factory=list)
    server: socketserver.ThreadingTCPServer | None = None

    @property
    def port(self) -> int:
        assert self.server is not None
        return int(self.server.server_address[1])

    def start(self) -> SmtpServer:
        owner = self

        class Handler(socketserver.StreamRequestHandler):
            def reply(self, line: str) -> None:
                self.wfile.write(line.encode() + b"\r\n")

            def handle(self) -> None:
                self.reply("220 test SMTP")
                envelope: dict[str, Any] = {"rcpt": []}
                while raw := self.rfile.readline():
                    command = raw.decode().strip()
                    verb = command.split(" ", 1)[0].upper()
                    if verb in ("EHLO", "HELO"):
                        self.reply("250 test")
                    elif verb == "MAIL":
                        envelope["from"] = command
                        self.reply("250 ok")
                    elif verb == "RCPT":
                        envelope["rcpt"].append(command)
                        self.reply("250 ok")
                    elif verb == "DATA":
                        self.reply("354 go on")
                        lines = []
                        while (line := self.rfile.readline().decode()) not in (".\r\n", ""):
                            lines.append(line)
                        owner.messages.append({**envelope, "data": "".join(lines)})
                        self.reply("250 queued")
                    elif verb == "QUIT":
                        self.reply("221 bye")
                        return
                    else:
                        self.reply("250 ok")

        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
