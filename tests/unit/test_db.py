"""The schema: migrations match the models, go down and up again, and SQLite is tuned."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text

from service.db import alembic_config, current_revision, db, head_revision, upgrade_schema
from service.models import Base


def test_migrations_match_the_models(app):
    """Fails when a model changed without a migration: add one with `make migration m=...`."""
    with app.app_context(), db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []


def test_schema_is_at_head(app):
    assert current_revision(app) == head_revision() is not None


def test_migrations_downgrade_to_nothing_and_upgrade_again(make_app, empty_database_url):
    app = make_app(DATABASE_URL=empty_database_url, LOAD_POLICY=False)
    upgrade_schema(app)
    with app.app_context():
        with db.engine.begin() as connection:
            command.downgrade(alembic_config(connection), "base")
        assert set(inspect(db.engine).get_table_names()) <= {"alembic_version"}
    assert current_revision(app) is None
    upgrade_schema(app)
    upgrade_schema(app)
    assert current_revision(app) == head_revision()


def test_sqlite_connections_enforce_foreign_keys_and_use_wal(app, db_kind):
    if db_kind != "sqlite":
        return
    with app.app_context(), db.engine.connect() as connection:
        assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert connection.execute(text("PRAGMA busy_timeout")).scalar() == 5000
