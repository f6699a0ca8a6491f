"""The Dagster executor `datacrew.yaml`'s `executor:` names, for every job of the home.

Steps of one run may execute in other processes or on other machines, so each step
reaches everything through the home's path and the environment alone: the worker
rebuilds the definitions from `DATACREW_HOME` and the run's instance from its ref.
"""

from __future__ import annotations

from typing import Any

import dagster as dg

from .config.executor import ExecutorConfig

DEFAULT_QUEUE = "dagster"
DEFAULT_BACKEND = "rpc://"


def celery_run_config(config: ExecutorConfig) -> dict[str, Any]:
    """The celery executor's config block; a worker started with the same block (under
    `execution: config:` in its `-y` file) listens where the runs send their steps."""
    broker = {"env": config.broker_env} if config.broker_env else config.broker
    return {
        "broker": broker,
        "backend": config.backend or DEFAULT_BACKEND,
        "config_source": {"task_default_queue": config.queue or DEFAULT_QUEUE},
    }


def executor_for(config: ExecutorConfig) -> dg.ExecutorDefinition | None:
    """The executor for `config`; None keeps Dagster's default (multiprocess for launched
    runs, in-process for `execute_in_process`)."""
    if config.kind == "in_process":
        return dg.in_process_executor
    if config.kind == "celery":
        # Imported only when chosen: a home on the default executor does not pay for the import.
        from dagster_celery import celery_executor

        # The block shows in the UI: a broker password belongs in `broker_env`.
        return celery_executor.configured(celery_run_config(config))
    if config.kind == "k8s":
        from dagster_k8s import k8s_job_executor

        return k8s_job_executor
    return None
