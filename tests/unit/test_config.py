"""Settings: API keys parsed and validated at startup, refusal without keys, development mode."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest
from flask import Blueprint, g

from service import create_app
from service.api.security import require_scope
from service.config import (
    REPO_ROOT,
    ConfigError,
    load_settings,
    normalize_database_url,
    parse_api_keys,
    parse_bool,
)

NO_KEYS = {"AUTHZ_API_KEYS": "", "AUTHZ_DEV_MODE": False, "LOAD_POLICY": False}


def test_keys_are_parsed_with_their_scopes():
    keys = parse_api_keys(" app:check:s3cret , ops:admin:with:colons ")
    assert [(k.name, k.scope, k.secret) for k in keys] == [
        ("app", "check", "s3cret"),
        ("ops", "admin", "with:colons"),
    ]


def test_admin_implies_check():
    check, admin = parse_api_keys("a:check:one,b:admin:two")
    assert check.allows("check") and not check.allows("admin")
    assert admin.allows("check") and admin.allows("admin")


def test_empty_entries_are_ignored():
    assert parse_api_keys("") == ()
    assert parse_api_keys("a:check:x,,") == parse_api_keys("a:check:x")


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        ("just-a-name", "expected name:scope:secret"),
        ("a:check", "expected name:scope:secret"),
        ("a:root:secret", "scope must be one of check, admin"),
        ("a:check:", "secret must be non-empty"),
        ("a:check:two words", "secret must be non-empty printable"),
        (":check:secret", "name must be"),
        ("a:check:x,a:admin:y", "unique"),
        ("a:check:same,b:admin:same", "share a secret"),
    ],
)
def test_malformed_keys_are_refused_with_a_clear_message(raw, fragment):
    with pytest.raises(ConfigError, match=fragment):
        parse_api_keys(raw)


def test_error_messages_never_quote_a_secret():
    with pytest.raises(ConfigError) as info:
        parse_api_keys("ok:check:fine,broken-hunter2")
    assert "hunter2" not in str(info.value)
    assert "entry 2" in str(info.value)


def test_secret_is_not_in_the_repr():
    (key,) = parse_api_keys("a:check:hunter2")
    assert "hunter2" not in repr(key)


@pytest.mark.parametrize(
    ("raw", "expected"), [("1", True), ("On", True), ("no", False), ("", False)]
)
def test_booleans(raw, expected):
    assert parse_bool("X", raw) is expected


def test_a_bad_boolean_is_refused():
    with pytest.raises(ConfigError, match="AUTHZ_DEV_MODE"):
        parse_bool("AUTHZ_DEV_MODE", "maybe")


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgres://u@h/db", "postgresql+psycopg://u@h/db"),
        ("postgresql://u:p@h:5432/db", "postgresql+psycopg://u:p@h:5432/db"),
        ("postgresql+psycopg://u@h/db", "postgresql+psycopg://u@h/db"),
        ("sqlite:////tmp/x.sqlite", "sqlite:////tmp/x.sqlite"),
    ],
)
def test_postgres_urls_use_psycopg_3(url, expected):
    assert normalize_database_url(url) == expected


def test_defaults(tmp_path):
    settings = load_settings(tmp_path, environ={})
    assert settings["DATABASE_URL"] == f"sqlite:///{tmp_path.resolve()}/yuki-authz.sqlite"
    assert settings["POLICY_PATHS"] == [str(REPO_ROOT / "policies" / "access.polar")]
    assert settings["AUTHZ_API_KEYS"] == ()
    assert settings["AUTHZ_DEV_MODE"] is False
    assert settings["MAX_CONTENT_LENGTH"] == 1024 * 1024


def test_environment_is_read_and_overrides_win(tmp_path):
    environ = {
        "DATABASE_URL": "postgres://u@h/db",
        "AUTHZ_API_KEYS": "a:check:x",
        "POLICY_PATHS": "policies/a.polar, /abs/b.polar",
    }
    settings = load_settings(tmp_path, environ=environ)
    assert settings["DATABASE_URL"] == "postgresql+psycopg://u@h/db"
    assert settings["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://u@h/db"
    assert [k.name for k in settings["AUTHZ_API_KEYS"]] == ["a"]
    assert settings["POLICY_PATHS"] == [str(REPO_ROOT / "policies" / "a.polar"), "/abs/b.polar"]
    overridden = load_settings(tmp_path, {"AUTHZ_API_KEYS": "b:admin:y", "TESTING": True}, environ)
    assert [k.name for k in overridden["AUTHZ_API_KEYS"]] == ["b"]
    assert overridden["TESTING"] is True


def test_app_refuses_to_start_without_keys(database_url):
    with pytest.raises(RuntimeError) as info:
        create_app({**NO_KEYS, "DATABASE_URL": database_url})
    assert "AUTHZ_API_KEYS" in str(info.value)
    assert "AUTHZ_DEV_MODE" in str(info.value)


def test_app_refuses_malformed_keys(database_url):
    with pytest.raises(ConfigError, match="AUTHZ_API_KEYS entry 1"):
        create_app({**NO_KEYS, "DATABASE_URL": database_url, "AUTHZ_API_KEYS": "oops"})


def _whoami_blueprint() -> Blueprint:
    blp = Blueprint("whoami", __name__)

    @blp.get("/_whoami")
    @require_scope("admin")
    def whoami() -> dict[str, str]:
        return {"key": g.api_key_name}

    return blp


def test_dev_mode_without_keys_accepts_requests_as_dev(database_url, caplog):
    caplog.set_level(logging.WARNING)
    app = create_app({**NO_KEYS, "DATABASE_URL": database_url, "AUTHZ_DEV_MODE": "1"})
    assert "AUTHZ_DEV_MODE is on" in caplog.text
    app.register_blueprint(_whoami_blueprint())
    response = app.test_client().get("/_whoami")
    assert response.status_code == 200
    assert response.json == {"key": "dev"}


def test_dev_mode_with_keys_still_requires_them(database_url):
    app = create_app(
        {
            **NO_KEYS,
            "DATABASE_URL": database_url,
            "AUTHZ_DEV_MODE": True,
            "AUTHZ_API_KEYS": "a:admin:x",
        }
    )
    app.register_blueprint(_whoami_blueprint())
    client = app.test_client()
    assert client.get("/_whoami").status_code == 401
    assert client.get("/_whoami", headers={"Authorization": "Bearer x"}).json == {"key": "a"}


def test_default_database_lives_in_the_instance_folder(monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    app = create_app({"AUTHZ_API_KEYS": "a:check:x", "LOAD_POLICY": False})
    assert (
        app.config["DATABASE_URL"]
        == f"sqlite:///{Path(app.instance_path).resolve()}/yuki-authz.sqlite"
    )


def test_decision_cache_settings(tmp_path):
    settings = load_settings(tmp_path, environ={})
    assert settings["DECISION_CACHE"] is True
    assert settings["DECISION_CACHE_SIZE"] == 50_000
    board = Path(settings["DECISION_CACHE_BOARD"])
    assert board.parent.name == f"yuki-authz-{os.geteuid()}" and board.suffix == ".board"
    other = load_settings(tmp_path, environ={"DATABASE_URL": "sqlite:///elsewhere.sqlite"})
    assert other["DECISION_CACHE_BOARD"] != settings["DECISION_CACHE_BOARD"]  # one per database
    off = load_settings(tmp_path, environ={"DECISION_CACHE": "off", "DECISION_CACHE_SIZE": "0"})
    assert off["DECISION_CACHE"] is False and off["DECISION_CACHE_SIZE"] == 0


@pytest.mark.parametrize("raw", ["-1", "many", "1.5"])
def test_a_bad_cache_size_is_refused(tmp_path, raw):
    with pytest.raises(ConfigError, match="DECISION_CACHE_SIZE"):
        load_settings(tmp_path, environ={"DECISION_CACHE_SIZE": raw})


def test_the_cache_can_be_turned_off(database_url):
    app = create_app(
        {"DATABASE_URL": database_url, "AUTHZ_API_KEYS": "a:check:x", "DECISION_CACHE": False}
    )
    assert app.extensions["authz"].cache is None
    assert "revision_board" not in app.extensions


def test_a_board_another_user_could_write_is_refused(database_url, tmp_path):
    folder = tmp_path / "shared"
    folder.mkdir(mode=0o777)
    folder.chmod(0o777)
    with pytest.raises(ConfigError, match="DECISION_CACHE_BOARD"):
        create_app(
            {
                "DATABASE_URL": database_url,
                "AUTHZ_API_KEYS": "a:check:x",
                "DECISION_CACHE_BOARD": str(folder / "b.board"),
            }
        )
