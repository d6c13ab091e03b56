"""The container image: what the Dockerfile and .dockerignore promise, read from the files.

No Docker engine runs here; tests/integration/test_container_commands.py runs the commands and
the HEALTHCHECK the image would run.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest

from orchestrator.core.config import Config

REPO_ROOT = Path(__file__).resolve().parents[3]


@dataclass(frozen=True)
class Instruction:
    keyword: str
    args: str

    def exec_form(self) -> list[str]:
        """The JSON-array form of CMD / ENTRYPOINT / HEALTHCHECK CMD."""
        return json.loads(self.args[self.args.index("[") :])


def parse_dockerfile(text: str) -> list[list[Instruction]]:
    """The instructions of each build stage (the first list holds what comes before any FROM)."""
    logical: list[str] = []
    current = ""
    for line in text.splitlines():
        if line.lstrip().startswith("#") and not current:
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        current += line
        if current.strip():
            logical.append(current.strip())
        current = ""
    stages: list[list[Instruction]] = [[]]
    for entry in logical:
        keyword, _, args = entry.partition(" ")
        if keyword.upper() == "FROM":
            stages.append([])
        stages[-1].append(Instruction(keyword.upper(), args.strip()))
    return stages


STAGES = parse_dockerfile((REPO_ROOT / "Dockerfile").read_text())
FINAL = STAGES[-1]
BUILD_ARGS = {i.args.split("=", 1)[0]: i.args.split("=", 1)[1] for i in STAGES[0] if i.keyword == "ARG"}
PYPROJECT = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())


def instructions(stage: list[Instruction], keyword: str) -> list[Instruction]:
    return [i for i in stage if i.keyword == keyword]


def final_env() -> dict[str, str]:
    env: dict[str, str] = {}
    for instruction in instructions(FINAL, "ENV"):
        for name, value in re.findall(r"(\w+)=(\S+)", instruction.args):
            env[name] = value
    return env


# -- base and user ----------------------------------------------------------------------------------
def test_every_stage_is_built_on_slim_python_3_11() -> None:
    assert re.fullmatch(r"python:3\.11-slim(-\w+)?", BUILD_ARGS["PYTHON_IMAGE"])
    assert [i.args.split()[0] for s in STAGES[1:] for i in instructions(s, "FROM")] == ["${PYTHON_IMAGE}"] * (len(STAGES) - 1)
    assert PYPROJECT["project"]["requires-python"] == ">=3.11"


def test_the_image_runs_as_a_numeric_non_root_user() -> None:
    user = instructions(FINAL, "USER")[-1].args
    uid, _, gid = user.partition(":")
    assert uid.isdigit() and int(uid) != 0 and gid.isdigit() and int(gid) != 0


def test_that_user_and_group_are_created_in_the_image() -> None:
    uid, _, gid = instructions(FINAL, "USER")[-1].args.partition(":")
    runs = " ".join(i.args for i in instructions(FINAL, "RUN"))
    assert re.search(rf"groupadd .*--gid {gid}\b", runs) and re.search(rf"useradd .*--uid {uid}\b", runs)


# -- the install ------------------------------------------------------------------------------------
def test_every_package_of_the_project_is_copied_into_the_build() -> None:
    packages = {pattern.rstrip("*") for pattern in PYPROJECT["tool"]["setuptools"]["packages"]["find"]["include"]}
    copied = {src.rstrip("/") for i in instructions(STAGES[1], "COPY") for src in i.args.split()[:-1]}
    assert packages <= copied
    assert {"pyproject.toml", PYPROJECT["project"]["readme"]} <= copied


def test_the_project_is_installed_from_the_source_tree_with_the_chosen_extras() -> None:
    runs = [i.args for i in instructions(STAGES[1], "RUN")]
    assert any(re.search(r'pip install "\.\$\{EXTRAS:\+\[\$EXTRAS\]\}"', run) for run in runs), runs
    assert [i.args for i in instructions(STAGES[1], "ARG")] == ['EXTRAS=""']


def test_the_installed_environment_is_on_the_path_of_the_final_image() -> None:
    assert any(i.args.startswith("--from=build /opt/venv /opt/venv") for i in instructions(FINAL, "COPY"))
    assert final_env()["PATH"].startswith("/opt/venv/bin:")


def test_the_entrypoint_is_the_orchestrator_cli_under_tini() -> None:
    assert instructions(FINAL, "ENTRYPOINT")[-1].exec_form() == ["tini", "--", "orchestrator"]
    assert "orchestrator" in PYPROJECT["project"]["scripts"]
    assert any("install -y --no-install-recommends tini" in i.args for i in instructions(FINAL, "RUN"))


# -- settings, volume, port, health ----------------------------------------------------------------
def test_orch_home_is_a_volume_owned_by_the_user() -> None:
    home = final_env()["ORCH_HOME"]
    assert json.loads(instructions(FINAL, "VOLUME")[-1].args) == [home]
    assert any(f"install -d -o orchestrator -g orchestrator -m 0750 {home}" in i.args for i in instructions(FINAL, "RUN"))


def test_the_web_ui_listens_on_every_interface_at_the_exposed_port(monkeypatch: pytest.MonkeyPatch) -> None:
    env = final_env()
    for name in ("ORCH_HOME", "ORCH_WEBUI_HOST", "ORCH_WEBUI_PORT"):
        monkeypatch.setenv(name, env[name])
    config = Config()
    assert config.webui_host == "0.0.0.0"
    assert [i.args for i in instructions(FINAL, "EXPOSE")] == [str(config.webui_port)]


def test_the_healthcheck_requests_api_v1_health_on_the_web_ui_port() -> None:
    check = instructions(FINAL, "HEALTHCHECK")[-1]
    command = check.exec_form()
    assert command[:2] == ["python", "-c"]
    code = command[2]
    compile(code, "HEALTHCHECK", "exec")
    assert "urllib.request.urlopen(" in code and "/api/v1/health" in code and "ORCH_WEBUI_PORT" in code
    assert re.search(r"--timeout=\d+s", check.args) and re.search(r"--start-period=\d+s", check.args)


# -- .dockerignore ------------------------------------------------------------------------------------
def _pattern_regex(pattern: str) -> re.Pattern[str]:
    """A .dockerignore pattern (Go filepath.Match, plus `**`) as a regex over slash paths."""
    out = ""
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        elif pattern[i] == "[":
            end = pattern.index("]", i)
            out, i = out + pattern[i : end + 1], end + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(out)


def in_build_context(path: str) -> bool:
    """Whether `path` (relative, slashes) is sent to the build: the last matching rule wins, and a
    rule that matches a parent directory matches what is inside it."""
    rules = [
        (line.startswith("!"), _pattern_regex(line.lstrip("!").strip("/")))
        for line in (l.strip() for l in (REPO_ROOT / ".dockerignore").read_text().splitlines())
        if line and not line.startswith("#")
    ]
    parts = path.split("/")
    prefixes = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    included = True
    for negated, regex in rules:
        if any(regex.fullmatch(p) for p in prefixes):
            included = negated
    return included


def repository_files() -> list[str]:
    files = []
    for root, dirs, names in os.walk(REPO_ROOT):
        dirs[:] = [d for d in dirs if d != ".git"]
        files += [Path(root, n).relative_to(REPO_ROOT).as_posix() for n in names]
    return files


def test_the_build_context_holds_every_file_the_image_installs() -> None:
    sources = [src.rstrip("/") for i in instructions(STAGES[1], "COPY") for src in i.args.split()[:-1]]
    needed = [f for f in repository_files() if any(f == s or f.startswith(s + "/") for s in sources) and "__pycache__" not in f]
    assert needed and [f for f in needed if not in_build_context(f)] == []
    assert in_build_context("webui/ui/templates/base.html") and in_build_context("migrations/script.py.mako")


@pytest.mark.parametrize(
    "path",
    [
        ".git/config", "tests/unit/core/test_schedule.py", "bench/README.md", "helm/orchestrator/values.yaml",
        "orchestrator/__pycache__/config.cpython-311.pyc", "orchestrator.egg-info/PKG-INFO", "orchestrator.db",
        ".venv/bin/python", "fernet_key",
    ],
)
def test_the_build_context_leaves_out_what_the_image_does_not_install(path: str) -> None:
    assert not in_build_context(path)
