"""Distributed execution: the RabbitMQ broker on the machine (a missing one fails, never skips)."""

from __future__ import annotations

import os

import kombu
import pytest

from datacrew_resources.config.errors import first_line
from datacrew_resources.delegation.backend import redact

RABBITMQ_ENV = "DATACREW_TEST_RABBITMQ_URL"
DEFAULT_RABBITMQ = "amqp://guest:guest@127.0.0.1:5672//"


@pytest.fixture(scope="session")
def rabbitmq_url() -> str:
    """The broker URL named by DATACREW_TEST_RABBITMQ_URL (default: guest at 127.0.0.1:5672)."""
    url = os.environ.get(RABBITMQ_ENV) or DEFAULT_RABBITMQ
    try:
        with kombu.Connection(url, connect_timeout=5) as connection:
            connection.ensure_connection(max_retries=1)
    except Exception as e:  # kombu raises the transport's own errors
        pytest.fail(f"RabbitMQ unreachable at {redact(url)} (set {RABBITMQ_ENV}): {first_line(e)}")
    return url
