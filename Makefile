# Hearth: `make run` serves the product with a demo tenant; `make test` runs the whole suite.
# Both create .venv/ inside the repo and install into it; a stamp file makes the install a
# no-op until pyproject.toml changes.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PORT ?= 8000

.PHONY: run test stop install migrate seed shell clean-data

install: $(STAMP)

$(PY):
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet --upgrade "pip>=24"
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

# Web, one Celery worker and beat in one terminal; Ctrl-C stops them and the embedded servers.
run: install
	$(PY) manage.py run_stack --port $(PORT)

test: install
	$(PY) -m pytest $(PYTEST_ARGS)

# Stop the embedded PostgreSQL and Redis of this checkout (no-op when they are not running).
stop:
	@if [ -x $(PY) ]; then $(PY) -m config.embedded stop; fi

migrate: install
	$(PY) manage.py migrate_schemas

seed: migrate
	$(PY) manage.py seed_demo

shell: install
	$(PY) manage.py shell

# Remove the embedded servers' data (stops them first).
clean-data: stop
	rm -rf .data
