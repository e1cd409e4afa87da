"""The HTTP layer: one flask-smorest blueprint per concern, one error shape."""

from __future__ import annotations

from typing import Any

import flask_smorest
from flask import request
from marshmallow import Schema
from webargs.flaskparser import FlaskParser, is_json_request

from service.api.memo import LOADED
from service.api.middleware import JSON_BODY


class _Parser(FlaskParser):
    # Invalid input is a 400 in this API (flask-smorest's default is 422).
    DEFAULT_VALIDATION_STATUS = 400

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._schemas: dict[type[Schema], Schema] = {}

    def _get_schema(self, argmap: Any, req: Any) -> Schema:
        """One instance per schema class, not one per request (webargs' default).

        Building a schema, and the nested schemas its fields build on first use, cost more than
        loading a small body. A marshmallow schema keeps no state between loads, so one
        instance serves every request.
        """
        if isinstance(argmap, type) and issubclass(argmap, Schema):
            found = self._schemas.get(argmap)
            if found is None:
                found = self._schemas[argmap] = argmap()
            return found
        schema: Schema = super()._get_schema(argmap, req)
        return schema

    def _raw_load_json(self, req: Any) -> Any:
        """The body the middleware parsed and checked for this request, else webargs' parse."""
        found = req.environ.get(JSON_BODY)
        if found is not None and is_json_request(req):
            return found
        return super()._raw_load_json(req)

    def parse(self, argmap: Any, req: Any = None, **kwargs: Any) -> Any:
        """Parse as webargs does; a schema with MEMOIZE = True reuses the load of the same bytes.

        Loading is a pure function of the schema and the body, and a body that fails is never
        kept, so a remembered body answers exactly as a fresh parse would (views must not change
        the loaded body in place).
        """
        kind = argmap if isinstance(argmap, type) else type(argmap)
        memoize = (
            issubclass(kind, Schema)
            and getattr(kind, "MEMOIZE", False)
            and kwargs.get("location") in (None, "json")
            and request.is_json
        )
        if not memoize:
            return super().parse(argmap, req, **kwargs)
        body = request.get_data(cache=True)
        found = LOADED.get(kind, body)
        if found is None:
            found = super().parse(argmap, req, **kwargs)
            LOADED.put(kind, body, found)
        return found


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
