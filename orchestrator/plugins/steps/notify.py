"""NotifyTask and the built-in notifiers: a webhook POST, and e-mail through an SMTP connection.

Notifiers are found by channel name through the `orchestrator_notifiers` hook, so a plugin
adds a channel (Slack, a pager...) the same way these two are added. For a failure
notification, give the NotifyTask `trigger_rule="one_failed"` downstream of what it watches.
"""

from __future__ import annotations

import json
import logging
import smtplib
import ssl
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from email.message import EmailMessage
from typing import TYPE_CHECKING, Any

from orchestrator.authoring.task_options import seconds_of
from orchestrator.authoring.tasks import BaseTask, resolve_xcoms, xcom_refs_in
from orchestrator.core.errors import DagDefinitionError, OrchestratorError
from orchestrator.plugins.hookspecs import hookimpl
from orchestrator.plugins.steps.http import HttpStatusError, request, target

if TYPE_CHECKING:
    from orchestrator.core.connections import Connection
    from orchestrator.execution.context import TaskContext

log = logging.getLogger("orchestrator.task")


class NotificationError(OrchestratorError):
    """A notification could not be sent."""


@dataclass(frozen=True)
class Notification:
    """What a notifier sends: the text, where to, and about which task."""

    message: str
    subject: str | None = None
    to: tuple[str, ...] = ()
    conn_id: str | None = None
    url: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    dag_id: str | None = None
    run_id: str | None = None
    task_id: str | None = None
    timeout_s: float = 30.0


class WebhookNotifier:
    """POSTs {"subject", "message", "dag_id", "run_id", "task_id", **data} as JSON to `url`
    (a full URL) or to `url` as a path on the HTTP connection `conn_id`; any 2xx is success."""

    channel = "webhook"

    def send(self, n: Notification) -> None:
        url, headers = target(n.conn_id, n.url or "")
        if not url.startswith(("http://", "https://")):
            raise NotificationError("a webhook needs a full http(s):// url or an HTTP connection")
        body = {"subject": n.subject, "message": n.message, "dag_id": n.dag_id, "run_id": n.run_id, "task_id": n.task_id, **n.data}
        response = request("POST", url, headers=headers, body=body, timeout_s=n.timeout_s)
        if not 200 <= response.status < 300:
            raise HttpStatusError("POST", url, response.status, response.body[:2000].decode("utf-8", errors="replace"))
        log.info("webhook %s answered %d", url, response.status)


def _flag(conn: Connection, name: str) -> bool:
    return str(conn.extra.get(name, "")).lower() in ("1", "true", "yes", "on")


class EmailNotifier:
    """Sends an e-mail through the SMTP connection `conn_id`.

    The connection gives host and port (default 25, or 465 with the `ssl` extra), login and
    password (if the server wants them), the extras `starttls` / `ssl` ("true") and `from`
    (default: the login, else orchestrator@localhost).
    """

    channel = "email"

    def send(self, n: Notification) -> None:
        from orchestrator.core.connections import get_connection

        if n.conn_id is None:
            raise NotificationError("an e-mail notification needs conn_id, an SMTP connection")
        if not n.to:
            raise NotificationError("an e-mail notification needs at least one address in `to`")
        conn = get_connection(n.conn_id)
        msg = EmailMessage()
        msg["From"] = str(conn.extra.get("from") or (conn.login if conn.login and "@" in conn.login else "orchestrator@localhost"))
        msg["To"] = ", ".join(n.to)
        msg["Subject"] = n.subject or f"[orchestrator] {n.dag_id}/{n.task_id}"
        msg.set_content(n.message)
        use_ssl = _flag(conn, "ssl")
        host, port = conn.host or "localhost", conn.port or (465 if use_ssl else 25)
        smtp = smtplib.SMTP_SSL(host, port, timeout=n.timeout_s, context=ssl.create_default_context()) if use_ssl else smtplib.SMTP(host, port, timeout=n.timeout_s)
        with smtp:
            if _flag(conn, "starttls"):
                smtp.starttls(context=ssl.create_default_context())
            if conn.login and conn.password:
                smtp.login(conn.login, conn.password)
            refused = smtp.send_message(msg)
        if refused:
            raise NotificationError(f"the SMTP server refused {', '.join(sorted(refused))}")
        log.info("e-mail sent to %s through %s:%d", ", ".join(n.to), host, port)


class NotifyTask(BaseTask):
    """Sends `message` through a notification channel ("webhook", "email" or a plugin's).

    Webhook: `url` (a full URL, or a path on the HTTP connection `conn_id`); `data` is merged
    into the JSON body. Email: `conn_id` is an SMTP connection, `to` the addresses, `subject`
    the subject. `message` and `data` may hold results of other tasks. The result is None.
    """

    step_type = "notify"
    template_fields = ("message", "subject", "to", "url", "data")

    def __init__(
        self,
        *,
        task_id: str,
        message: Any,
        channel: str = "webhook",
        subject: str | None = None,
        to: str | Sequence[str] = (),
        url: str | None = None,
        data: dict[str, Any] | None = None,
        conn_id: str | None = None,
        timeout: timedelta | float = 30.0,
        **kwargs: Any,
    ) -> None:
        if not isinstance(channel, str) or not channel:
            raise DagDefinitionError(f"task {task_id!r}: channel must be a channel name such as 'webhook' or 'email'")
        if channel == "webhook" and not url and not conn_id:
            raise DagDefinitionError(f"task {task_id!r}: a webhook notification needs url or conn_id")
        super().__init__(task_id=task_id, conn_id=conn_id, **kwargs)
        self.channel = channel
        self.message = message
        self.subject = subject
        self.to = (to,) if isinstance(to, str) else tuple(to)
        self.url = url
        self.data = dict(data or {})
        self.timeout_s = seconds_of(timeout, "timeout") or 30.0
        for ref in xcom_refs_in([self.message, self.data]):
            self.set_upstream(ref.task)

    def args_repr(self) -> str:
        return f"{self.channel} {self.url or ', '.join(self.to)}".strip()

    def execute(self, context: TaskContext, upstream_results: dict[str, Any]) -> None:
        from orchestrator.plugins.manager import get_notifier

        message = resolve_xcoms(self.message, upstream_results)
        get_notifier(self.channel).send(
            Notification(
                message=message if isinstance(message, str) else json.dumps(message, default=str), subject=self.subject, to=self.to,
                conn_id=self.conn_id, url=self.url, data=resolve_xcoms(self.data, upstream_results), dag_id=context.dag_id,
                run_id=context.run_id, task_id=context.task_id, timeout_s=self.timeout_s,
            )
        )


@hookimpl
def orchestrator_step_types() -> list[type[BaseTask]]:
    return [NotifyTask]


@hookimpl
def orchestrator_notifiers() -> list[Any]:
    return [WebhookNotifier(), EmailNotifier()]


@hookimpl
def orchestrator_on_deadline_missed(event: Any, connection: Callable[[str], dict[str, Any] | None]) -> None:
    """Tell each of the deadline's notify targets that the run (or task) is late; one target that
    fails is logged and the others are still told."""
    from orchestrator.core.connections import reset_connections, set_connections
    from orchestrator.plugins.manager import get_notifier

    payload = event.payload or {}
    what = f"task {event.task_id}" if event.task_id else "run"
    message = f"{event.dag_id}/{event.run_id}: the {what} missed its deadline ({payload.get('deadline')}). {event.reason or ''}".strip()
    for recipient in payload.get("notify") or ():
        conn_id = recipient.get("conn_id")
        resolved = connection(conn_id) if conn_id else None
        token = set_connections({conn_id: resolved} if conn_id and resolved else {})
        try:
            get_notifier(recipient["channel"]).send(Notification(
                message=message, subject=recipient.get("subject") or f"[orchestrator] late: {event.dag_id}/{event.run_id}",
                to=tuple(recipient.get("to") or ()), conn_id=conn_id, url=recipient.get("url"),
                data={"deadline": payload.get("deadline"), "event": "deadline.missed"},
                dag_id=event.dag_id, run_id=event.run_id, task_id=event.task_id,
            ))
        except Exception:  # noqa: BLE001 - one recipient's failure must not keep the others from hearing
            log.exception("could not tell %s that %s/%s missed its deadline", recipient.get("channel"), event.dag_id, event.run_id)
        finally:
            reset_connections(token)
