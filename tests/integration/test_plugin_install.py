"""Plugins end to end, as users add them: a package installed by entry point into a fresh virtual
environment, and the example plugin in the repository's plugins/ folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import textwrap
from pathlib import Path

import pytest

from .harness import REPO_ROOT

CLI = "import sys; from orchestrator.cli.main import main; sys.argv[0] = 'orchestrator'; main()"

PACKAGE = {
    "pyproject.toml": """
        [build-system]
        requires = ["setuptools>=61"]
        build-backend = "setuptools.build_meta"

        [project]
        name = "orch-echo-plugin"
        version = "1.0"

        [project.entry-points."orchestrator.plugins"]
        echo = "orch_echo_plugin"
    """,
    "orch_echo_plugin.py": """
        from orchestrator import BaseTask
        from orchestrator.plugins.hookspecs import hookimpl

        class EchoTask(BaseTask):
            step_type = "echo"

            def __init__(self, *, task_id, text, **kwargs):
                super().__init__(task_id=task_id, **kwargs)
                self.text = text

            def execute(self, context, upstream_results):
                print("echo:", self.text)
                return {"echo": self.text}

        @hookimpl
        def orchestrator_step_types():
            return [EchoTask]
    """,
}
ECHO_DAG = """
    from orchestrator import DAG, get_step_type

    Echo = get_step_type("echo")

    with DAG("echo_dag") as dag:
        Echo(task_id="say", text="hello from a plugin")
"""


def write(folder: Path, files: dict[str, str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(textwrap.dedent(text).lstrip())


def fresh_venv(path: Path) -> Path:
    """A new virtual environment that sees this project's environment (through a .pth file), not
    its own copy, and has no pip of its own (this environment's pip installs into it): creating
    it and installing one small package stays fast and offline."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(path)], check=True, capture_output=True, timeout=300)
    python = path / "bin" / "python"
    site_dir = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], check=True, capture_output=True, text=True
    ).stdout.strip()
    ours = sysconfig.get_paths()["purelib"]
    Path(site_dir, "zz_orchestrator_env.pth").write_text(f"import site; site.addsitedir({ours!r})\n")
    return python


def env_for(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ORCH_", "PYTHONPATH", "VIRTUAL_ENV"))}
    env.update({"ORCH_HOME": str(home), "ORCH_DAGS_FOLDER": str(home / "dags"), **extra})
    return env


def orch(python: Path, args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(python), "-c", CLI, *args], env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_a_pip_installed_plugin_package_provides_a_step_type_a_dag_runs(tmp_path: Path) -> None:
    write(tmp_path / "pkg", PACKAGE)
    python = fresh_venv(tmp_path / "venv")
    install = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-build-isolation", "--no-deps", "--no-index",
         str(tmp_path / "pkg")],
        capture_output=True, text=True, timeout=300,
    )
    assert install.returncode == 0, install.stdout + install.stderr
    home = tmp_path / "home"
    write(home / "dags", {"echo_dag.py": ECHO_DAG})
    env = env_for(home)
    assert orch(python, ["db", "upgrade"], env).returncode == 0

    listed = orch(python, ["plugins", "list", "--json"], env)
    assert listed.returncode == 0, listed.stdout + listed.stderr
    echo = next(p for p in json.loads(listed.stdout)["plugins"] if p["name"] == "echo")
    assert (echo["source"], echo["location"], echo["hooks"]) == ("entry point", "orch_echo_plugin (orch-echo-plugin)", ["orchestrator_step_types"])

    ran = orch(python, ["dags", "test", "echo_dag"], env)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "say" in ran.stdout and "success" in ran.stdout
    # the project's own environment does not have the plugin: the step type came from the install
    assert "echo" not in json.loads(orch(Path(sys.executable), ["plugins", "list", "--json"], env).stdout)["step_types"]


@pytest.mark.slow
def test_the_example_plugin_in_the_plugins_folder_runs_its_step_type_and_hears_the_run(tmp_path: Path) -> None:
    env = env_for(tmp_path, ORCH_DAGS_FOLDER=str(REPO_ROOT / "dags"), ORCH_PLUGINS_FOLDER=str(REPO_ROOT / "plugins"))
    python = Path(sys.executable)
    assert orch(python, ["db", "upgrade"], env).returncode == 0
    listed = json.loads(orch(python, ["plugins", "list", "--json"], env).stdout)
    example = next(p for p in listed["plugins"] if p["name"] == "example_plugin")
    assert example["source"] == "plugins folder" and example["error"] is None
    assert listed["step_types"]["greet"].endswith(".GreetTask")
    ran = orch(python, ["dags", "test", "plugin_example"], env)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert [line.split()[:2] for line in ran.stdout.splitlines()[:2]] == [["greet", "success"], ["echo", "success"]]


def test_dags_given_with_the_dags_option_find_the_plugins_folder_beside_them(tmp_path: Path) -> None:
    # as the README's one-command start does: no ORCH_DAGS_FOLDER, only --dags
    env = env_for(tmp_path)
    python = Path(sys.executable)
    assert orch(python, ["db", "upgrade"], env).returncode == 0
    ran = orch(python, ["dags", "test", "plugin_example", "--dags", str(REPO_ROOT / "dags")], env)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert ran.stdout.splitlines()[0].split()[:2] == ["greet", "success"]
