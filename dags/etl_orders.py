"""ETL with retries: pull orders from a (flaky) source, clean them, load a daily summary.

The source fails on its first call of each run, so `extract` shows a retry with exponential
backoff; the summary lands in $ORCH_HOME/output/orders_<date>.json.
"""

from __future__ import annotations

import json
import os
import random
from datetime import datetime, timedelta
from pathlib import Path

from orchestrator import DAG, get_context, task

with DAG(
    "etl_orders",
    schedule="0 * * * *",
    start_date=datetime(2026, 1, 1),
    catchup=False,
    timezone="Europe/Berlin",
    default_args={"retries": 2, "retry_delay": timedelta(seconds=1)},
    tags=["demo", "etl"],
    max_active_runs=4,
    description="Hourly orders ETL with a flaky source and retries",
    params={"limit": 50},
) as dag:

    @task(retries=3, retry_delay=timedelta(seconds=1), retry_backoff="exponential", max_retry_delay=timedelta(seconds=10))
    def extract() -> list[dict]:
        ctx = get_context()
        if ctx.try_number == 1:
            raise ConnectionError("orders API timed out (simulated); the retry policy takes over")
        rng = random.Random(ctx.run_id)
        rows = [
            {"order_id": i, "customer": f"c{rng.randint(1, 20)}", "amount": round(rng.uniform(5, 500), 2)}
            for i in range(int(ctx.params["limit"]))
        ]
        ctx.log.info("extracted %d orders", len(rows))
        return rows

    @task
    def transform(rows: list[dict]) -> dict:
        by_customer: dict[str, float] = {}
        for row in rows:
            if row["amount"] <= 0:
                continue
            by_customer[row["customer"]] = round(by_customer.get(row["customer"], 0.0) + row["amount"], 2)
        return {"orders": len(rows), "revenue": round(sum(by_customer.values()), 2), "by_customer": by_customer}

    @task(execution_timeout=timedelta(minutes=1))
    def load(summary: dict) -> str:
        ctx = get_context()
        out = Path(os.environ.get("ORCH_HOME", ".")) / "output"
        out.mkdir(parents=True, exist_ok=True)
        stamp = (ctx.logical_date or datetime.now()).strftime("%Y%m%dT%H%M")
        target = out / f"orders_{stamp}.json"
        target.write_text(json.dumps(summary, indent=2))
        print(f"wrote {target}")
        return str(target)

    load(transform(extract()))
