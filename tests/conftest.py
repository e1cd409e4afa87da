"""Shared fixtures: one database per run (and per xdist worker), one app per session, clean tables.

Choose the database with `--db=sqlite` (default) or `--db=postgresql`; the PostgreSQL server is
`postgresql+psycopg://postgres@127.0.0.1:5432/` unless TEST_PG_URL says otherwise. Each run
creates its own uniquely named PostgreSQL database and drops it at the end.

    def test_something(client, admin_headers, clean_db):
        client.post("/v1/import", json=WORLD, headers=admin_headers)
        ...
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine, inspect, pool, text, update
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from service import create_app, models
from service.config import normalize_database_url
from service.db import db, dispose_engines, upgrade_schema

CHECK_SECRET = "check-secret"
ADMIN_SECRET = "admin-secret"
TEST_API_KEYS = f"checker:check:{CHECK_SECRET},admin:admin:{ADMIN_SECRET}"
DEFAULT_PG_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/"
# Tried in order to run CREATE/DROP DATABASE when TEST_PG_URL names no database.
MAINTENANCE_DATABASES = ("postgres", "test")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--db",
        choices=("sqlite", "postgresql"),
        default="sqlite",
        help=f"database the tests run on (PostgreSQL: TEST_PG_URL or {DEFAULT_PG_SERVER})",
    )


def pytest_report_header(config: pytest.Config) -> str:
    return f"database: {config.getoption('--db')}"


# --- the database ----------------------------------------------------------------------------


@pytest.fixture(scope="session", autouse=True)
def revision_board(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """One decision-cache board per run (per xdist worker), in its temporary folder.

    By default a board lives in /dev/shm per database URL; the tests make many databases and must
    not leave a file in shared memory for each. Sharing one board between databases is safe (a
    write to one only retires more cached decisions). Subprocesses inherit it through the env.
    """
    folder = tmp_path_factory.mktemp("board")
    folder.chmod(0o700)
    previous = os.environ.get("DECISION_CACHE_BOARD")
    os.environ["DECISION_CACHE_BOARD"] = str(folder / "test.board")
    yield
    if previous is None:
        os.environ.pop("DECISION_CACHE_BOARD", None)
    else:
        os.environ["DECISION_CACHE_BOARD"] = previous


@pytest.fixture(scope="session")
def db_kind(request: pytest.FixtureRequest) -> str:
    """Return "sqlite" or "postgresql", as chosen with --db."""
    return str(request.config.getoption("--db"))


@pytest.fixture(scope="session")
def database_url(db_kind: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Give this run (this xdist worker) its own empty database, and drop it at the end."""
    if db_kind == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'yuki-authz-test.sqlite'}"
    else:
        with temporary_pg_database() as url:
            yield url


@pytest.fixture
def empty_database_url(db_kind: str, tmp_path: Any) -> Iterator[str]:
    """Give one test a database of its own with no schema at all (migration and CLI tests)."""
    if db_kind == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.sqlite'}"
    else:
        with temporary_pg_database() as url:
            yield url


@contextmanager
def temporary_pg_database() -> Iterator[str]:
    """Create a uniquely named database on the test server; drop it (even if in use) on exit."""
    server = make_url(normalize_database_url(os.environ.get("TEST_PG_URL") or DEFAULT_PG_SERVER))
    name = f"yuki_test_{os.getpid()}_{secrets.token_hex(4)}"
    admin = _maintenance_engine(server)
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield server.set(database=name).render_as_string(hide_password=False)
        finally:
            with admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


def _maintenance_engine(server: Any) -> Engine:
    candidates = [server.database] if server.database else list(MAINTENANCE_DATABASES)
    errors = []
    for database in candidates:
        engine = create_engine(
            server.set(database=database), isolation_level="AUTOCOMMIT", poolclass=pool.NullPool
        )
        try:
            with engine.connect():
                return engine
        except OperationalError as exc:
            errors.append(f"{database}: {str(exc.orig).strip().splitlines()[0]}")
            engine.dispose()
    where = server.render_as_string(hide_password=True)
    raise RuntimeError(
        f"PostgreSQL is not reachable at {where} ({'; '.join(errors)}). Start it "
        "(pg_ctlcluster <version> main start) or point TEST_PG_URL at a server, or run --db=sqlite."
    )


# --- the app ---------------------------------------------------------------------------------


def app_config(database_url: str, **overrides: Any) -> dict[str, Any]:
    """Return the settings the test apps run with: the test database and two keys."""
    return {
        "TESTING": True,
        "DATABASE_URL": database_url,
        "AUTHZ_API_KEYS": TEST_API_KEYS,
        "AUTHZ_DEV_MODE": False,
        **overrides,
    }


@pytest.fixture(scope="session")
def make_app(database_url: str) -> Iterator[Callable[..., Flask]]:
    """Build extra apps on the test database: make_app(LOAD_POLICY=False, AUTHZ_API_KEYS=...).

    Building the policy engine is costly: prefer the session `app` unless a test needs other
    settings or its own routes (register them before the app's first request).
    """
    apps: list[Flask] = []

    def factory(config: dict[str, Any] | None = None, **overrides: Any) -> Flask:
        app = create_app(app_config(database_url, **{**(config or {}), **overrides}))
        apps.append(app)
        return app

    yield factory
    for app in apps:
        dispose_engines(app)


@pytest.fixture(scope="session")
def app(make_app: Callable[..., Flask]) -> Flask:
    """The app, built once per session, with the schema created by the migrations."""
    application = make_app()
    upgrade_schema(application)
    return application


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def db_session(app: Flask) -> Iterator[Session]:
    """A session on the test database inside an app context; rolled back after the test."""
    with app.app_context():
        session = db.session()
        try:
            yield session
        finally:
            session.rollback()
            db.session.remove()


@pytest.fixture
def clean_db(app: Flask) -> Iterator[None]:
    """Empty every table before and after the test (the schema and its revision stay)."""
    delete_all_rows(app)
    yield
    delete_all_rows(app)


def delete_all_rows(app: Flask) -> None:
    """Delete all rows, children first; bump the data revision so no cache outlives the data."""
    revision = getattr(models, "DataRevision", None)
    with app.app_context(), db.engine.begin() as connection:
        # Only tables the migrations created: a model without its migration fails elsewhere.
        existing = set(inspect(connection).get_table_names())
        for table in reversed(models.Base.metadata.sorted_tables):
            if table.name not in existing:
                continue
            if revision is not None and table is revision.__table__:
                connection.execute(update(revision).values(value=revision.value + 1))
            else:
                connection.execute(table.delete())


# --- headers ---------------------------------------------------------------------------------


@pytest.fixture
def check_headers() -> dict[str, str]:
    """Headers of a caller whose key has the `check` scope."""
    return {"Authorization": f"Bearer {CHECK_SECRET}"}


@pytest.fixture
def admin_headers() -> dict[str, str]:
    """Headers of a caller whose key has the `admin` scope (which implies `check`)."""
    return {"Authorization": f"Bearer {ADMIN_SECRET}"}
