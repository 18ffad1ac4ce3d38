# Meterhub: `make run` starts the whole local stack, `make test` runs the whole suite.
# Every target installs what it needs first; nothing is installed by hand.

SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
UV := $(BIN)/uv
LOCAL_PACKAGES := -e libs/common -e tools/devstack -e tools/headend-sim -e services/ingest -e services/usage-api \
	-e services/han -e services/ftps-publisher -e services/notifier
STAMP := $(VENV)/.installed
# checkov pins older packaging/dateutil than the project, so it lives in its own venv.
CHECKOV := .tools/checkov/bin/checkov
CHECKOV_VERSION := 3.3.30

.PHONY: run test lint typecheck importlint pytest bench clean sysdeps install requirements

install: $(STAMP) sysdeps $(CHECKOV)

$(CHECKOV):
	$(PYTHON) -m venv .tools/checkov
	.tools/checkov/bin/pip install -q checkov==$(CHECKOV_VERSION)

$(STAMP): requirements/dev.txt requirements/bootstrap.txt libs/common/pyproject.toml \
		tools/devstack/pyproject.toml $(wildcard services/*/pyproject.toml) \
		services/ftps-publisher/setup.py $(wildcard services/*/src/*/*/*.c)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q -r requirements/bootstrap.txt
	$(UV) pip install -q --python $(BIN)/python -r requirements/dev.txt
	$(UV) pip install -q --python $(BIN)/python --no-deps $(LOCAL_PACKAGES)
	touch $(STAMP)

# System packages: PostgreSQL server binaries, gpg, and Chromium for the browser tests.
sysdeps:
	@missing=""; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null || missing="$$missing postgresql"; \
	command -v gpg >/dev/null || missing="$$missing gnupg"; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	if [ -n "$$missing" ]; then \
		echo "installing system packages:$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

run: install
	$(BIN)/meterhub-dev run

lint: $(STAMP)
	$(BIN)/ruff check .

typecheck: $(STAMP)
	$(BIN)/mypy libs/common/src

importlint: $(STAMP)
	$(BIN)/lint-imports

pytest: install
	$(BIN)/pytest

test: lint typecheck importlint pytest

# wrk drives the usage-read benchmark.
bench: install
	@command -v wrk >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null)
	$(BIN)/python -m bench.run

# Regenerate the pinned files (no registry URLs are written into them).
requirements: $(STAMP)
	$(UV) pip compile -q --python 3.11 --no-header requirements/runtime.in -o requirements/runtime.txt
	$(UV) pip compile -q --python 3.11 --no-header requirements/dev.in -o requirements/dev.txt

clean:
	-$(BIN)/meterhub-dev stop 2>/dev/null
	rm -rf .state
