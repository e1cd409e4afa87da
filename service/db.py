"""The database handle, engine settings per dialect, and schema migrations (Alembic)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from flask import Flask
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine

from service.config import REPO_ROOT
from service.models import Base

log = logging.getLogger(__name__)

db = SQLAlchemy(model_class=Base)

MIGRATIONS_DIR = REPO_ROOT / "migrations"


def init_db(app: Flask) -> None:
    """Bind the handle to the app and tune every engine it creates."""
    db.init_app(app)
    with app.app_context():
        for engine in db.engines.values():
            if engine.dialect.name == "sqlite":
                event.listen(engine, "connect", _sqlite_on_connect)


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    """Enforce foreign keys, let readers run beside a writer, wait for locks instead of failing."""
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=5000")
    finally:
        cursor.close()


def alembic_config(connection: Connection | None = None) -> Any:
    """Return an Alembic config for `migrations/`, bound to `connection` when one is given."""
    from alembic.config import Config

    config = Config()  # programmatic: no ini file, so Alembic leaves the app's logging alone
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def upgrade_schema(app: Flask, revision: str = "head") -> None:
    """Create or migrate the schema to `revision` (idempotent: a current schema is left alone)."""
    from alembic import command

    if not Path(MIGRATIONS_DIR, "env.py").exists():
        raise RuntimeError(f"Alembic migrations not found in {MIGRATIONS_DIR}")
    with app.app_context():
        engine: Engine = db.engine
        with engine.begin() as connection:
            command.upgrade(alembic_config(connection), revision)
        log.info("Schema at %s on %s", revision, engine.url.render_as_string(hide_password=True))


def head_revision() -> str | None:
    """Return the newest revision in migrations/."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(app: Flask) -> str | None:
    """Return the schema's Alembic revision, or None for an empty database."""
    from alembic.runtime.migration import MigrationContext

    with app.app_context(), db.engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def dispose_engines(app: Flask, close: bool = True) -> None:
    """Drop pooled connections; in a forked child pass close=False to leave the parent's alone."""
    with app.app_context():
        for engine in db.engines.values():
            engine.dispose(close=close)
