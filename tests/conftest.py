"""Suite-wide setup: no telemetry, no network, nothing written outside tmp dirs."""

from __future__ import annotations

import os

# Set before any test imports crewai or dagster (both read these lazily, at first use).
for _name, _value in {
    "CREWAI_DISABLE_TELEMETRY": "true",
    "CREWAI_DISABLE_TRACKING": "true",
    "CREWAI_TRACING_ENABLED": "false",
    "OTEL_SDK_DISABLED": "true",
    "DAGSTER_DISABLE_TELEMETRY": "true",
}.items():
    os.environ.setdefault(_name, _value)
