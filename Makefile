# The two set-up commands: `make dev` (run it) and `make test` (test it).
# The newest Python >= 3.11 on this machine (scripts/find-python), unless PYTHON= is given.
ifndef PYTHON
PYTHON := $(shell scripts/find-python)
endif
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: dev dev-dagster dev-soak test test-sqlite test-dagster lint bench bench-quick soak migrate clean

$(BIN)/python:
	@if [ -z "$(PYTHON)" ]; then \
	  echo "concurrency-ui needs Python 3.11 or newer (3.11 to 3.13 are tested) and found none (looked for python3.11+"; \
	  echo "on PATH and in pyenv). Install one: apt-get install python3.11 python3.11-venv (Debian 12),"; \
	  echo "brew install python@3.13, or pyenv install 3.13; or run make PYTHON=/path/to/python3.x"; \
	  exit 1; fi
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null || { \
	  echo "$(PYTHON) does not run or is older than 3.11: concurrency-ui needs Python >= 3.11"; exit 1; }
	@echo "Using $(PYTHON) ($$($(PYTHON) --version))"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

migrate: $(STAMP)
	$(BIN)/python manage.py migrate --noinput

dev: migrate
	$(BIN)/python manage.py bootstrap
	$(BIN)/python manage.py dev

# The optional Dagster extra, then the dashboard attached to DAGSTER_HOME's deployment.
DAGSTER_STAMP := $(VENV)/.installed-dagster
$(DAGSTER_STAMP): pyproject.toml $(STAMP)
	$(BIN)/pip install --quiet -e '.[dev,dagster]'
	touch $(DAGSTER_STAMP)

dev-dagster: $(DAGSTER_STAMP) migrate
	@test -n "$$DAGSTER_HOME" || { echo "set DAGSTER_HOME to the deployment's instance folder"; exit 1; }
	$(BIN)/python manage.py bootstrap
	$(BIN)/python manage.py dev

# The Dagster comparison at full size (CI runs a reduced number of scenarios).
DAGSTER_SCENARIOS ?= 1000
test-dagster: $(DAGSTER_STAMP)
	DAGSTER_SCENARIOS=$(DAGSTER_SCENARIOS) $(BIN)/python -m pytest tests/dagster -s

# TEST_PROCESSES pytest-xdist workers, each with its own test database, broker (Redis database
# n, n+1, ... of CELERY_BROKER_URL) and VAR_DIR (tests/support/parallel.py); 0 runs in one.
TEST_PROCESSES ?= 2
test: $(STAMP)
	$(BIN)/python -m pytest -p tests.support.parallel -n $(TEST_PROCESSES) --dist worksteal --durations=25

# ruff, the layer contracts (import-linter, pyproject.toml) and mypy (strict on the engine).
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/mypy
	$(BIN)/python manage.py makemigrations --check --dry-run

bench-quick: migrate
	$(BIN)/python bench/run.py --quick

bench: migrate
	$(BIN)/python bench/run.py

# The full soak (2,000 runs through 4 workers) and a 5-minute race of two beats and a
# tick loop, on PostgreSQL and Redis; CI runs both in reduced size. Prints the figures.
SOAK_RUNS ?= 2000
SOAK_SECONDS ?= 300
SOAK_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/test
SOAK_BROKER_URL ?= redis://127.0.0.1:6379/13
soak: $(STAMP)
	DATABASE_URL=$(SOAK_DATABASE_URL) CELERY_BROKER_URL=$(SOAK_BROKER_URL) \
	SOAK_RUNS=$(SOAK_RUNS) SOAK_SECONDS=$(SOAK_SECONDS) \
	  $(BIN)/python -m pytest tests/faults/test_soak.py tests/faults/test_two_beats.py -s

# `make dev` under load for 30 minutes: SQLite and the embedded broker in a fresh VAR_DIR,
# demo runs through the API while every page is loaded every 3 s; prints the figures.
# CI runs the same script for 100 s (tests/faults/test_dev_soak.py).
DEV_SOAK_SECONDS ?= 1800
DEV_SOAK_RUNS ?= 360
dev-soak: $(STAMP)
	$(BIN)/python scripts/dev_soak.py --seconds $(DEV_SOAK_SECONDS) --runs $(DEV_SOAK_RUNS)

clean:
	rm -rf var $(VENV)
