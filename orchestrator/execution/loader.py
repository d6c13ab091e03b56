"""The loader: scans the DAG folder and turns each DAG file (Python, or a YAML/JSON workflow)
into DagSpecs or an import error.

Each file is imported in a child process (forked from a preloaded fork server, so a start
costs milliseconds) with a time limit: a file that hangs, crashes the interpreter or raises
becomes an import error, and the other files load as usual.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import time
import traceback
from collections.abc import Iterable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from orchestrator.core.parsing import FileResult, FileStat
from orchestrator.core.spec import DagSpec

_IGNORED_DIRS = {"__pycache__", "node_modules"}
DAG_FILE_SUFFIXES = (".py", ".yaml", ".yml", ".json")
"""Python DAG files and declarative workflows (orchestrator.declarative.workflow)."""
PUBLISHED_MARKER = ".published"
"""A folder holding this file loads only the DAG files it names, one a line (none when it is empty):
a definition's folder keeps every published version, the one new runs use is named here
(orchestrator.operations.definition_files)."""


def find_dag_files(folder: Path) -> list[FileStat]:
    """Every DAG file (DAG_FILE_SUFFIXES) below `folder` (recursively), skipping hidden files and cache
    folders, and in a folder with a PUBLISHED_MARKER the files it does not name."""
    found: list[FileStat] = []
    if not folder.is_dir():
        return found
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and d not in _IGNORED_DIRS)
        only = _published_names(dirpath, filenames)
        for name in sorted(filenames):
            if only is not None and name not in only:
                continue
            if name.lower().endswith(DAG_FILE_SUFFIXES) and not name.startswith("."):
                full = os.path.join(dirpath, name)
                try:
                    st = os.stat(full)
                except FileNotFoundError:
                    continue
                found.append(FileStat(str(Path(full).resolve()), st.st_mtime, st.st_size))
    return found


def _published_names(dirpath: str, filenames: list[str]) -> set[str] | None:
    """The files a folder with a PUBLISHED_MARKER loads (those it names); None: every DAG file."""
    if PUBLISHED_MARKER not in filenames:
        return None
    try:
        text = Path(dirpath, PUBLISHED_MARKER).read_text(encoding="utf-8")
    except OSError:
        return set()
    return {line.strip() for line in text.splitlines() if line.strip()}


def content_hash(path: str) -> str:
    with open(path, "rb") as fh:
        return hashlib.sha256(fh.read()).hexdigest()


def parse_in_this_process(path: str, dags_root: Path | None = None) -> FileResult:
    """Import one file here and build its specs; exceptions become an error result."""
    from orchestrator.execution.dagfile import import_dag_file

    started = time.perf_counter()
    try:
        _load_timetables_for(path)
        dags = import_dag_file(Path(path), dags_root)
        specs = tuple(d.to_spec() for d in dags)
        seen: set[str] = set()
        for s in specs:
            if s.dag_id in seen:
                raise ValueError(f"dag_id {s.dag_id!r} is defined twice in this file")
            seen.add(s.dag_id)
    except BaseException as exc:  # noqa: BLE001 - any failure of user code is an import error
        return FileResult(
            path=path,
            error=f"{type(exc).__name__}: {exc}",
            traceback=traceback.format_exc(),
            duration_s=time.perf_counter() - started,
        )
    return FileResult(path=path, specs=specs, duration_s=time.perf_counter() - started)


def _load_timetables_for(path: str) -> None:
    """A file that names a plugin's timetable (`schedule="timetable:NAME"`) needs the plugins loaded
    to check it; only such files pay for loading them."""
    from orchestrator.core.timetables import PREFIX

    try:
        mentions = PREFIX in Path(path).read_text(errors="replace")
    except OSError:
        return  # the import reports the missing file
    if mentions:
        from orchestrator.plugins.manager import load_configured_plugins

        load_configured_plugins()


def _child(conn: Connection, path: str, dags_root: str | None) -> None:
    result = parse_in_this_process(path, Path(dags_root) if dags_root else None)
    payload: dict[str, Any] = {
        "error": result.error,
        "traceback": result.traceback,
        "specs": [s.model_dump(mode="json") for s in result.specs],
        "duration_s": result.duration_s,
    }
    try:
        conn.send(payload)
    except Exception as exc:  # noqa: BLE001 - e.g. unpicklable params
        conn.send({"error": f"cannot send the DAG specs back: {exc}", "traceback": "", "specs": [], "duration_s": 0.0})
    conn.close()


_context: Any = None


def parser_context() -> Any:
    """The forkserver context whose children import DAG files (and check workflow documents)."""
    global _context
    if _context is None:
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(["orchestrator", "orchestrator.execution.loader", "orchestrator.execution.dagfile"])
        _context = ctx
    return _context


@dataclass
class _Job:
    path: str
    process: Any
    conn: Connection
    deadline: float
    started: float = field(default_factory=time.perf_counter)


def parse_files(
    paths: Iterable[str], *, timeout_s: float = 30.0, processes: int = 2, dags_root: Path | None = None
) -> list[FileResult]:
    """Parse files in child processes, `processes` at a time, each within `timeout_s`."""
    pending = list(paths)
    pending.reverse()
    running: list[_Job] = []
    results: list[FileResult] = []
    ctx = parser_context()
    root = str(dags_root) if dags_root else None
    while pending or running:
        while pending and len(running) < processes:
            path = pending.pop()
            parent_conn, child_conn = ctx.Pipe(duplex=False)
            proc = ctx.Process(target=_child, args=(child_conn, path, root), daemon=True)
            proc.start()
            child_conn.close()
            running.append(_Job(path, proc, parent_conn, time.monotonic() + timeout_s))
        _wait_any(running)
        still: list[_Job] = []
        for job in running:
            result = _collect(job, timeout_s)
            if result is None:
                still.append(job)
            else:
                results.append(result)
        running = still
    return results


def _wait_any(running: list[_Job]) -> None:
    from multiprocessing.connection import wait

    soonest = min(job.deadline for job in running)
    wait([job.conn for job in running], timeout=max(0.0, soonest - time.monotonic()))


def _collect(job: _Job, timeout_s: float) -> FileResult | None:
    """The job's result if it is done (or past its deadline), else None."""
    duration = time.perf_counter() - job.started
    if job.conn.poll():
        try:
            payload = job.conn.recv()
        except EOFError:
            payload = None
        job.process.join(5)
        job.conn.close()
        if payload is None:
            return FileResult(job.path, error=f"the import process died (exit code {job.process.exitcode})", duration_s=duration)
        return FileResult(
            path=job.path,
            specs=tuple(DagSpec.model_validate(s) for s in payload["specs"]),
            error=payload["error"],
            traceback=payload["traceback"],
            duration_s=payload["duration_s"],
        )
    if time.monotonic() >= job.deadline:
        job.process.kill()
        job.process.join(5)
        job.conn.close()
        return FileResult(
            job.path, error=f"importing the file took longer than the {timeout_s:g} s limit (dag_file_timeout_s)", duration_s=duration
        )
    return None
