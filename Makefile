# The two commands of the README:
#   make run    install, migrate, load demo data if the database is empty, serve on :8000
#               with a Celery worker and beat (embedded default: SQLite, no broker server)
#   make test   install, lint, checks, types, the test suite but its slow parts
#               (DATABASE_URL/REDIS_URL honoured)
#   make test-slow   the slow parts: load, fault and long browser tour tests (.ci/run runs
#               both; together they are every test)
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DEMO_PASSWORD ?= salesperf-demo
export PYTHONUNBUFFERED := 1
# Markers of the slow tests (pyproject.toml declares them). `make test` runs the others,
# `make test-slow` these, each one required to select at least one test.
SLOW_MARKERS := load fault tour
space := $(subst ,, )
SLOW_SELECTION := $(subst $(space), or ,$(SLOW_MARKERS))

.PHONY: run test test-slow install lint format check typecheck migrate seed clean

run: install migrate
	$(BIN)/python manage.py seed_demo --if-empty --password "$(DEMO_PASSWORD)"
	bin/run-embedded

# One pytest worker per core (pytest-xdist), each on a database of its own. Tests go out
# in collection order, where pytest-django puts the transactional tests (which empty the
# tables at their end) after all others, so no worker runs a test after such a flush.
# `make test TEST_WORKERS=0` runs in one process.
TEST_WORKERS ?= auto

test: install lint check typecheck
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist load -m "not ($(SLOW_SELECTION))" $(PYTEST_ARGS)

# pytest exits 5 when the selection is empty, and --require-marker fails the run when one
# of the slow suites selects nothing: a lost marker cannot pass unnoticed.
test-slow: install
	$(BIN)/python -m pytest -m "$(SLOW_SELECTION)" \
		$(foreach marker,$(SLOW_MARKERS),--require-marker $(marker)) $(PYTEST_ARGS)

install: $(VENV)/.installed node_modules/.installed .env

$(VENV)/.installed: requirements-dev.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements-dev.lock
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $@

.env:
	cp .env.example .env

lint:
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format:
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

check:
	$(BIN)/python manage.py check --fail-level WARNING
	$(BIN)/python manage.py makemigrations --check --dry-run

# mypy with the django-stubs and DRF plugins; strictness per module in pyproject.toml.
typecheck:
	$(BIN)/mypy .

migrate:
	$(BIN)/python manage.py migrate --noinput

clean:
	rm -rf $(VENV) node_modules var staticfiles .pytest_cache .ruff_cache test-artifacts
