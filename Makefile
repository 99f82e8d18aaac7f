# The two commands of the README:
#   make run    install, migrate, load demo data if the database is empty, serve on :8000
#               with a Celery worker and beat (embedded default: SQLite, no broker server)
#   make test   install, lint, checks, the whole test suite (DATABASE_URL/REDIS_URL honoured)
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DEMO_PASSWORD ?= salesperf-demo
export PYTHONUNBUFFERED := 1

.PHONY: run test install lint format check migrate seed clean

run: install migrate
	$(BIN)/python manage.py seed_demo --if-empty --password "$(DEMO_PASSWORD)"
	bin/run-embedded

test: install lint check
	$(BIN)/python -m pytest $(PYTEST_ARGS)

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

migrate:
	$(BIN)/python manage.py migrate --noinput

clean:
	rm -rf $(VENV) node_modules var staticfiles .pytest_cache .ruff_cache test-artifacts
