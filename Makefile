# Thin aliases over the project's tools; `make help` lists them. CI runs `.ci/run`, which uses these.
.DEFAULT_GOAL := help
SHELL := /bin/bash

PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
BIND ?= 127.0.0.1:8000
WORKERS ?= 2
THREADS ?= 1
# Extra pytest arguments, e.g. `make test PYTEST_ARGS="-x -k errors"`; -n 2 runs two xdist workers.
PYTEST_ARGS ?= -n 2
DEMO_KEYS ?= demo:admin:demo-secret
POLICIES := $(wildcard policies/*.polar)
empty :=
space := $(empty) $(empty)

.PHONY: help install fmt lint test test-sqlite test-pg dev serve demo bench init-db migration

help: ## list the targets
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "%-12s %s\n", $$1 ":", $$2}'

install: ## create .venv (python3.11) if missing and install the project with its dev tools
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -e '.[dev]'

fmt: ## format and autofix (ruff format, ruff check --fix)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

lint: ## check: ruff, ruff format --check, mypy (all three run; fails if any fails)
	@status=0; \
	$(BIN)/ruff check . || status=$$?; \
	$(BIN)/ruff format --check . || status=$$?; \
	$(BIN)/mypy || status=$$?; \
	exit $$status

test: ## run the tests on SQLite, then on PostgreSQL; fails if either fails
	@status=0; \
	$(BIN)/pytest --db=sqlite $(PYTEST_ARGS) || status=$$?; \
	$(BIN)/pytest --db=postgresql $(PYTEST_ARGS) || status=$$?; \
	exit $$status

test-sqlite: ## run the tests on SQLite
	$(BIN)/pytest --db=sqlite $(PYTEST_ARGS)

test-pg: ## run the tests on PostgreSQL (127.0.0.1:5432, or TEST_PG_URL)
	$(BIN)/pytest --db=postgresql $(PYTEST_ARGS)

init-db: ## create or migrate the schema of DATABASE_URL (default: SQLite in instance/)
	$(BIN)/yuki-authz init-db

dev: init-db ## flask debug server, reloading on code and policy edits (AUTHZ_DEV_MODE=1)
	AUTHZ_DEV_MODE=1 $(BIN)/flask --app service:create_app run --debug --reload \
		--host $(firstword $(subst :, ,$(BIND))) --port $(lastword $(subst :, ,$(BIND))) \
		$(if $(POLICIES),--extra-files $(subst $(space),:,$(POLICIES)))

serve: init-db ## serve with gunicorn (needs AUTHZ_API_KEYS; BIND, WORKERS, THREADS)
	$(BIN)/yuki-authz serve --bind $(BIND) --workers $(WORKERS) --threads $(THREADS)

demo: install ## install, then serve the demo world on SQLite with the key demo-secret
	AUTHZ_API_KEYS=$${AUTHZ_API_KEYS:-$(DEMO_KEYS)} $(BIN)/yuki-authz serve --demo \
		--bind $(BIND) --workers $(WORKERS)

bench: ## run the benchmarks (python -m bench)
	$(BIN)/python -m bench

migration: ## add a migration for model changes: make migration m="what changed"
	@test -n "$(m)" || { echo 'usage: make migration m="what changed"'; exit 2; }
	@tmp=$$(mktemp -d); trap 'rm -rf $$tmp' EXIT; \
	next=$$(printf '%04d' $$(( $$(ls migrations/versions/[0-9]*.py | wc -l) + 1 ))); \
	DATABASE_URL=sqlite:///$$tmp/head.sqlite $(BIN)/alembic upgrade head && \
	DATABASE_URL=sqlite:///$$tmp/head.sqlite $(BIN)/alembic revision --autogenerate \
		--rev-id $$next -m "$(m)"
