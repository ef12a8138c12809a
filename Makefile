# Two commands for a fresh machine:
#   make run    set up and run the whole product on its embedded default (SQLite, built-in telephony simulator)
#   make test   set up and run the test suite (SQLite and PostgreSQL, browser tests in headless Chromium)

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 5000
# Stamps: the package is installed again only when its declaration changes (the install is editable, so code
# changes need nothing). The test install includes the plain one.
INSTALLED := $(VENV)/.installed
INSTALLED_TEST := $(VENV)/.installed-test

.PHONY: run test setup setup-test lint typecheck typecheck-pending coverage bench clean translations

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(INSTALLED): setup.cfg pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	@touch $@

$(INSTALLED_TEST): setup.cfg pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'
	@touch $@ $(INSTALLED)

setup: $(INSTALLED)

setup-test: $(INSTALLED_TEST)
	@./scripts/start-postgres.sh
	@./scripts/install-system-packages.sh

run: setup
	@$(BIN)/ivr db upgrade
	@$(BIN)/ivr demo --host $(HOST) --port $(PORT)

test: setup-test
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/mypy
	$(BIN)/python -m pytest -n auto -p no:cacheprovider

lint: setup-test
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/mypy

# Refresh the translation template from the code and templates, and merge it into each language's catalogue
# (pyproject.toml [tool.babel.*]; docs/translations.md).
translations: setup-test
	$(BIN)/pybabel extract
	$(BIN)/pybabel update

# The packages and settings are in pyproject.toml ([tool.mypy]).
typecheck: setup-test
	$(BIN)/mypy

# Errors left in the packages pyproject.toml lists as not yet checked, per package.
typecheck-pending: setup-test
	$(BIN)/python scripts/typecheck_pending.py

# The whole suite with coverage (worker and demo subprocesses included); prints the table, then the total.
coverage: setup-test
	rm -f .coverage .coverage.*
	$(BIN)/python -m pytest -n auto -p no:cacheprovider --cov --cov-report=term:skip-covered
	@echo "total coverage: $$($(BIN)/coverage report --format=total)%"

# Every benchmark table beside its peers (BENCH=quick for a short run): table, bench/results/*.json and a plot.
bench: setup-test
	$(BIN)/pip install --quiet -e '.[test,bench]'
	@./scripts/install-system-packages.sh wrk
	$(BIN)/python -m bench $(if $(filter quick,$(BENCH)),--quick,)

clean:
	rm -rf $(VENV) instance *.egg-info .pytest_cache .ruff_cache .mypy_cache .coverage .coverage.* htmlcov test-artifacts
