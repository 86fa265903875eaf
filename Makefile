# carehub — two commands from a fresh clone: `make run` and `make test`.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
APT_UPDATED := $(VENV)/.apt-updated
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run test test-fast lint typecheck bench deps system-deps clean help

help:
	@echo "make run    - install what is missing, migrate, start broker + hub + simulated homes on :8000"
	@echo "make test   - install what is missing, lint (ruff, mypy --strict), run the whole test suite"
	@echo "make lint   - ruff + mypy (strict)"
	@echo "make bench  - benchmarks (bench/), each prints its figures"

$(BIN)/python:
	@$(PY) -c 'import ensurepip, venv' 2>/dev/null || { $(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q python3-venv; }
	$(PY) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	@touch $@

deps: $(STAMP) system-deps

# Debian packages the project starts itself: mosquitto (broker, dynamic-security plugin,
# mosquitto_ctrl). Installed with apt-get only when missing.
system-deps:
	@if ! command -v mosquitto >/dev/null && [ ! -x /usr/sbin/mosquitto ]; then \
		echo "installing mosquitto (apt-get)"; \
		$(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q mosquitto mosquitto-clients; \
	fi
	@# Browser tests drive Debian's Chromium through Playwright (no browser download).
	@if [ "$(NEED_BROWSER)" = 1 ] && [ ! -x /usr/bin/chromium ]; then \
		echo "installing chromium (apt-get)"; \
		$(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q chromium; \
	fi
	@# The PostgreSQL test leg: the tests use a server on 127.0.0.1:5432 or start a private
	@# cluster themselves; CI asks for the server binaries to be installed when missing.
	@if [ "$${CAREHUB_INSTALL_POSTGRES:-0}" = 1 ] && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 \
		&& ! (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null; then \
		echo "installing postgresql (apt-get)"; \
		$(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q postgresql; \
	fi

run: deps
	$(BIN)/carehub run

test: NEED_BROWSER = 1
test: deps
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/python -m pytest -q

test-fast: deps
	$(BIN)/python -m pytest -q -m "not slow"

lint: deps
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

bench: deps
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/simulate.py
	$(BIN)/python bench/import.py
	$(BIN)/python bench/signoff.py
	$(BIN)/python bench/alert_quality.py
	$(BIN)/python bench/latency.py
	$(BIN)/python bench/latency.py --db postgresql
	$(BIN)/python bench/scale.py
	$(BIN)/python bench/multihub.py

clean:
	rm -rf var/ .pytest_cache .mypy_cache .ruff_cache test-artifacts
