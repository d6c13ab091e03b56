"""Fan-out / fan-in: score every region in parallel, then combine the scores.

`report` runs even when a region fails (trigger rule all_done) and says which ones are missing;
`publish` runs only when every region succeeded.
"""

from __future__ import annotations

from datetime import datetime

from orchestrator import DAG, PythonTask, TriggerRule, XComArg, get_context

REGIONS = ["emea", "amer", "apac", "latam", "anz", "india"]


def score_region(region: str) -> dict:
    ctx = get_context()
    fail = ctx.params.get("fail_region")
    if region == fail:
        raise RuntimeError(f"region {region} has no data for {ctx.logical_date:%Y-%m-%d}")
    score = sum(ord(c) for c in region) % 100
    ctx.log.info("region %s scored %d", region, score)
    return {"region": region, "score": score}


def report(**scores: dict | None) -> dict:
    ctx = get_context()
    got = {k: v["score"] for k, v in scores.items() if v is not None}
    missing = sorted(k for k, v in scores.items() if v is None)
    ctx.log.info("report over %d regions; missing: %s", len(got), ", ".join(missing) or "none")
    return {"regions": got, "missing": missing, "total": sum(got.values())}


def publish(summary: dict) -> str:
    return f"published total {summary['total']}"


with DAG(
    "fan_out_fan_in",
    schedule=None,
    tags=["demo", "fan-out"],
    description="Parallel per-region scoring joined into one report",
    params={"fail_region": None},
) as dag:
    scores = {r: PythonTask(task_id=f"score_{r}", python_callable=score_region, op_args=[r]) for r in REGIONS}
    # results of other tasks passed as arguments wire the dependencies (fan-in)
    combined = PythonTask(
        task_id="report",
        python_callable=report,
        op_kwargs={r: XComArg(t) for r, t in scores.items()},
        trigger_rule=TriggerRule.ALL_DONE,
    )
    # publish waits for the report and, with the default trigger rule all_success, for every region:
    # one failed region leaves it upstream_failed, and the run fails
    publishing = PythonTask(task_id="publish", python_callable=publish, op_args=[XComArg(combined)])
    list(scores.values()) >> publishing
