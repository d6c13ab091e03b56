"""SubDagTask: another DAG as one step, with input and output mapping (seed 004's sub-workflows).

    total = SubDagTask(
        task_id="price", dag_id="pricing",
        input={"sku": "{{ params.sku }}", "quantity": count},      # count: an upstream task's result
        output={"amount": "quote.amount"},                          # JMESPath over the child's task results
        on_child_failure="retry", retries=2,
    )

It is a TriggerDagRunTask that always waits (the scheduler runs it, holding no worker slot; the
child run links back to it). `input` becomes the child run's conf: each value is a JSON value, a
template over the parent run (orchestrator.core.templating: a template that is one `{{ expression }}`
keeps the expression's type) or an upstream task's result (XComArg, which also makes it an
upstream). `output` picks values from the child run's task results, given to each expression as
{task_id: result}. The task's result is {"dag_id", "run_id", "state", "output": {...}}.

When the child run fails: "fail_parent" fails the task (no retry), "continue" lets the task
succeed with the child's state in its result, "retry" fails the try, so a new child run starts for
each of the task's `retries`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Literal, get_args

import jmespath
from jmespath.exceptions import JMESPathError

from orchestrator.authoring.tasks import BaseTask, XComArg
from orchestrator.core.errors import DagDefinitionError
from orchestrator.core.spec import ResultRef, SubDagSpec, TaskSpec
from orchestrator.core.templating import check_template, render_value
from orchestrator.plugins.hookspecs import hookimpl
from orchestrator.plugins.steps.trigger import TriggerDagRunTask

OnChildFailure = Literal["fail_parent", "continue", "retry"]


class SubDagTask(TriggerDagRunTask):
    """Run `dag_id` as a step: its conf from `input`, the task's result from `output` (see the module)."""

    step_type = "sub_dag"

    def __init__(
        self,
        *,
        task_id: str,
        dag_id: str,
        input: Mapping[str, Any] | None = None,  # noqa: A002 - the word the seeds use
        output: Mapping[str, str] | None = None,
        on_child_failure: OnChildFailure = "fail_parent",
        **kwargs: Any,
    ) -> None:
        super().__init__(task_id=task_id, dag_id=dag_id, wait=True, **kwargs)
        where = f"DAG {self.dag.dag_id if self.dag is not None else '?'!r}, task {self.task_id!r}"
        if on_child_failure not in get_args(OnChildFailure):
            raise DagDefinitionError(f"{where}: on_child_failure must be one of {', '.join(get_args(OnChildFailure))}, not {on_child_failure!r}")
        if on_child_failure != "retry" and self._explicit.get("retries"):
            raise DagDefinitionError(f"{where}: retries start new child runs, so they go with on_child_failure='retry'")
        literal: dict[str, Any] = {}
        refs: dict[str, ResultRef] = {}
        for name, value in (input or {}).items():
            if isinstance(value, XComArg):
                refs[name] = ResultRef(task_id=value.task.task_id, key=value.key)
                self.set_upstream(value.task)
                continue
            if isinstance(value, str):
                check_template(value, f"{where}: input {name!r}")
            try:
                json.dumps(value)
            except (TypeError, ValueError) as exc:
                raise DagDefinitionError(f"{where}: input {name!r} must be JSON, a template or a task's result: {exc}") from None
            literal[name] = value
        for name, expression in (output or {}).items():
            try:
                jmespath.compile(expression)
            except (JMESPathError, TypeError) as exc:
                raise DagDefinitionError(f"{where}: output {name!r} is not a JMESPath expression ({expression!r}): {exc}") from None
        self.subdag = SubDagSpec(input=literal, input_from=refs, output=dict(output or {}), on_child_failure=on_child_failure)

    def to_spec(self) -> TaskSpec:
        spec = super().to_spec()
        if self.subdag.on_child_failure == "retry" and spec.retries < 1:
            raise DagDefinitionError(f"task {self.task_id!r}: on_child_failure='retry' needs retries=N (how many new child runs to try)")
        # only "retry" starts new child runs: the other choices settle the child's failure at once
        retries = spec.retries if self.subdag.on_child_failure == "retry" else 0
        return spec.model_copy(update={"subdag": self.subdag, "retries": retries})


# -- what the scheduler does with it (pure; scheduler/child_runs.py does the I/O) ------------------------
def child_conf(
    trigger_conf: Mapping[str, Any], sub: SubDagSpec, scope: Mapping[str, Any], results: Mapping[str, Any]
) -> dict[str, Any]:
    """The child run's conf: the trigger's conf, then the rendered input, then the upstream results.

    `scope` is orchestrator.core.templating.run_scope of the parent's task; `results` its upstreams'
    results by task id. Raises TemplateRenderError, KeyError/IndexError/TypeError for a result
    that lacks the item asked for.
    """
    conf = dict(trigger_conf)
    for name, value in sub.input.items():
        conf[name] = render_value(value, scope) if isinstance(value, str) else value
    for name, ref in sub.input_from.items():
        value = results[ref.task_id]
        conf[name] = value if ref.key is None else value[ref.key]
    return conf


def pick_output(sub: SubDagSpec, child_results: Mapping[str, Any]) -> dict[str, Any]:
    """The output mapping over the child run's task results (missing values are None)."""
    data = dict(child_results)
    return {name: jmespath.search(expression, data) for name, expression in sub.output.items()}


def subdag_result(dag_id: str, run_id: str, state: str, output: dict[str, Any]) -> dict[str, Any]:
    """The result of a SubDagTask whose child run ended."""
    return {"dag_id": dag_id, "run_id": run_id, "state": state, "output": output}


@hookimpl
def orchestrator_step_types() -> list[type[BaseTask]]:
    return [SubDagTask]
