# The two commands of the README:
#   make run    install, migrate, load demo data if the database is empty, serve on :8000
#               with a Celery worker and beat (embedded default: SQLite, no broker server)
#   make test   install, lint, checks, types, the test suite but its slow parts and the
#               replica tests (DATABASE_URL/REDIS_URL honoured)
#   make test-slow   the slow parts: load, fault and long browser tour tests
#   make test-replica   the tests against a real PostgreSQL streaming replica (needs
#               DATABASE_URL and DATABASE_REPLICA_URL; `.ci/replica start` makes one)
#   .ci/run runs all three; together they are every test.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DEMO_PASSWORD ?= salesperf-demo
export PYTHONUNBUFFERED := 1
# Markers of the slow tests (pyproject.toml declares them). `make test` runs the others
# (but the replica tests), `make test-slow` these, each one required to select at least
# one test.
SLOW_MARKERS := load fault tour
space := $(subst ,, )
SLOW_SELECTION := $(subst $(space), or ,$(SLOW_MARKERS))
# The replica tests need a second PostgreSQL server: `make test-replica` runs them alone.
LEFT_OUT := $(subst $(space), or ,$(SLOW_MARKERS) replica)

.PHONY: run test test-slow test-replica install lint format check typecheck migrate seed clean

run: install migrate
	$(BIN)/python manage.py seed_demo --if-empty --password "$(DEMO_PASSWORD)"
	bin/run-embedded

# One pytest worker per core (pytest-xdist), each on a database of its own. Tests go out
# in collection order, where pytest-django puts the transactional tests (which empty the
# tables at their end) after all others, so no worker runs a test after such a flush.
# `make test TEST_WORKERS=0` runs in one process.
TEST_WORKERS ?= auto

test: install lint check typecheck
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist load -m "not ($(LEFT_OUT))" $(PYTEST_ARGS)

# pytest exits 5 when the selection is empty, and --require-marker fails the run when one
# of the slow suites selects nothing: a lost marker cannot pass unnoticed.
test-slow: install
	$(BIN)/python -m pytest -m "$(SLOW_SELECTION)" \
		$(foreach marker,$(SLOW_MARKERS),--require-marker $(marker)) $(PYTEST_ARGS)

# Fails, not skips, under CI=true when DATABASE_REPLICA_URL is missing (tests/replica/).
test-replica: install
	$(BIN)/python -m pytest -m replica --require-marker replica $(PYTEST_ARGS)

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
