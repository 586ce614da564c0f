# Two commands do all the set-up on a fresh machine with Python 3.11+:
#   make demo   creates .venv, installs lac-batch, runs it on the bundled sample
#   make test   creates .venv with the dev extras, runs ruff, mypy and pytest, then the
#               orchestrator examples' tests (make examples-test), each in its own virtualenv
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test lint bench clean postgres-server browser examples-test

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "lac-batch needs Python 3.11 or newer")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	@touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@ $(VENV)/.installed

demo: $(VENV)/.installed
	$(BIN)/lac-batch submit --sandbox samples/requests.xlsx

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check lac_batch tests benchmarks examples docs
	$(BIN)/ruff format --check lac_batch tests benchmarks examples docs
	$(BIN)/mypy lac_batch
	$(BIN)/lint-imports

# The ledger tests start a real PostgreSQL server themselves (tests/pg_server.py); on a fresh
# machine its binaries come from Debian's package archive (CI runs as root).
postgres-server:
	@command -v pg_ctl >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 \
		|| (apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y postgresql)

# The web page's end-to-end tests need Debian's chromium and its driver (same package source,
# so their versions always match); installed here when missing (needs root).
browser:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
		(apt-get update && apt-get install -y chromium chromium-driver)

# The examples first, so that the product suite's count is the last line a reader sees.
test: lint postgres-server browser
	$(MAKE) --no-print-directory examples-test
	$(BIN)/pytest

# Airflow, Dagster and Prefect each in examples/.venvs/TOOL, made once and reused while their
# requirements are unchanged (examples/make_venv.py). The tests' temporary folders lie outside
# the system's temporary folder: the examples refuse a ledger there.
EXAMPLE_TOOLS := dagster prefect airflow

examples-test: $(EXAMPLE_TOOLS:%=examples-test-%)

examples-test-%:
	$(PYTHON) examples/make_venv.py $*
	cd examples && PYTHONPATH=. .venvs/$*/bin/python -m pytest -c pytest.ini $* \
		--basetemp=.venvs/$*-tmp

bench: $(VENV)/.installed-dev
	$(BIN)/python benchmarks/validate.py
	$(BIN)/python benchmarks/ui.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache examples/.venvs
