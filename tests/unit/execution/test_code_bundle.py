"""Code bundles: the DAG folder zipped by content, unpacked once on a worker."""

from __future__ import annotations

import hashlib
import io
import os
import zipfile
from pathlib import Path

import pytest

from orchestrator.execution import code_bundle
from orchestrator.execution.code_bundle import BundleCache, CodeBundleError, build_bundle, unpacked


def _folder(root: Path) -> Path:
    (root / "sub").mkdir(parents=True)
    (root / "a_dag.py").write_text("A = 1\n")
    (root / "sub" / "helper.py").write_text("B = 2\n")
    (root / "__pycache__").mkdir()
    (root / "__pycache__" / "a_dag.cpython-311.pyc").write_bytes(b"\0")
    (root / ".git").mkdir()
    (root / ".git" / "HEAD").write_text("ref\n")
    return root


def test_equal_folders_give_the_same_bundle_name_whatever_the_file_times(tmp_path: Path) -> None:
    first = build_bundle(_folder(tmp_path / "one"))
    os.utime(tmp_path / "one" / "a_dag.py", (1, 1))
    assert build_bundle(tmp_path / "one").name == first.name
    assert build_bundle(_folder(tmp_path / "two")).name == first.name


def test_a_bundle_holds_the_folders_files_but_not_caches_or_hidden_ones(tmp_path: Path) -> None:
    bundle = build_bundle(_folder(tmp_path / "dags"))
    with zipfile.ZipFile(io.BytesIO(bundle.data)) as zf:
        assert sorted(zf.namelist()) == ["a_dag.py", "sub/helper.py"]


def test_a_changed_file_gives_a_new_bundle(tmp_path: Path) -> None:
    root = _folder(tmp_path / "dags")
    before = build_bundle(root)
    (root / "sub" / "helper.py").write_text("B = 3\n")
    assert build_bundle(root).name != before.name


def test_a_folder_over_the_limit_is_refused_naming_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = _folder(tmp_path / "dags")
    monkeypatch.setattr(code_bundle, "MAX_BUNDLE_BYTES", 8)
    with pytest.raises(CodeBundleError, match="ORCH_SHIP_CODE=never"):
        build_bundle(root)


def test_unpacking_gives_the_folders_files_and_reuses_them(tmp_path: Path) -> None:
    bundle = build_bundle(_folder(tmp_path / "dags"))
    where = unpacked(bundle.name, bundle.data, tmp_path / "cache")
    assert (where / "sub" / "helper.py").read_text() == "B = 2\n"
    assert unpacked(bundle.name, b"not looked at again", tmp_path / "cache") == where


def test_a_damaged_bundle_is_refused(tmp_path: Path) -> None:
    bundle = build_bundle(_folder(tmp_path / "dags"))
    with pytest.raises(CodeBundleError, match="damaged"):
        unpacked(bundle.name, bundle.data + b"x", tmp_path / "cache")


def test_a_bundle_with_a_path_outside_its_folder_is_refused(tmp_path: Path) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("../escape.py", "X = 1\n")
    data = buf.getvalue()
    with pytest.raises(CodeBundleError, match="outside its folder"):
        unpacked(hashlib.sha256(data).hexdigest(), data, tmp_path / "cache")
    assert not (tmp_path / "escape.py").exists()


def test_the_cache_rebuilds_only_after_the_folder_changed(tmp_path: Path) -> None:
    root = _folder(tmp_path / "dags")
    cache = BundleCache(root, recheck_s=0)
    first = cache.current()
    assert cache.current() is first
    (root / "new_dag.py").write_text("C = 1\n")
    assert cache.current().name != first.name
