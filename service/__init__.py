"""yuki-authz: policy-as-code authorization for Yuki's Back Office Access."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any

from flask import Flask

log = logging.getLogger(__name__)


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app: config → db → authz → blueprints → errors.

    `config` overrides the environment (tests pass the database, keys, TESTING...).
    Raises `service.config.ConfigError` (a RuntimeError) on unusable settings.
    """
    from flask_smorest import Api

    from service.api import register_blueprints
    from service.api.errors import ErrorSchema, register_error_handlers
    from service.api.health import init_metrics
    from service.api.middleware import init_middleware
    from service.api.security import BEARER_SCHEME
    from service.config import check_keys, default_database_url, load_settings
    from service.db import init_db

    app = Flask(__name__, instance_relative_config=True)
    settings = load_settings(app.instance_path, config)
    app.config.update(settings)
    check_keys(app.config)
    if app.config["DATABASE_URL"] == default_database_url(app.instance_path):
        os.makedirs(app.instance_path, exist_ok=True)

    init_db(app)
    _init_authz(app)

    class _Api(Api):
        ERROR_SCHEMA = ErrorSchema

    api = _Api(app)
    api.spec.components.security_scheme(
        BEARER_SCHEME,
        {"type": "http", "scheme": "bearer", "description": "A secret from AUTHZ_API_KEYS"},
    )
    app.extensions["api"] = api
    register_blueprints(api)

    init_metrics(app)  # first, so requests its hooks reject are timed and counted too
    init_middleware(app)
    register_error_handlers(app)
    return app


def _init_authz(app: Flask) -> None:
    """Build the one policy engine (before any fork) and load the price catalogue."""
    from service import pricing
    from service.authz import build_authorizer
    from service.config import ConfigError
    from service.decisionlog import DecisionLog

    try:
        app.extensions["catalogue"] = pricing.Catalogue.load(app.config["PRICING_CATALOGUE"])
    except (OSError, ValueError) as exc:
        raise ConfigError(f"PRICING_CATALOGUE: {exc}") from exc
    try:
        app.extensions["decision_log"] = DecisionLog.from_config(
            app.config["DECISION_LOG"], app.config["DECISION_LOG_PATH"]
        )
    except (OSError, ValueError) as exc:
        raise ConfigError(f"DECISION_LOG: {exc}") from exc
    # Every process that writes the database reports to the board (an import run from the command
    # line too), so that the service's cached decisions never outlive a write.
    reset = bool(app.config.get("DECISION_CACHE_RESET"))
    board = open_board(app, reset=reset) if app.config["DECISION_CACHE"] else None
    if not app.config["LOAD_POLICY"]:
        return
    authorizer = build_authorizer(app.config["POLICY_PATHS"])
    app.extensions["authz"] = authorizer
    if board is not None and app.config["DECISION_CACHE_SIZE"] > 0:
        authorizer.enable_cache(board, app.config["DECISION_CACHE_SIZE"])


def open_board(app: Flask, reset: bool = False) -> Any:
    """Map the revision board and report every write of this app's database to it."""
    from service.authz.board import RevisionBoard
    from service.authz.freshness import watch
    from service.config import ConfigError
    from service.db import db

    path = app.config["DECISION_CACHE_BOARD"]
    try:
        board = RevisionBoard(path, reset=reset)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"DECISION_CACHE_BOARD={path}: {exc}") from exc
    with app.app_context():
        watch(db.engine, board)
    app.extensions["revision_board"] = board
    return board
