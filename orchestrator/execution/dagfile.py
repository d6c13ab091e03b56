"""Importing one DAG file as a module and finding the DAGs it defines; a workflow file
(YAML or JSON, orchestrator.declarative.workflow) is read into its DAG instead.

Used by the loader's child processes and by the runtime on a worker; never by the scheduler
or the web UI, which only see DagSpecs.
"""

from __future__ import annotations

import hashlib
import importlib.util
import sys
from pathlib import Path

from orchestrator.authoring.dag import DAG, collect_dags
from orchestrator.core.errors import DagImportError
from orchestrator.declarative.files import is_workflow_file, load_workflow_file


def module_name_for(path: Path) -> str:
    digest = hashlib.sha1(str(path).encode()).hexdigest()[:12]
    return f"orch_dag_{path.stem}_{digest}"


def import_dag_file(path: Path, dags_root: Path | None = None) -> list[DAG]:
    """Import `path` and return the DAGs created while it ran, each with `fileloc` set.

    The DAG folder goes on `sys.path` so DAG files (and workflow files' `module:function` steps)
    can import helper modules beside them.
    Exceptions from the file propagate: the caller decides how to report them.
    """
    path = path.resolve()
    root = str((dags_root or path.parent).resolve())
    if root not in sys.path:
        sys.path.insert(0, root)
    if is_workflow_file(path):
        return [load_workflow_file(path)]
    name = module_name_for(path)
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise DagImportError(f"{path} cannot be imported as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        with collect_dags() as found:
            spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    for dag in found:
        dag.fileloc = str(path)
    return found
