"""Code bundles: the DAG folder zipped and named by a hash of its content, for workers without it.

Workers of an outside Dask cluster need neither the database nor the DAG folder. The scheduler
zips the folder (every file under it but hidden ones and caches), names the zip by the SHA-256
of its content, and hands it to Dask once (`scatter`, to every worker); each try carries the
bundle's name and the bundle itself as a Dask dependency. A worker unpacks a bundle once into its
cache and imports the DAG file from there, so a changed folder is a new bundle and tries of runs
started before the change keep the code they started with as long as their bundle is referenced.

Limits: only the DAG folder travels. What a task imports from elsewhere (its libraries, the
orchestrator itself) must be installed on the workers; files larger than the whole bundle limit
are refused with an error naming them.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import tempfile
import threading
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

from orchestrator.core.errors import OrchestratorError

MAX_BUNDLE_BYTES = 64 * 1024 * 1024
_SKIPPED_DIRS = {"__pycache__", ".git", ".hg", ".svn", ".venv", "node_modules"}
_EPOCH = (1980, 1, 1, 0, 0, 0)  # zip entries carry no real time: equal content, equal bytes


class CodeBundleError(OrchestratorError):
    """The DAG folder cannot be shipped to the workers (too large, unreadable)."""


@dataclass(frozen=True)
class CodeBundle:
    """A zipped DAG folder; `name` is the SHA-256 of `data`."""

    name: str
    data: bytes


def _files(root: Path) -> list[Path]:
    found: list[Path] = []
    for folder, dirs, names in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in _SKIPPED_DIRS and not d.startswith("."))
        found.extend(Path(folder) / n for n in sorted(names) if not n.startswith(".") and not n.endswith((".pyc", ".pyo")))
    return found


def fingerprint(root: Path) -> tuple[tuple[str, int, int], ...]:
    """What changes when a file under `root` is added, removed or written (cheap: stat only)."""
    out = []
    for path in _files(root):
        try:
            st = path.stat()
        except FileNotFoundError:
            continue  # removed while walking: the next fingerprint says so
        out.append((str(path.relative_to(root)), st.st_mtime_ns, st.st_size))
    return tuple(out)


def build_bundle(root: Path) -> CodeBundle:
    """Zip the folder `root` deterministically; raises CodeBundleError past MAX_BUNDLE_BYTES."""
    buf = io.BytesIO()
    total = 0
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for path in _files(root):
            try:
                data = path.read_bytes()
            except FileNotFoundError:
                continue
            except OSError as exc:
                raise CodeBundleError(f"cannot read {path} to ship the DAG folder to the workers: {exc}") from exc
            total += len(data)
            if total > MAX_BUNDLE_BYTES:
                raise CodeBundleError(
                    f"the DAG folder {root} holds more than {MAX_BUNDLE_BYTES // 2**20} MiB (reached at {path}): "
                    "keep data out of it, or mount the folder on the workers and set ORCH_SHIP_CODE=never"
                )
            info = zipfile.ZipInfo(path.relative_to(root).as_posix(), date_time=_EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, data)
    data = buf.getvalue()
    return CodeBundle(hashlib.sha256(data).hexdigest(), data)


class BundleCache:
    """The scheduler's current bundle of one folder, rebuilt when the folder changed.

    The folder is looked at no more often than every `recheck_s` seconds, so a burst of
    submits costs one walk.
    """

    def __init__(self, root: Path, *, recheck_s: float = 1.0) -> None:
        self.root = root
        self.recheck_s = recheck_s
        self._lock = threading.Lock()
        self._checked = float("-inf")
        self._fingerprint: tuple[tuple[str, int, int], ...] | None = None
        self._bundle: CodeBundle | None = None

    def current(self) -> CodeBundle:
        with self._lock:
            now = time.monotonic()
            if self._bundle is None or now - self._checked >= self.recheck_s:
                self._checked = now
                seen = fingerprint(self.root)
                if seen != self._fingerprint or self._bundle is None:
                    self._bundle = build_bundle(self.root)
                    self._fingerprint = seen
            return self._bundle


_unpack_lock = threading.Lock()


def unpacked(name: str, data: bytes, cache_root: Path | None = None) -> Path:
    """The folder holding bundle `name` on this machine, unpacked on first use (safe across processes)."""
    cache = cache_root or Path(os.environ.get("ORCH_BUNDLE_CACHE", Path(tempfile.gettempdir()) / "orchestrator-bundles"))
    target = cache / name
    if target.is_dir():
        return target
    with _unpack_lock:
        if target.is_dir():
            return target
        if hashlib.sha256(data).hexdigest() != name:
            raise CodeBundleError(f"code bundle {name[:12]} arrived damaged (its content has another hash)")
        cache.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{name[:12]}-", dir=cache))
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as zf:
                for member in zf.namelist():
                    # a bundle only ever holds relative paths inside the folder
                    if member.startswith("/") or ".." in Path(member).parts:
                        raise CodeBundleError(f"code bundle {name[:12]} holds a path outside its folder: {member}")
                zf.extractall(staging)
            try:
                staging.rename(target)  # atomic: another worker process may have won the race
            except OSError:
                if not target.is_dir():
                    raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return target
