"""The HTTP layer: one flask-smorest blueprint per concern, one error shape."""

from __future__ import annotations

import flask_smorest
from webargs.flaskparser import FlaskParser


class _Parser(FlaskParser):
    # Invalid input is a 400 in this API (flask-smorest's default is 422).
    DEFAULT_VALIDATION_STATUS = 400


class Blueprint(flask_smorest.Blueprint):
    """A flask-smorest Blueprint whose @arguments document and raise 400 for invalid input.

    Plain flask-smorest blueprints work too: the error handler turns their 422 into the same 400.
    """

    ARGUMENTS_PARSER = _Parser()


def register_blueprints(api: flask_smorest.Api) -> None:
    """Register every blueprint of the service on `api` (routes and OpenAPI)."""
    from service.api import authzen, data, governed, health, queries

    api.register_blueprint(health.blp)
    api.register_blueprint(queries.blp)
    api.register_blueprint(data.blp)
    api.register_blueprint(governed.blp)
    api.register_blueprint(authzen.blp)
