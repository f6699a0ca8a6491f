"""`executor:` in datacrew.yaml picks the executor of every job of the home; bad settings are one line."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest
import yaml

from datacrew_assets.definitions import build_definitions
from datacrew_resources.config import ConfigErrors, Home
from datacrew_resources.config.executor import ExecutorConfig
from datacrew_resources.executors import celery_run_config


def _home(tmp_path, monkeypatch, executor: dict | None) -> Home:
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster"))
    home = Home(tmp_path)
    home.config_path.write_text(yaml.safe_dump({"executor": executor} if executor else {}))
    return home


def _executors(home: Home) -> dict[str, str]:
    return {job.name: job.executor_def.name for job in build_definitions(home).resolve_all_job_defs()}


@pytest.mark.parametrize(("executor", "name"), [
    (None, dg.multi_or_in_process_executor.name),  # unset: Dagster's default, as before
    ({"kind": "multiprocess"}, dg.multi_or_in_process_executor.name),
    ({"kind": "in_process"}, dg.in_process_executor.name),
    ({"kind": "celery", "broker_env": "DATACREW_BROKER_URL"}, "celery"),
    ({"kind": "k8s"}, "k8s"),
])
def test_every_job_of_the_home_gets_the_configured_executor(tmp_path, monkeypatch, executor, name):
    executors = _executors(_home(tmp_path, monkeypatch, executor))
    assert {"materialize_transformations", "discover_sources"} <= set(executors)
    assert set(executors.values()) == {name}


def test_the_celery_block_reads_a_secret_broker_from_the_environment(tmp_path, monkeypatch):
    home = _home(tmp_path, monkeypatch, {"kind": "celery", "broker_env": "DATACREW_BROKER_URL", "queue": "crew"})
    assert celery_run_config(home.load_config().executor) == {
        "broker": {"env": "DATACREW_BROKER_URL"},  # resolved by Dagster where the run executes
        "backend": "rpc://",
        "config_source": {"task_default_queue": "crew"},
    }
    home.config_path.write_text(yaml.safe_dump({"executor": {
        "kind": "celery", "broker": "amqp://127.0.0.1:5672//", "backend": "redis://127.0.0.1:6379/1"}}))
    assert celery_run_config(home.load_config().executor) == {
        "broker": "amqp://127.0.0.1:5672//", "backend": "redis://127.0.0.1:6379/1",
        "config_source": {"task_default_queue": "dagster"},
    }


@pytest.mark.parametrize(("executor", "error"), [
    ({"kind": "celery"}, "datacrew.yaml: executor: {'kind': 'celery'}: kind 'celery' needs broker or broker_env"),
    ({"kind": "multiprocess", "queue": "crew"}, "datacrew.yaml: executor.queue: 'crew': only applies to kind 'celery'"),
    ({"kind": "celery", "broker": "http://127.0.0.1:5672"},
     "datacrew.yaml: executor.broker: 'http://127.0.0.1:5672': must be a broker URL "
     "(amqp://, amqps://, pyamqp://, redis://, rediss://, sqs://)"),
    ({"kind": "celery", "broker": "amqp://127.0.0.1//", "broker_env": "BROKER"},
     "datacrew.yaml: executor.broker_env: 'BROKER': give broker or broker_env, not both"),
    ({"kind": "celery", "broker_env": "BROKER", "queue": "two words"},
     "datacrew.yaml: executor.queue: 'two words': must be a queue name (letters, digits, '_', '.', '-')"),
    ({"kind": "spark"},
     "datacrew.yaml: executor.kind: 'spark': Input should be 'multiprocess', 'in_process', 'celery' or 'k8s'"),
])
def test_bad_executor_settings_are_refused_in_one_line(tmp_path, monkeypatch, executor, error):
    home = _home(tmp_path, monkeypatch, executor)
    with pytest.raises(ConfigErrors) as failed:
        home.load_config()
    assert str(failed.value).splitlines() == [error]


@pytest.mark.parametrize("document", ["README.md", "docs/deploy-kubernetes.md"])
def test_every_executor_line_of_the_docs_is_a_valid_setting(document):
    text = (Path(__file__).resolve().parents[2] / document).read_text()
    lines = [line.split("#")[0] for line in text.splitlines() if line.startswith("executor: {")]
    assert lines
    for line in lines:
        ExecutorConfig.model_validate(yaml.safe_load(line)["executor"])
