"""`orchestrator dags check-airflow FILE`: an Airflow DAG file's imports rewritten to
orchestrator.airflow, and what in it will not run (or runs differently) here.

Pure text in, text and findings out; the CLI writes the copy and tries to load it.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field

from orchestrator.airflow.compat import IGNORED_DAG_ARGS, IGNORED_TASK_ARGS

SUPPORTED_TASK_FLAVOURS = frozenset({"branch", "short_circuit", "python", "sensor"})


@dataclass
class Migration:
    source: str
    findings: list[str] = field(default_factory=list)
    """One line each: `line N: what will not run or runs differently`."""


def _names() -> frozenset[str]:
    import orchestrator.airflow as names

    return frozenset(names.__all__)


def rewrite(source: str) -> Migration:
    """The source with `from airflow... import X` as `from orchestrator.airflow import X` and
    `import pendulum` as the stand-in, plus the findings."""
    tree = ast.parse(source)
    lines = source.splitlines(keepends=True)
    known = _names()
    findings: list[str] = []
    replacements: dict[int, tuple[int, str]] = {}  # first line -> (last line, new text)
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and (node.module == "airflow" or node.module.startswith("airflow.")):
            missing = [a.name for a in node.names if a.name not in known]
            for name in missing:
                findings.append(f"line {node.lineno}: {name} (from {node.module}) is not available here")
            kept = [a for a in node.names if a.name in known]
            indent = lines[node.lineno - 1][: node.col_offset]
            text = f"{indent}from orchestrator.airflow import {', '.join(_alias(a) for a in kept)}\n" if kept else f"{indent}pass  # was: from {node.module} import {', '.join(_alias(a) for a in node.names)}\n"
            replacements[node.lineno] = (node.end_lineno or node.lineno, text)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                indent = lines[node.lineno - 1][: node.col_offset]
                if alias.name == "pendulum" and len(node.names) == 1:
                    as_ = f" as {alias.asname}" if alias.asname else ""
                    replacements[node.lineno] = (node.end_lineno or node.lineno, f"{indent}from orchestrator.airflow import pendulum{as_}\n")
                elif alias.name == "airflow" or alias.name.startswith("airflow."):
                    findings.append(f"line {node.lineno}: `import {alias.name}` is not supported: import the names from orchestrator.airflow")
        elif isinstance(node, ast.Call):
            findings.extend(_call_findings(node))
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "task":
            if node.attr not in SUPPORTED_TASK_FLAVOURS and not node.attr.startswith("_") and node.attr not in ("override", "expand", "partial"):
                findings.append(f"line {node.lineno}: @task.{node.attr} is not supported (run the code in a plain @task or a BashOperator)")
    out: list[str] = []
    skip_until = 0
    for number, line in enumerate(lines, start=1):
        if number <= skip_until:
            continue
        if number in replacements:
            last, text = replacements[number]
            out.append(text)
            skip_until = last
        else:
            out.append(line)
    return Migration("".join(out), sorted(set(findings), key=_line_number))


def _alias(alias: ast.alias) -> str:
    return f"{alias.name} as {alias.asname}" if alias.asname else alias.name


def _line_number(finding: str) -> int:
    return int(finding.split(":", 1)[0].removeprefix("line "))


def _callee(node: ast.Call) -> str:
    func = node.func
    if isinstance(func, ast.Attribute):
        return func.attr
    return func.id if isinstance(func, ast.Name) else ""


def _call_findings(node: ast.Call) -> list[str]:
    name = _callee(node)
    out = []
    ignored = IGNORED_DAG_ARGS if name in ("DAG", "dag") else IGNORED_TASK_ARGS
    quiet = {"task_display_name", "dag_display_name", "start_date", "owner", "email", "email_on_failure", "email_on_retry"}
    for kw in node.keywords:
        if kw.arg in ignored and kw.arg not in quiet:
            out.append(f"line {node.lineno}: {kw.arg}= has no effect here")
        if kw.arg == "ignore_downstream_trigger_rules" and not (isinstance(kw.value, ast.Constant) and kw.value.value is False):
            out.append(
                f"line {node.lineno}: a false short circuit skips its direct downstream and what only they lead to; "
                "a task with trigger rule all_done after them still runs (Airflow skips every downstream task)"
            )
    if name == "short_circuit" and not any(kw.arg == "ignore_downstream_trigger_rules" for kw in node.keywords):
        out.append(
            f"line {node.lineno}: a false short circuit skips its direct downstream and what only they lead to by their "
            "trigger rules (as Airflow's ignore_downstream_trigger_rules=False)"
        )
    return out
