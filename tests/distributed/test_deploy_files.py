"""The Kubernetes deployment files under deploy/ (docs/deploy-kubernetes.md), checked without a
cluster, a chart download or a docker engine: every YAML parses; the Helm values use only keys
of the Dagster chart; the instance blocks validate against the classes they name; the example
home loads through datacrew's own loader into definitions; the files agree with each other."""

from __future__ import annotations

import importlib
import json
import re
import shutil
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
import yaml
from dagster_celery import celery_executor
from dagster_postgres import DagsterPostgresStorage

from datacrew_assets.definitions import build_definitions
from datacrew_resources.catalog.postgres import PostgresOptions
from datacrew_resources.catalog.s3_lake import S3Options
from datacrew_resources.catalog.store import CATALOG_URL_ENV, CatalogStore, catalog_location
from datacrew_resources.config import Home
from datacrew_resources.delegation.backend import PostgresBackend
from datacrew_resources.executors import celery_run_config
from datacrew_resources.instance import AGENT_TAG, instance_settings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"

# Keys of the Dagster Helm chart's values (its values.schema.json, helm/dagster in
# dagster-io/dagster) under the sections deploy/helm/values.yaml sets. A set lists the values
# a key accepts; FREE marks a Kubernetes object or a map the chart passes through as it is.
FREE = object()
_IMAGE = {"repository": FREE, "tag": FREE, "pullPolicy": {"Always", "IfNotPresent", "Never"}}
_POD = {key: FREE for key in (
    "env", "envConfigMaps", "envSecrets", "annotations", "nodeSelector", "affinity", "tolerations",
    "podSecurityContext", "securityContext", "resources", "livenessProbe", "readinessProbe", "startupProbe",
    "labels", "volumeMounts", "volumes", "schedulerName")}
_USER_DEPLOYMENT = {
    **_POD, "name": FREE, "image": _IMAGE, "dagsterApiGrpcArgs": FREE, "codeServerArgs": FREE,
    "includeConfigInLaunchedRuns": {"enabled": FREE}, "deploymentNamespace": FREE, "port": FREE,
    "initContainers": FREE, "sidecarContainers": FREE,
}
_K8S_RUN_LAUNCHER = {key: FREE for key in (
    "image", "imagePullPolicy", "jobNamespace", "loadInclusterConfig", "kubeconfigFile", "envConfigMaps",
    "envSecrets", "envVars", "volumeMounts", "volumes", "labels", "failPodOnRunFailure", "resources",
    "schedulerName", "securityContext", "runK8sConfig")}
_QUEUED_RUN_COORDINATOR = {
    "maxConcurrentRuns": FREE, "dequeueIntervalSeconds": FREE, "dequeueNumWorkers": FREE, "dequeueUseThreads": FREE,
    "blockOpConcurrencyLimitedRuns": {"enabled": FREE, "opConcurrencySlotBuffer": FREE},
    "tagConcurrencyLimits": [{"key": FREE, "value": FREE, "limit": FREE}],
}
CHART_VALUES: dict[str, Any] = {
    "global": {"postgresqlSecretName": FREE, "dagsterHome": FREE, "serviceAccountName": FREE,
               "celeryConfigSecretName": FREE},
    "postgresql": {"image": _IMAGE, "enabled": FREE, "postgresqlHost": FREE, "postgresqlUsername": FREE,
                   "postgresqlPassword": FREE, "postgresqlDatabase": FREE, "postgresqlParams": FREE,
                   "postgresqlScheme": FREE, "service": {"port": FREE}},
    "generatePostgresqlPasswordSecret": FREE,
    "dagster-user-deployments": {"enabled": FREE, "enableSubchart": FREE, "imagePullSecrets": FREE,
                                 "deployments": [_USER_DEPLOYMENT]},
    "runLauncher": {"type": {"K8sRunLauncher", "CeleryK8sRunLauncher", "CustomRunLauncher"},
                    "config": {"k8sRunLauncher": _K8S_RUN_LAUNCHER, "celeryK8sRunLauncher": FREE,
                               "customRunLauncher": FREE}},
    "dagsterDaemon": {
        **_POD, "enabled": FREE, "image": _IMAGE, "heartbeatTolerance": FREE, "deploymentLabels": FREE,
        "runMonitoring": FREE, "runRetries": FREE, "sensors": FREE, "schedules": FREE,
        "runCoordinator": {"enabled": FREE, "type": {"QueuedRunCoordinator", "CustomRunCoordinator"},
                           "config": {"queuedRunCoordinator": _QUEUED_RUN_COORDINATOR, "customRunCoordinator": FREE}},
    },
    "telemetry": {"enabled": FREE},
    **{section: FREE for section in (
        "dagsterWebserver", "generateCeleryConfigSecret", "rabbitmq", "redis", "flower", "ingress",
        "imagePullSecrets", "computeLogManager", "scheduler", "pythonLogs", "busybox", "migrate",
        "serviceAccount", "retention", "additionalInstanceConfig")},
}
# The instructions a Dockerfile may hold (Docker's reference).
DOCKERFILE_INSTRUCTIONS = {
    "FROM", "RUN", "CMD", "LABEL", "EXPOSE", "ENV", "ADD", "COPY", "ENTRYPOINT", "VOLUME", "USER", "WORKDIR",
    "ARG", "ONBUILD", "STOPSIGNAL", "HEALTHCHECK", "SHELL",
}


def _yaml(relative: str) -> Any:
    return yaml.safe_load((DEPLOY / relative).read_text())


def _manifests() -> dict[str, dict]:
    """deploy/celery-workers.yaml's documents by kind."""
    return {doc["kind"]: doc for doc in yaml.safe_load_all((DEPLOY / "celery-workers.yaml").read_text())}


def unknown_keys(values: Any, schema: Any, path: str = "") -> list[str]:
    """Where `values` leaves `schema` (see CHART_VALUES): one `path: problem` per place."""
    if schema is FREE:
        return []
    if isinstance(schema, set):
        return [] if values in schema else [f"{path}: {values!r} is not one of {sorted(schema)}"]
    if isinstance(schema, list):
        if not isinstance(values, list):
            return [f"{path}: expected a list"]
        return [p for i, item in enumerate(values) for p in unknown_keys(item, schema[0], f"{path}[{i}]")]
    if not isinstance(values, dict):
        return [f"{path}: expected a mapping"]
    problems = []
    for key, value in values.items():
        where = f"{path}.{key}" if path else key
        problems += unknown_keys(value, schema[key], where) if key in schema else [f"{where}: not a key of the chart"]
    return problems


def config_errors(schema: Any, value: Any) -> list[str]:
    """`value` checked against a Dagster config schema by Dagster's own run config validation."""
    @dg.op(config_schema=schema)
    def probe() -> None: ...

    @dg.job
    def check() -> None:
        probe()

    try:
        dg.validate_run_config(check, {"ops": {"probe": {"config": value}}})
    except dg.DagsterInvalidConfigError as e:
        return [error.message for error in e.errors]
    return []


def _tag_limits(limits: list[dict]) -> dict[str, int]:
    assert all(limit["key"] == AGENT_TAG for limit in limits)
    return {limit["value"]: limit["limit"] for limit in limits}


@pytest.fixture
def example_home(tmp_path, monkeypatch) -> Home:
    """deploy/datacrew.yaml and deploy/specs as the image lays them out."""
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster"))
    home = Home(tmp_path / "home")
    home.root.mkdir()
    shutil.copy(DEPLOY / "datacrew.yaml", home.config_path)
    shutil.copytree(DEPLOY / "specs", home.root / "specs")
    return home


def test_every_deploy_yaml_parses_to_mappings():
    files = sorted(DEPLOY.rglob("*.yaml"))
    assert {f.relative_to(DEPLOY).as_posix() for f in files} >= {
        "helm/values.yaml", "dagster.yaml", "datacrew.yaml", "celery-workers.yaml", "specs/carrier_delays.yaml"}
    for path in files:
        documents = list(yaml.safe_load_all(path.read_text()))
        assert documents and all(isinstance(d, dict) for d in documents), path


def test_the_helm_values_use_only_keys_of_the_dagster_chart():
    assert unknown_keys(_yaml("helm/values.yaml"), CHART_VALUES) == []


def test_the_key_check_catches_a_misspelt_or_misplaced_key():
    values = _yaml("helm/values.yaml")
    values["runLauncher"]["config"]["k8sRunLauncher"]["envSecret"] = []
    values["dagsterDaemon"]["runCoordinator"]["type"] = "QueueRunCoordinator"
    values["userDeployments"] = {}
    assert unknown_keys(values, CHART_VALUES) == [
        "runLauncher.config.k8sRunLauncher.envSecret: not a key of the chart",
        "dagsterDaemon.runCoordinator.type: 'QueueRunCoordinator' is not one of "
        "['CustomRunCoordinator', 'QueuedRunCoordinator']",
        "userDeployments: not a key of the chart",
    ]


def test_every_instance_block_validates_against_the_class_it_names(monkeypatch):
    monkeypatch.setenv("DAGSTER_PG_PASSWORD", "from-the-secret")  # Dagster resolves {env: ...} as it validates
    instance = _yaml("dagster.yaml")
    assert config_errors(DagsterPostgresStorage.config_type(), instance["storage"]["postgres"]) == []
    for section in ("run_launcher", "run_coordinator"):
        block = instance[section]
        named = getattr(importlib.import_module(block["module"]), block["class"])
        assert config_errors(named.config_type(), block["config"]) == [], section
    # The check refuses what Dagster would refuse when the instance loads.
    launcher = getattr(importlib.import_module(instance["run_launcher"]["module"]), instance["run_launcher"]["class"])
    assert config_errors(launcher.config_type(), {**instance["run_launcher"]["config"], "env_secret": ["x"]})


def test_the_chart_values_and_the_instance_describe_the_same_deployment():
    values, instance = _yaml("helm/values.yaml"), _yaml("dagster.yaml")
    chart_launcher = values["runLauncher"]["config"]["k8sRunLauncher"]
    launcher = instance["run_launcher"]["config"]
    assert values["runLauncher"]["type"] == instance["run_launcher"]["class"] == "K8sRunLauncher"
    assert [s["name"] for s in chart_launcher["envSecrets"]] == launcher["env_secrets"]
    assert chart_launcher["resources"] == launcher["resources"]
    assert (chart_launcher["imagePullPolicy"], chart_launcher["loadInclusterConfig"], chart_launcher["failPodOnRunFailure"]) \
        == (launcher["image_pull_policy"], launcher["load_incluster_config"], launcher["fail_pod_on_run_failure"])
    assert launcher["postgres_password_secret"] == values["global"]["postgresqlSecretName"]

    database = instance["storage"]["postgres"]["postgres_db"]
    chart_db = values["postgresql"]
    assert not chart_db["enabled"] and not values["generatePostgresqlPasswordSecret"]
    assert (chart_db["postgresqlHost"], chart_db["postgresqlUsername"], chart_db["postgresqlDatabase"], chart_db["service"]["port"]) \
        == (database["hostname"], database["username"], database["db_name"], database["port"])

    queued = values["dagsterDaemon"]["runCoordinator"]["config"]["queuedRunCoordinator"]
    coordinator = instance["run_coordinator"]["config"]
    assert queued["maxConcurrentRuns"] == coordinator["max_concurrent_runs"]
    assert _tag_limits(queued["tagConcurrencyLimits"]) == _tag_limits(coordinator["tag_concurrency_limits"])


def test_the_run_queue_is_the_one_datacrew_derives_from_the_example_home(example_home):
    config = example_home.load_config()
    derived = instance_settings(config, env={})["concurrency"]["runs"]
    coordinator = _yaml("dagster.yaml")["run_coordinator"]["config"]
    assert coordinator["max_concurrent_runs"] == derived["max_concurrent_runs"]
    assert coordinator["tag_concurrency_limits"] == derived["tag_concurrency_limits"]
    assert _tag_limits(coordinator["tag_concurrency_limits"]) == {a.id: a.capacity for a in config.agents}


def test_the_example_home_loads_into_definitions_on_celery(example_home, postgres_url, monkeypatch):
    config = example_home.load_config()
    sources = {s.name: s for s in config.sources}
    assert sources["lake"].uri.startswith("s3://") and sources["warehouse"].uri.startswith("postgresql://")
    S3Options.model_validate(sources["lake"].options)
    PostgresOptions.model_validate(sources["warehouse"].options)
    assert config.gate.control_plane_url.startswith("postgresql://")
    assert config.instance.catalog_url.startswith("postgresql")  # never SQLite on the shared volume
    # No secret in the file: passwords and keys come from the environment.
    for url in (sources["warehouse"].uri, config.gate.control_plane_url, config.instance.catalog_url):
        assert ":" not in url.split("//", 1)[1].split("@", 1)[0]
    assert config.executor.broker is None and config.executor.broker_env

    monkeypatch.delenv(CATALOG_URL_ENV, raising=False)
    assert catalog_location(example_home) == config.instance.catalog_url  # not state/catalog.sqlite
    # This machine's PostgreSQL stands in for the cluster's, by the override.
    monkeypatch.setenv(CATALOG_URL_ENV, postgres_url)
    assert isinstance(CatalogStore.for_home(example_home).backend, PostgresBackend)
    defs = build_definitions(example_home)
    job = defs.resolve_job_def("materialize_transformations")
    assert job.executor_def.name == "celery"
    assert dg.AssetKey(["transformed", "carrier_delays"]) in {key for a in defs.assets for key in a.keys}


def test_the_celery_workers_listen_where_the_example_home_sends_its_steps(example_home, monkeypatch):
    executor = example_home.load_config().executor
    manifests = _manifests()
    worker_yaml = yaml.safe_load(manifests["ConfigMap"]["data"]["worker.yaml"])
    assert worker_yaml["execution"]["config"] == celery_run_config(executor)
    monkeypatch.setenv(executor.broker_env, "amqp://datacrew@rabbitmq:5672//")
    assert config_errors(celery_executor.config_schema.config_type, worker_yaml["execution"]["config"]) == []

    [container] = manifests["Deployment"]["spec"]["template"]["spec"]["containers"]
    command = container["command"]
    assert command[:3] == ["dagster-celery", "worker", "start"]
    assert command[command.index("-q") + 1] == executor.queue
    deployment = _yaml("helm/values.yaml")["dagster-user-deployments"]["deployments"][0]
    assert container["image"] == f"{deployment['image']['repository']}:{deployment['image']['tag']}"
    # Workers see the same home volume as the code location and its run pods.
    assert container["volumeMounts"][-3:] == deployment["volumeMounts"]


def _instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) per logical line: continuations joined, comments dropped."""
    joined = re.sub(r"\\\n", " ", "\n".join(l for l in text.splitlines() if not l.lstrip().startswith("#")))
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in joined.splitlines() if line.strip()]


def test_the_dockerfile_is_well_formed_and_matches_the_chart():
    instructions = _instructions((DEPLOY / "Dockerfile").read_text())
    names = [name for name, _ in instructions]
    assert set(names) <= DOCKERFILE_INSTRUCTIONS
    assert next(n for n in names if n != "ARG") == "FROM"
    for name, arguments in instructions:
        if name == "COPY" and not arguments.startswith("--from"):
            *sources, _ = arguments.split()
            assert all((ROOT / s).exists() for s in sources), arguments

    env = {}
    for name, arguments in instructions:
        if name == "ENV":
            env.update(pair.split("=", 1) for pair in arguments.split())
    args = dict(a.split("=", 1) for n, a in instructions if n == "ARG")
    makefile_uv = re.search(r"^UV_VERSION := (\S+)$", (ROOT / "Makefile").read_text(), re.M).group(1)
    assert args["UV_VERSION"] == makefile_uv

    deployment = _yaml("helm/values.yaml")["dagster-user-deployments"]["deployments"][0]
    assert {"name": "DATACREW_HOME", "value": env["DATACREW_HOME"]} in deployment["env"]
    assert all(m["mountPath"].startswith(env["DATACREW_HOME"] + "/") for m in deployment["volumeMounts"])
    [cmd] = [json.loads(a) for n, a in instructions if n == "CMD"]
    assert cmd[cmd.index("-m"):] == deployment["codeServerArgs"]
    assert f"EXPOSE {deployment['port']}" in [f"{n} {a}" for n, a in instructions]


def test_the_guide_installs_the_chart_of_the_locked_dagster_version():
    locked = re.search(r'name = "dagster"\nversion = "([^"]+)"', (ROOT / "uv.lock").read_text()).group(1)
    guide = (ROOT / "docs" / "deploy-kubernetes.md").read_text()
    assert re.findall(r"dagster/dagster --version (\S+)", guide) == [locked]
