"""The Helm chart in helm/orchestrator, linted and rendered by Helm's own engine (helm-python-sdk).

Rendering is offline: no cluster. Each test states one thing an operator relies on.
"""

from __future__ import annotations

import base64
import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import helm_python as helm
import pytest
import yaml
from cryptography.fernet import Fernet

from orchestrator.core.config import Config
from orchestrator.execution.dask_executor import SATURATION_ENV

REPO_ROOT = Path(__file__).resolve().parents[3]
CHART = REPO_ROOT / "helm" / "orchestrator"
EXAMPLES = sorted((CHART / "examples").glob("values-*.yaml"))
PG_URL = "postgresql+psycopg://orchestrator:s3cret@postgres.db.svc:5432/orchestrator"
POSTGRES: dict[str, Any] = {"database": {"type": "postgresql", "url": PG_URL}}
GIT_SYNC: dict[str, Any] = {"dags": {"gitSync": {"enabled": True, "repo": "https://git.example.com/dags.git", "subPath": "dags"}}}
DAG_CLAIM: dict[str, Any] = {"dags": {"persistence": {"enabled": True}}}
WORKLOAD_KINDS = {"Deployment", "Job"}


@pytest.fixture(scope="module")
def chart() -> Iterator[helm.Chart]:
    with helm.Chart.load(str(CHART)) as loaded:
        yield loaded


def merged(*parts: dict[str, Any]) -> dict[str, Any]:
    """Values layered like several `-f` files: later ones win, maps merge."""
    out: dict[str, Any] = {}
    for part in parts:
        for key, value in part.items():
            out[key] = merged(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def render(chart: helm.Chart, *values: dict[str, Any], name: str = "rel") -> list[dict[str, Any]]:
    """The manifests `helm template` would print, parsed (NOTES.txt left out)."""
    files = chart.render(merged(*values), name=name, namespace="ns", is_install=True)
    return [
        doc
        for path, text in sorted(files.items())
        if path.endswith(".yaml")
        for doc in yaml.safe_load_all(text)
        if doc
    ]


def one(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    found = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind} {name}: {len(found)} found among {[(d['kind'], d['metadata']['name']) for d in docs]}"
    return found[0]


def pod_spec(workload: dict[str, Any]) -> dict[str, Any]:
    return workload["spec"]["template"]["spec"]


def container(workload: dict[str, Any], name: str) -> dict[str, Any]:
    spec = pod_spec(workload)
    found = [c for c in spec["containers"] + spec.get("initContainers", []) if c["name"] == name]
    assert len(found) == 1, f"container {name} of {workload['metadata']['name']}"
    return found[0]


def config_map_data(docs: list[dict[str, Any]]) -> dict[str, str]:
    return one(docs, "ConfigMap", "rel-orchestrator")["data"]


def secret_data(docs: list[dict[str, Any]]) -> dict[str, str]:
    return {k: base64.b64decode(v).decode() for k, v in one(docs, "Secret", "rel-orchestrator")["data"].items()}


def errors_of(report: dict[str, Any]) -> list[str]:
    """Lint findings of severity warning (2) or error (3)."""
    return [f"{m['path']}: {m['error']}" for m in report["messages"] if m["severity"] >= 2]


# -- lint and validity -----------------------------------------------------------------------------
def test_lint_finds_nothing_with_the_default_values() -> None:
    assert errors_of(helm.lint(str(CHART), strict=True)) == []


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_lint_finds_nothing_with_each_example_values_file(example: Path) -> None:
    assert errors_of(helm.lint(str(CHART), yaml.safe_load(example.read_text()), strict=True)) == []


@pytest.mark.parametrize(
    "values",
    [{}, POSTGRES, merged(POSTGRES, GIT_SYNC, {"dask": {"worker": {"autoscaling": {"enabled": True}}}, "webui": {"ingress": {"enabled": True}}})],
    ids=["defaults", "postgresql", "everything-on"],
)
def test_every_rendered_manifest_is_a_kubernetes_object_of_the_release(chart: helm.Chart, values: dict[str, Any]) -> None:
    for doc in render(chart, values):
        assert isinstance(doc.get("apiVersion"), str) and isinstance(doc.get("kind"), str), doc
        assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", doc["metadata"]["name"]) and len(doc["metadata"]["name"]) <= 63
        assert doc["metadata"]["labels"]["app.kubernetes.io/instance"] == "rel"


def test_schema_refuses_an_unknown_value(chart: helm.Chart) -> None:
    with pytest.raises(helm.HelmValuesError, match="replica"):
        chart.validate_schema({"scheduler": {"replica": 2}})


# -- several schedulers only on PostgreSQL -----------------------------------------------------------
def test_schema_refuses_several_schedulers_on_sqlite(chart: helm.Chart) -> None:
    with pytest.raises(helm.HelmValuesError, match="/scheduler/replicas"):
        chart.validate_schema({"scheduler": {"replicas": 2}})


def test_templates_refuse_several_schedulers_on_sqlite_without_the_schema(tmp_path: Path) -> None:
    # `helm install --skip-schema-validation`: the chart without its schema (lint mode ignores `fail`, so render)
    shutil.copytree(CHART, tmp_path / "orchestrator", ignore=shutil.ignore_patterns("values.schema.json"))
    with helm.Chart.load(str(tmp_path / "orchestrator")) as schemaless:
        with pytest.raises(helm.HelmRenderError, match="SQLite allows only one scheduler"):
            schemaless.render({"scheduler": {"replicas": 2}}, name="rel")


def test_several_schedulers_roll_one_at_a_time_on_postgresql(chart: helm.Chart) -> None:
    scheduler = one(render(chart, POSTGRES, {"scheduler": {"replicas": 3}}), "Deployment", "rel-orchestrator-scheduler")
    assert scheduler["spec"]["replicas"] == 3
    assert scheduler["spec"]["strategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}


def test_the_sqlite_scheduler_is_replaced_not_doubled_on_updates(chart: helm.Chart) -> None:
    scheduler = one(render(chart), "Deployment", "rel-orchestrator-scheduler")
    assert scheduler["spec"]["strategy"] == {"type": "Recreate"}


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"database": {"type": "postgresql"}}, "set database.url"),
        ({"database": {"url": PG_URL}}, "database.type is sqlite"),
        (merged(GIT_SYNC, DAG_CLAIM), "choose one source of DAGs"),
        ({"dags": {"gitSync": {"enabled": True}}}, "dags.gitSync.repo is empty"),
        ({"config": {"database_url": PG_URL}}, "config.database_url is set by the chart"),
    ],
    ids=["postgresql-without-url", "url-on-sqlite", "two-dag-sources", "git-sync-without-repo", "config-overrides-chart"],
)
def test_values_that_cannot_work_are_refused_with_what_to_change(chart: helm.Chart, values: dict[str, Any], message: str) -> None:
    with pytest.raises(helm.HelmRenderError, match=re.escape(message)):
        render(chart, values)


# -- migrations -----------------------------------------------------------------------------------------
def test_the_migration_job_runs_db_upgrade_before_installs_and_upgrades(chart: helm.Chart) -> None:
    job = one(render(chart, POSTGRES), "Job", "rel-orchestrator-migrations")
    assert set(job["metadata"]["annotations"]["helm.sh/hook"].split(",")) == {"pre-install", "pre-upgrade"}
    assert container(job, "migrations")["args"] == ["db", "upgrade"]


def test_what_the_migration_job_reads_is_created_before_it(chart: helm.Chart) -> None:
    docs = render(chart, POSTGRES)
    job = one(docs, "Job", "rel-orchestrator-migrations")
    for needed in (one(docs, "ConfigMap", "rel-orchestrator"), one(docs, "Secret", "rel-orchestrator")):
        hooks = needed["metadata"]["annotations"]
        assert set(hooks["helm.sh/hook"].split(",")) >= {"pre-install", "pre-upgrade"}
        assert int(hooks["helm.sh/hook-weight"]) < int(job["metadata"]["annotations"]["helm.sh/hook-weight"])


def test_the_migration_job_names_no_service_account_the_release_creates_after_it(chart: helm.Chart) -> None:
    job = one(render(chart, POSTGRES), "Job", "rel-orchestrator-migrations")
    assert "serviceAccountName" not in pod_spec(job)


def test_sqlite_migrates_in_the_schedulers_init_container(chart: helm.Chart) -> None:
    docs = render(chart)
    assert not [d for d in docs if d["kind"] == "Job"]
    scheduler = one(docs, "Deployment", "rel-orchestrator-scheduler")
    init = container(scheduler, "migrations")
    assert init["args"] == ["db", "upgrade"]
    assert {m["name"] for m in init["volumeMounts"]} >= {"home"}


# -- configuration and secrets ----------------------------------------------------------------------
def test_the_configmap_is_a_valid_orchestrator_configuration(chart: helm.Chart, monkeypatch: pytest.MonkeyPatch) -> None:
    data = config_map_data(render(chart, POSTGRES, {"config": {"dag_dir_scan_interval_s": 10, "circuit_exempt_step_types": ["python", "shell"]}}))
    for key, value in data.items():
        monkeypatch.setenv(key, value)
    config = Config()
    assert config.webui_host == "0.0.0.0"
    assert config.dask_address == "tcp://rel-orchestrator-dask-scheduler:8786"
    assert config.dag_dir_scan_interval_s == 10
    assert config.circuit_exempt_step_types == ["python", "shell"]


def test_the_database_url_is_only_in_the_secret(chart: helm.Chart) -> None:
    docs = render(chart, POSTGRES)
    assert secret_data(docs)["database-url"] == PG_URL
    assert [d["kind"] for d in docs if "s3cret" in json.dumps(d)] == []
    env = {e["name"]: e for e in container(one(docs, "Deployment", "rel-orchestrator-scheduler"), "scheduler")["env"]}
    assert env["ORCH_DATABASE_URL"]["valueFrom"]["secretKeyRef"] == {"name": "rel-orchestrator", "key": "database-url"}


def test_generated_keys_are_usable(chart: helm.Chart) -> None:
    data = secret_data(render(chart))
    Fernet(data["fernet-key"].encode())  # raises if it is not a Fernet key
    assert len(data["secret-key"]) >= 32


def test_given_keys_are_kept_as_given(chart: helm.Chart) -> None:
    key = Fernet.generate_key().decode()
    data = secret_data(render(chart, {"secrets": {"fernetKey": key, "secretKey": "sign-with-this"}}))
    assert (data["fernet-key"], data["secret-key"]) == (key, "sign-with-this")


def test_the_secret_outlives_the_release(chart: helm.Chart) -> None:
    secret = one(render(chart), "Secret", "rel-orchestrator")
    assert secret["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"


def test_an_existing_secret_replaces_the_charts_own(chart: helm.Chart) -> None:
    docs = render(chart, {"database": {"type": "postgresql"}, "secrets": {"existingSecret": "my-keys"}})
    assert not [d for d in docs if d["kind"] == "Secret"]
    for name in ("rel-orchestrator-scheduler", "rel-orchestrator-webui"):
        deployment = one(docs, "Deployment", name)
        refs = {e["valueFrom"]["secretKeyRef"]["name"] for c in pod_spec(deployment)["containers"] for e in c.get("env", []) if "valueFrom" in e and "secretKeyRef" in e["valueFrom"]}
        assert refs == {"my-keys"}


def test_a_changed_setting_rolls_the_pods(chart: helm.Chart) -> None:
    def checksum(values: dict[str, Any]) -> str:
        scheduler = one(render(chart, values), "Deployment", "rel-orchestrator-scheduler")
        return scheduler["spec"]["template"]["metadata"]["annotations"]["checksum/config"]

    assert checksum({}) != checksum({"config": {"dag_dir_scan_interval_s": 10}})


# -- DAGs ---------------------------------------------------------------------------------------------
def test_git_sync_clones_before_and_pulls_beside_the_scheduler_and_the_workers(chart: helm.Chart) -> None:
    docs = render(chart, GIT_SYNC)
    assert config_map_data(docs)["ORCH_DAGS_FOLDER"] == "/opt/orchestrator/dags/repo/dags"
    for name in ("rel-orchestrator-scheduler", "rel-orchestrator-dask-worker"):
        spec = pod_spec(one(docs, "Deployment", name))
        assert [c["name"] for c in spec["initContainers"]][-1] == "git-sync-init"
        assert "git-sync" in [c["name"] for c in spec["containers"]]
        one_time = {c["name"]: {e["name"]: e["value"] for e in c["env"]}["GITSYNC_ONE_TIME"] for c in spec["initContainers"] + spec["containers"] if c["name"].startswith("git-sync")}
        assert one_time == {"git-sync-init": "true", "git-sync": "false"}


@pytest.mark.parametrize("values", [GIT_SYNC, DAG_CLAIM], ids=["git-sync", "claim"])
def test_scheduler_and_workers_see_the_dags_at_the_same_path_read_only(chart: helm.Chart, values: dict[str, Any]) -> None:
    docs = render(chart, values)
    mounts = [
        m
        for name, main in (("rel-orchestrator-scheduler", "scheduler"), ("rel-orchestrator-dask-worker", "dask-worker"))
        for m in container(one(docs, "Deployment", name), main)["volumeMounts"]
        if m["name"] == "dags"
    ]
    assert [(m["mountPath"], m["readOnly"]) for m in mounts] == [("/opt/orchestrator/dags", True)] * 2


def test_the_dag_claim_is_made_unless_one_is_named(chart: helm.Chart) -> None:
    made = render(chart, DAG_CLAIM)
    assert one(made, "PersistentVolumeClaim", "rel-orchestrator-dags")["spec"]["accessModes"] == ["ReadWriteMany"]
    named = render(chart, {"dags": {"persistence": {"enabled": True, "existingClaim": "team-dags"}}})
    claims = [v["persistentVolumeClaim"]["claimName"] for v in pod_spec(one(named, "Deployment", "rel-orchestrator-scheduler"))["volumes"] if v["name"] == "dags"]
    assert claims == ["team-dags"]
    assert "rel-orchestrator-dags" not in [d["metadata"]["name"] for d in named]


# -- web UI -------------------------------------------------------------------------------------------
def test_the_ingress_is_off_unless_enabled(chart: helm.Chart) -> None:
    assert not [d for d in render(chart) if d["kind"] == "Ingress"]


def test_the_ingress_routes_its_hosts_to_the_web_ui_service(chart: helm.Chart) -> None:
    docs = render(chart, {"webui": {"ingress": {"enabled": True, "className": "nginx"}}})
    ingress = one(docs, "Ingress", "rel-orchestrator-webui")
    service = one(docs, "Service", "rel-orchestrator-webui")
    assert ingress["spec"]["ingressClassName"] == "nginx"
    backend = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert backend == {"name": service["metadata"]["name"], "port": {"name": "http"}}
    assert [p["name"] for p in service["spec"]["ports"]] == ["http"]


def test_web_ui_probes_read_api_health(chart: helm.Chart) -> None:
    webui = container(one(render(chart), "Deployment", "rel-orchestrator-webui"), "webui")
    assert webui["livenessProbe"]["exec"]["command"] == ["python", "/opt/orchestrator/probes/webui_health.py", "live"]
    assert webui["readinessProbe"]["exec"]["command"] == ["python", "/opt/orchestrator/probes/webui_health.py", "ready"]
    assert "/api/v1/health" in (CHART / "files" / "probes" / "webui_health.py").read_text()


def test_the_web_ui_follows_the_sqlite_volume_to_the_schedulers_node(chart: helm.Chart) -> None:
    webui = one(render(chart), "Deployment", "rel-orchestrator-webui")
    term = pod_spec(webui)["affinity"]["podAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][0]
    assert term["labelSelector"]["matchLabels"]["app.kubernetes.io/component"] == "scheduler"
    assert "affinity" not in pod_spec(one(render(chart, POSTGRES), "Deployment", "rel-orchestrator-webui"))


# -- scheduler probes -------------------------------------------------------------------------------
def test_scheduler_probes_ask_for_this_pods_heartbeat(chart: helm.Chart) -> None:
    scheduler = container(one(render(chart), "Deployment", "rel-orchestrator-scheduler"), "scheduler")
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert scheduler[probe]["exec"]["command"] == ["python", "/opt/orchestrator/probes/scheduler_alive.py"]


def test_the_probe_scripts_are_mounted_from_the_chart_files(chart: helm.Chart) -> None:
    docs = render(chart)
    probes = one(docs, "ConfigMap", "rel-orchestrator-probes")["data"]
    assert probes == {p.name: p.read_text() for p in (CHART / "files" / "probes").glob("*.py")}
    for name in ("rel-orchestrator-scheduler", "rel-orchestrator-webui"):
        volumes = {v["name"]: v for v in pod_spec(one(docs, "Deployment", name))["volumes"]}
        assert volumes["probes"]["configMap"]["name"] == "rel-orchestrator-probes"


# -- Dask ---------------------------------------------------------------------------------------------
def test_orch_dask_address_is_the_dask_scheduler_service(chart: helm.Chart) -> None:
    docs = render(chart)
    service = one(docs, "Service", "rel-orchestrator-dask-scheduler")
    comm = next(p["port"] for p in service["spec"]["ports"] if p["name"] == "tcp-comm")
    assert config_map_data(docs)["ORCH_DASK_ADDRESS"] == f"tcp://{service['metadata']['name']}:{comm}"
    worker = container(one(docs, "Deployment", "rel-orchestrator-dask-worker"), "dask-worker")
    assert worker["args"][:2] == ["worker", f"tcp://{service['metadata']['name']}:{comm}"]


def test_the_dask_scheduler_sends_every_task_to_a_worker_so_priorities_hold(chart: helm.Chart) -> None:
    scheduler = container(one(render(chart), "Deployment", "rel-orchestrator-dask-scheduler"), "dask-scheduler")
    assert {e["name"]: e["value"] for e in scheduler["env"]}[SATURATION_ENV] == "inf"


def test_without_dask_each_scheduler_runs_a_local_cluster(chart: helm.Chart) -> None:
    docs = render(chart, {"dask": {"enabled": False, "localClusterWorkers": 4}})
    assert not [d for d in docs if "dask" in d["metadata"]["name"]]
    data = config_map_data(docs)
    assert data["ORCH_DASK_WORKERS"] == "4" and "ORCH_DASK_ADDRESS" not in data


def test_worker_autoscaling_replaces_the_fixed_replica_count(chart: helm.Chart) -> None:
    docs = render(chart, {"dask": {"worker": {"autoscaling": {"enabled": True, "minReplicas": 3, "maxReplicas": 12}}}})
    hpa = one(docs, "HorizontalPodAutoscaler", "rel-orchestrator-dask-worker")
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "rel-orchestrator-dask-worker"}
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (3, 12)
    assert "replicas" not in one(docs, "Deployment", "rel-orchestrator-dask-worker")["spec"]


def test_worker_resources_are_set_on_the_worker_container(chart: helm.Chart) -> None:
    resources = {"requests": {"cpu": "1", "memory": "2Gi"}, "limits": {"memory": "2Gi"}}
    worker = one(render(chart, {"dask": {"worker": {"replicas": 5, "resources": resources}}}), "Deployment", "rel-orchestrator-dask-worker")
    assert worker["spec"]["replicas"] == 5
    assert container(worker, "dask-worker")["resources"] == resources


# -- every workload --------------------------------------------------------------------------------
def test_every_pod_runs_as_the_images_non_root_user_without_privileges(chart: helm.Chart) -> None:
    user = re.search(r"^USER (\d+):(\d+)$", (REPO_ROOT / "Dockerfile").read_text(), re.MULTILINE)
    assert user is not None
    workloads = [d for d in render(chart, POSTGRES, GIT_SYNC) if d["kind"] in WORKLOAD_KINDS]
    assert {w["metadata"]["name"] for w in workloads} >= {
        "rel-orchestrator-scheduler", "rel-orchestrator-webui", "rel-orchestrator-dask-scheduler",
        "rel-orchestrator-dask-worker", "rel-orchestrator-migrations",
    }
    for workload in workloads:
        spec = pod_spec(workload)
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert (spec["securityContext"]["runAsUser"], spec["securityContext"]["runAsGroup"]) == (int(user[1]), int(user[2]))
        for c in spec["containers"] + spec.get("initContainers", []):
            assert c["securityContext"]["allowPrivilegeEscalation"] is False, c["name"]
            assert c["securityContext"]["capabilities"]["drop"] == ["ALL"], c["name"]


def test_orchestrator_and_dask_containers_have_a_read_only_root_filesystem(chart: helm.Chart) -> None:
    image = "orchestrator:0.1.0"
    containers = [
        c
        for d in render(chart, POSTGRES)
        if d["kind"] in WORKLOAD_KINDS
        for c in pod_spec(d)["containers"] + pod_spec(d).get("initContainers", [])
        if c["image"] == image
    ]
    assert len(containers) >= 5
    assert all(c["securityContext"]["readOnlyRootFilesystem"] for c in containers)


def test_disruption_budgets_cover_schedulers_web_ui_and_workers(chart: helm.Chart) -> None:
    docs = render(chart)
    for name in ("rel-orchestrator-scheduler", "rel-orchestrator-webui", "rel-orchestrator-dask-worker"):
        pdb = one(docs, "PodDisruptionBudget", name)
        pod_labels = one(docs, "Deployment", name)["spec"]["template"]["metadata"]["labels"]
        assert pdb["spec"]["maxUnavailable"] == 1
        assert pdb["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()


def test_services_select_the_pods_of_their_deployment(chart: helm.Chart) -> None:
    docs = render(chart)
    for name in ("rel-orchestrator-webui", "rel-orchestrator-dask-scheduler"):
        selector = one(docs, "Service", name)["spec"]["selector"]
        assert selector.items() <= one(docs, "Deployment", name)["spec"]["template"]["metadata"]["labels"].items()
        others = [d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] != name]
        assert not [d for d in others if selector.items() <= d["spec"]["template"]["metadata"]["labels"].items()]


# -- the templates against values.yaml, and the docs against the chart -----------------------------------
def _values_paths(node: Any, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    yield prefix
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _values_paths(value, (*prefix, key))


def test_every_values_path_used_in_a_template_exists_in_values_yaml() -> None:
    known = set(_values_paths(yaml.safe_load((CHART / "values.yaml").read_text())))
    used = {
        (template.name, tuple(match.split(".")))
        for template in (CHART / "templates").iterdir()
        for match in re.findall(r"\.Values\.([A-Za-z0-9_.]+)", template.read_text())
    }
    assert used, "no .Values reference found"
    assert sorted((name, ".".join(path)) for name, path in used if path not in known) == []


def _get(node: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        node = node[key]
    return node


def documented_values() -> dict[str, str]:
    """values.yaml's `# --` comments: {dotted path: description}."""
    documented: dict[str, str] = {}
    stack: list[tuple[int, str]] = []
    pending: str | None = None
    for line in (CHART / "values.yaml").read_text().splitlines():
        if comment := re.match(r"^\s*# -- (.*)$", line):
            pending = comment[1]
            continue
        if key := re.match(r"^(\s*)([A-Za-z0-9_]+):", line):
            indent = len(key[1])
            stack = [(i, k) for i, k in stack if i < indent]
            stack.append((indent, key[2]))
            if pending:
                documented[".".join(k for _, k in stack)] = pending
        pending = None
    return documented


def test_every_value_is_documented_in_values_yaml() -> None:
    documented = {tuple(p.split(".")) for p in documented_values()}
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    leaves = [p for p in _values_paths(values) if p and not (isinstance(_get(values, p), dict) and _get(values, p))]
    undocumented = [".".join(p) for p in leaves if not any(p[: len(d)] == d for d in documented)]
    assert undocumented == []


def test_the_readme_table_lists_every_documented_value_with_its_default() -> None:
    readme = (CHART / "README.md").read_text()
    rows = dict(re.findall(r"^\| `([A-Za-z0-9_.]+)` \| `(.*?)` \|", readme, re.MULTILINE))
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    expected = {path: json.dumps(_get(values, tuple(path.split(".")))) for path in documented_values()}
    assert rows == expected


def test_every_documented_value_is_in_the_schema() -> None:
    schema = json.loads((CHART / "values.schema.json").read_text())
    missing = []
    for path in documented_values():
        node = schema
        for key in path.split("."):
            node = node.get("properties", {}).get(key)
            if node is None:
                missing.append(path)
                break
    assert missing == []


def test_the_readme_example_is_what_the_chart_renders(chart: helm.Chart) -> None:
    readme = (CHART / "README.md").read_text()
    blocks = re.findall(r"<!-- rendered: (\S+) with (\S+) as (\S+) -->\n```yaml\n(.*?)```", readme, re.DOTALL)
    assert blocks, "README.md has no rendered example"
    for template, values_file, release, text in blocks:
        shown = yaml.safe_load(text)
        assert {"apiVersion", "kind", "metadata"} <= shown.keys()
        files = chart.render(yaml.safe_load((CHART / values_file).read_text()), name=release, namespace="orchestrator", is_install=True)
        rendered = yaml.safe_load(files[f"orchestrator/{template}"])
        for doc in (shown, rendered):  # checksums change with every template edit
            annotations = doc["spec"]["template"]["metadata"].get("annotations", {})
            for key in [k for k in annotations if k.startswith("checksum/")]:
                annotations[key] = "..."
        assert shown == rendered, f"re-render {template} with {values_file} into README.md"


def test_the_notes_say_how_to_reach_the_web_ui_and_make_the_first_user(chart: helm.Chart) -> None:
    notes = chart.render({}, name="rel", namespace="ns")["orchestrator/templates/NOTES.txt"]
    assert "port-forward service/rel-orchestrator-webui 8080:8080" in notes
    assert "exec -it deployment/rel-orchestrator-webui -- orchestrator users create --username admin --role admin" in notes
    with_ingress = chart.render({"webui": {"ingress": {"enabled": True}}}, name="rel")["orchestrator/templates/NOTES.txt"]
    assert "http://orchestrator.example.com/" in with_ingress
