"""A cron-scheduled report: every day at 06:00 Berlin time, about the previous day.

Each run knows its data interval (yesterday 06:00 to today 06:00, Berlin time), so reruns and
catch-up produce the same report for the same day.
"""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path

from orchestrator import DAG, chain, task


def _interval(context) -> tuple[str, str]:
    return context.data_interval_start.isoformat(), context.data_interval_end.isoformat()


with DAG(
    "daily_report",
    schedule="0 6 * * *",
    start_date=datetime(2026, 11, 1),
    timezone="Europe/Berlin",
    catchup=False,
    tags=["demo", "report"],
    description="Daily KPI report for the previous day",
) as dag:

    @task
    def collect_metrics(context) -> dict:
        start, end = _interval(context)
        context.log.info("collecting metrics for %s .. %s", start, end)
        seed = context.data_interval_start.toordinal()
        return {"signups": seed % 97, "orders": seed % 313, "interval": [start, end]}

    @task
    def render(metrics: dict) -> str:
        lines = [f"# Daily report {metrics['interval'][0][:10]}", ""]
        lines += [f"- {k}: {v}" for k, v in metrics.items() if k != "interval"]
        return "\n".join(lines) + "\n"

    @task
    def deliver(report: str, context) -> str:
        out = Path(os.environ.get("ORCH_HOME", ".")) / "output"
        out.mkdir(parents=True, exist_ok=True)
        target = out / f"daily_report_{context.logical_date:%Y%m%d}.md"
        target.write_text(report)
        print(json.dumps({"delivered": str(target)}))
        return str(target)

    @task
    def cleanup_tmp() -> None:
        print("nothing to clean up")

    chain(deliver(render(collect_metrics())), cleanup_tmp())
