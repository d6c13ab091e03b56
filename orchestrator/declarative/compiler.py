"""A parsed workflow (orchestrator.declarative.workflow) compiled to its DAG: `build_dag`.

The triggers give the DAG's schedule and event triggers, the steps its tasks and edges
(orchestrator.declarative.step_graph); then the graph is checked as a whole.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from orchestrator.core.errors import DagDefinitionError
from orchestrator.core.inputs import check_schema, schema_defaults
from orchestrator.core.schedule import cron_expression, zone
from orchestrator.core.triggers import EventTrigger
from orchestrator.declarative.step_graph import WorkflowDag, _Builder
from orchestrator.declarative.workflow import Workflow, WorkflowFileError

DEFAULT_START = datetime(2000, 1, 1, tzinfo=UTC)
"""The start of a cron trigger without startDate (without catchup only the newest interval runs)."""


def _schedule(workflow: Workflow, problems: list[tuple[str, str]]) -> dict[str, Any]:
    """DAG arguments from the triggers: the cron schedule (one at most) and the EventTriggers."""
    out: dict[str, Any] = {"triggers": []}
    for i, trigger in enumerate(workflow.triggers):
        here = f"triggers[{i}]"
        if (trigger.event_pattern is None) == (trigger.schedule is None):
            problems.append((here, "give either eventPattern (an outside event) or schedule (a cron expression)"))
            continue
        if trigger.schedule is not None:
            if "schedule" in out:
                problems.append((f"{here}.schedule", "a workflow has at most one cron schedule"))
                continue
            if trigger.catchup and trigger.start_date is None:
                problems.append((f"{here}.startDate", "required with catchup: the first interval to run"))
                continue
            checks = ((f"{here}.schedule", lambda: cron_expression(str(trigger.schedule))), (f"{here}.timezone", lambda: zone(trigger.timezone)))
            if not all(_recorded(problems, where, check) for where, check in checks):
                continue
            start = trigger.start_date or DEFAULT_START
            out.update(schedule=trigger.schedule, timezone=trigger.timezone, catchup=trigger.catchup,
                       start_date=start if start.tzinfo else start.replace(tzinfo=UTC))
            continue
        try:
            out["triggers"].append(
                EventTrigger(str(trigger.event_pattern), condition=trigger.condition,
                             transform=trigger.transform.expression if trigger.transform else None,
                             transform_language=trigger.transform.type if trigger.transform else "jmespath")
            )
        except DagDefinitionError as exc:
            problems.append((here, str(exc)))
    return out


def _recorded(problems: list[tuple[str, str]], where: str, check: Callable[[], Any]) -> bool:
    """Run `check`; a DagDefinitionError becomes a problem at `where`. Returns whether it passed."""
    try:
        check()
    except DagDefinitionError as exc:
        problems.append((where, str(exc)))
        return False
    return True


def build_dag(workflow: Workflow) -> WorkflowDag:
    """The DAG of a parsed workflow; WorkflowFileError listing what does not fit together."""
    problems: list[tuple[str, str]] = []
    input_schema = None
    if workflow.input_schema is not None:
        try:
            input_schema = check_schema(workflow.input_schema, "inputSchema")
        except DagDefinitionError as exc:
            problems.append(("", str(exc)))
    arguments = _schedule(workflow, problems)
    try:
        dag = WorkflowDag(
            workflow.workflow_id, title=workflow.name, version_label=workflow.version, description=workflow.description,
            tags=workflow.tags, input_schema=input_schema, params=schema_defaults(input_schema or {}),
            dagrun_timeout=workflow.dagrun_timeout or None, deadline=workflow.deadline.to_deadline() if workflow.deadline else None,
            log_retention=workflow.execution_log.retention if workflow.execution_log else None, **arguments,
        )
    except DagDefinitionError as exc:
        raise WorkflowFileError([*problems, ("", str(exc))]) from None
    builder = _Builder(dag, workflow)
    builder.steps(workflow.steps, "steps")
    builder.check_dangling()
    builder.check_min_success()
    builder.check_compensators()
    problems += builder.problems
    if problems:
        raise WorkflowFileError(problems)
    # a step's own join rule (triggerRule or minSuccess) is on its entry task
    explicit = {
        n.entries[0].task_id for n in builder.nodes.values()
        if n.own is not None and (n.step.trigger_rule is not None or n.step.min_success is not None)
    }
    dag.joins = {tid for tid, n in builder.incoming.items() if n > 1} - explicit
    try:
        dag.to_spec()  # the graph as a whole: cycles, failure routes that do not fit it
    except DagDefinitionError as exc:
        raise WorkflowFileError([("steps", str(exc))]) from None
    except ValidationError as exc:
        raise WorkflowFileError([("steps", re.sub(r"^Value error, ", "", e["msg"])) for e in exc.errors(include_url=False)]) from None
    return dag
