"""Suite-wide setup: no telemetry, no network, nothing written outside tmp dirs."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile

from datacrew_resources.environment import quiet_environment

# Before any test imports crewai: it writes ~/.config/crewai and
# ~/.local/share/crewai at import time, so give the suite a home of its own.
os.environ["HOME"] = tempfile.mkdtemp(prefix="datacrew-tests-home-")
atexit.register(shutil.rmtree, os.environ["HOME"], ignore_errors=True)
quiet_environment()
