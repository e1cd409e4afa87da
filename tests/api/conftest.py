"""A test-only app with probe routes: keys and errors tested apart from the real endpoints."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import flask_smorest
import marshmallow as ma
import pytest
from flask import Flask, g
from flask.testing import FlaskClient
from sqlalchemy.exc import IntegrityError, OperationalError

from service.api import Blueprint
from service.api.errors import ApiError
from service.api.security import require_scope


class RefSchema(ma.Schema):
    type = ma.fields.String(required=True)
    id = ma.fields.String(required=True)


class ProbeBodySchema(ma.Schema):
    actor = ma.fields.Nested(RefSchema, required=True)
    action = ma.fields.String(required=True)


def probe_blueprint() -> Blueprint:
    blp = Blueprint("probe", __name__, url_prefix="/_probe")

    @blp.route("/check", methods=["POST"])
    @require_scope("check")
    @blp.arguments(ProbeBodySchema)
    def check_view(body: dict[str, Any]) -> dict[str, Any]:
        return {"key": g.api_key_name, "body": body}

    @blp.route("/admin", methods=["POST", "GET"])
    @require_scope("admin")
    def admin_view() -> dict[str, Any]:
        return {"key": g.api_key_name}

    @blp.route("/boom")
    def boom() -> None:
        raise RuntimeError("database password is hunter2")

    @blp.route("/db-gone")
    def db_gone() -> None:
        raise OperationalError("SELECT 1", {}, Exception("server closed the connection"))

    @blp.route("/db-integrity")
    def db_integrity() -> None:
        raise IntegrityError("INSERT ...", {}, Exception("duplicate key value"))

    @blp.route("/conflict")
    def conflict() -> None:
        raise ApiError(409, "conflict", "That id is taken.", {"id": "d-1"})

    @blp.route("/abort")
    def smorest_abort() -> None:
        flask_smorest.abort(409, message="Taken, says flask-smorest.")

    return blp


def plain_smorest_blueprint() -> flask_smorest.Blueprint:
    """A blueprint on flask-smorest's own parser, which answers invalid input with 422."""
    blp = flask_smorest.Blueprint("plain", __name__, url_prefix="/_plain")

    @blp.route("/check", methods=["POST"])
    @blp.arguments(ProbeBodySchema)
    def plain_check(body: dict[str, Any]) -> dict[str, Any]:
        return body

    return blp


@pytest.fixture(scope="session")
def probe_app(make_app: Callable[..., Flask], app: Flask) -> Flask:
    """The service with the probe routes (and no policy engine: these tests need none)."""
    application = make_app(LOAD_POLICY=False)
    api = application.extensions["api"]
    api.register_blueprint(probe_blueprint())
    api.register_blueprint(plain_smorest_blueprint())
    return application


@pytest.fixture
def probe_client(probe_app: Flask) -> FlaskClient:
    return probe_app.test_client()
