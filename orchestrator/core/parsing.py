"""What parsing one DAG file gives (`FileResult`) and the file it was made from (`FileStat`): plain data."""

from __future__ import annotations

from dataclasses import dataclass

from orchestrator.core.spec import DagSpec


@dataclass(frozen=True)
class FileResult:
    """What parsing one file gave: its DagSpecs, or the error that stopped it."""

    path: str
    specs: tuple[DagSpec, ...] = ()
    error: str | None = None
    traceback: str = ""
    duration_s: float = 0.0


@dataclass(frozen=True)
class FileStat:
    path: str
    mtime: float
    size: int
