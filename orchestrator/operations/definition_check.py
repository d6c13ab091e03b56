"""Checking a workflow document as the loader would load it, in a child process with a time limit.

A document's `module:function` steps import code from the DAG folder, so it is checked where DAG
files are imported: a child of the loader's fork server, with the DAG folder on sys.path. A check
that hangs or crashes is reported as a problem of the document, never of the caller.
"""

from __future__ import annotations

import sys
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from orchestrator.core.definitions import Problem, json_path
from orchestrator.execution.loader import parser_context


def problems_in_this_process(document: Any, dags_root: Path | None = None) -> list[Problem]:
    """Every problem of the document, each at its JSON path; [] when it would load as a DAG."""
    from orchestrator.declarative.compiler import build_dag
    from orchestrator.declarative.workflow import WorkflowFileError, parse_workflow

    if dags_root is not None and str(dags_root) not in sys.path:
        sys.path.insert(0, str(dags_root))
    try:
        build_dag(parse_workflow(document))
    except WorkflowFileError as exc:
        return [Problem(json_path(path), message) for path, message in exc.problems]
    except Exception as exc:  # noqa: BLE001 - whatever a step's code raises is the document's problem
        return [Problem("$", f"{type(exc).__name__}: {exc}")]
    return []


def _child(conn: Connection, document: Any, dags_root: str | None) -> None:
    problems = problems_in_this_process(document, Path(dags_root) if dags_root else None)
    conn.send([p.as_dict() for p in problems])
    conn.close()


def check_document(document: Any, dags_root: Path | None, timeout_s: float = 30.0) -> list[Problem]:
    """Every problem of the document (checked in a child process within `timeout_s`)."""
    ctx = parser_context()
    parent, child = ctx.Pipe(duplex=False)
    process = ctx.Process(target=_child, args=(child, document, str(dags_root) if dags_root else None), daemon=True)
    process.start()
    child.close()
    try:
        if not parent.poll(timeout_s):
            process.kill()
            return [Problem("$", f"checking the document took longer than the {timeout_s:g} s limit (dag_file_timeout_s)")]
        try:
            return [Problem(**p) for p in parent.recv()]
        except EOFError:
            return [Problem("$", "the process checking the document died; its steps' code may crash the interpreter")]
    finally:
        process.join(5)
        parent.close()
