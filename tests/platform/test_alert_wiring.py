"""The platform's definitions carry the alert sensors, configured from datacrew.yaml."""

from __future__ import annotations

import pytest

from datacrew_assets.alerts import CHECK_FAILURE_SENSOR, RUN_FAILURE_SENSOR
from datacrew_assets.definitions import build_definitions
from datacrew_resources.config import ConfigErrors

from .delegation_helpers import edit_config


def test_alert_sensors_are_in_the_definitions(home):
    defs = build_definitions(home)
    for name in (RUN_FAILURE_SENSOR, CHECK_FAILURE_SENSOR):
        assert defs.resolve_sensor_def(name).name == name


def test_bad_alert_settings_are_refused_in_one_line(home):
    edit_config(home, alerts={"webhook_timeout_seconds": 0})
    with pytest.raises(ConfigErrors) as failed:
        home.load_config()
    assert str(failed.value).splitlines() == [
        "datacrew.yaml: alerts.webhook_timeout_seconds: 0: Input should be greater than 0"]
