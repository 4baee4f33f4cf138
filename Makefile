# The two set-up commands: `make dev` (run it) and `make test` (test it).
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: dev test test-sqlite lint bench bench-quick soak migrate clean

$(BIN)/python:
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

test: $(STAMP)
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/python manage.py makemigrations --check --dry-run

bench-quick: migrate
	$(BIN)/python bench/run.py --quick

bench: migrate
	$(BIN)/python bench/run.py

clean:
	rm -rf var $(VENV)
