# Two entry points: `make demo` (the main job) and `make test` (the whole suite).
# Both install the locked environment first: uv in .tools/, the project in .venv/.
PYTHON ?= python3
UV_VERSION := 0.13.9
UV := .tools/bin/uv
HOME_DIR ?= datacrew_home

.PHONY: demo test bench install browser

install: .venv/.synced

$(UV):
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet "uv==$(UV_VERSION)"

.venv/.synced: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --python $(PYTHON)
	touch $@

demo: .venv/.synced
	.venv/bin/datacrew demo --home $(HOME_DIR)

test: .venv/.synced browser
	.venv/bin/python -m pytest

# Headless Chromium for the browser tests (tests/e2e): Debian's package, installed only when missing.
CHROMIUM := /usr/bin/chromium
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

browser: $(CHROMIUM)

$(CHROMIUM):
	$(SUDO) apt-get update
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y chromium chromium-driver

bench: .venv/.synced
	.venv/bin/python -m bench.demo_bench
