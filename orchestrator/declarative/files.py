"""Workflow files in the DAG folder: which files they are, what they hold, and the DAG each describes.

A file with `states` is a state machine (orchestrator.declarative.machine); any other is a DAG of
steps (orchestrator.declarative.workflow, compiled by orchestrator.declarative.compiler).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from orchestrator.authoring.dag import DAG
from orchestrator.declarative.compiler import build_dag
from orchestrator.declarative.machine import build_machine, is_machine_document
from orchestrator.declarative.workflow import WorkflowFileError, parse_workflow

WORKFLOW_SUFFIXES = (".yaml", ".yml", ".json")


def is_workflow_file(path: Path) -> bool:
    return path.suffix.lower() in WORKFLOW_SUFFIXES


def read_document(path: Path) -> Any:
    """The file's content as data: YAML (safe_load: no Python objects) or JSON."""
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() == ".json":
        try:
            return json.loads(text)
        except ValueError as exc:
            raise WorkflowFileError([("", f"not valid JSON: {exc}")]) from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise WorkflowFileError([("", f"not valid YAML: {' '.join(str(exc).split())}")]) from None


def load_workflow_file(path: Path) -> DAG:
    """The DAG a workflow file describes, with `fileloc` set; WorkflowFileError when it is not valid.

    `module:function` steps import their module as it is found on sys.path: the loader
    (orchestrator.execution.dagfile) puts the DAG folder there first, so helper modules beside the file work.
    """
    document = read_document(path)
    if is_machine_document(document):
        dag: DAG = build_machine(document)
    else:
        dag = build_dag(parse_workflow(document))
    dag.fileloc = str(path)
    return dag
