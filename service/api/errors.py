"""One error shape for every failure: {"error": {"code", "message", "details"}}."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any

import marshmallow as ma
from flask import Flask, Response, g, jsonify, request
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)

# Codes for the HTTP errors werkzeug and flask-smorest raise; others are derived from the name.
_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    412: "precondition_failed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    428: "precondition_required",
    429: "too_many_requests",
    500: "internal_error",
    503: "service_unavailable",
}
_INTERNAL_MESSAGE = (
    "Internal error: the service failed to answer. Retry later or report the request id."
)
# webargs answers a JSON body it cannot parse with exactly these messages.
_WEBARGS_INVALID_JSON = {"json": ["Invalid JSON body."]}


class ApiError(Exception):
    """An error a view raises to answer `status` with the error shape."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        if not 400 <= status <= 599:
            raise ValueError(f"ApiError status must be 4xx or 5xx, not {status}")
        self.status = status
        self.code = code
        self.message = message
        self.details = dict(details or {})
        self.headers = dict(headers or {})

    def __repr__(self) -> str:
        return f"ApiError({self.status}, {self.code!r}, {self.message!r})"


def error_response(
    status: int,
    code: str,
    message: str,
    details: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """Build the JSON error response."""
    response = jsonify(
        {"error": {"code": code, "message": message, "details": dict(details or {})}}
    )
    response.status_code = status
    for name, value in (headers or {}).items():
        response.headers[name] = value
    if status == 401 and "WWW-Authenticate" not in response.headers:
        response.headers["WWW-Authenticate"] = "Bearer"
    return response


def register_error_handlers(app: Flask) -> None:
    """Answer every error, ours, werkzeug's, flask-smorest's and unexpected ones, in one shape."""
    app.register_error_handler(ApiError, _handle_api_error)
    # Registered after flask-smorest's Api, so this one replaces its HTTPException handler.
    app.register_error_handler(HTTPException, _handle_http_exception)
    app.register_error_handler(DBAPIError, _handle_database_error)
    app.register_error_handler(Exception, _handle_unexpected)


def _handle_api_error(error: ApiError) -> Response:
    return error_response(error.status, error.code, error.message, error.details, error.headers)


def _handle_http_exception(error: HTTPException) -> Response:
    status = error.code or 500
    if status >= 500:
        return _internal(error)
    data: Mapping[str, Any] = getattr(error, "data", None) or {}
    headers = {name: value for name, value in error.get_headers() if name.lower() != "content-type"}
    headers.update(data.get("headers") or {})
    messages = data.get("messages")

    # Validation errors from webargs / flask-smorest: 422 by default, 400 in this API.
    if messages is not None and status in (400, 422):
        if messages == _WEBARGS_INVALID_JSON:
            return error_response(400, "invalid_json", "The body is not valid JSON.", {}, headers)
        return error_response(
            400,
            "invalid_request",
            "The request is invalid: fix the fields listed in details.",
            _plain(messages),
            headers,
        )

    code = _HTTP_CODES.get(status) or _snake(error.name)
    message = data.get("message") or _message_for(error, status)
    details = data.get("errors") or data.get("details") or {}
    return error_response(status, code, str(message), _plain(details), headers)


def _message_for(error: HTTPException, status: int) -> str:
    if error.description and error.description != type(error).description:
        return error.description  # a message given where the error was raised
    if status == 404:
        return f"No such path: {request.path}. See /openapi.json for the endpoints."
    if status == 405:
        allowed = ", ".join(getattr(error, "valid_methods", None) or [])
        return f"Method {request.method} is not allowed on {request.path}; use {allowed}."
    if status == 413:
        limit = request.max_content_length
        return f"The body is too large: send at most {limit} bytes."
    if status == 415:
        return "Unsupported Content-Type: send JSON with Content-Type: application/json."
    return error.description or error.name


def _handle_unexpected(error: Exception) -> Response:
    return _internal(error)


def _handle_database_error(error: DBAPIError) -> Response:
    """The database cannot be reached (down, restarting, a dropped connection, SQLite busy or
    unopenable): a 503 the caller may retry. Any other database error is a bug: a 500."""
    unavailable = isinstance(error, (OperationalError, InterfaceError))
    if not (unavailable or error.connection_invalidated):
        return _internal(error)
    return _failure(
        error,
        "Database unavailable",
        503,
        "database_unavailable",
        "The database is unavailable: retry later (see /readyz).",
        {"Retry-After": "1"},
    )


def _internal(error: BaseException) -> Response:
    return _failure(error, "Unhandled error", 500, "internal_error", _INTERNAL_MESSAGE)


def _failure(
    error: BaseException,
    what: str,
    status: int,
    code: str,
    message: str,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """Log the traceback with the request id, and answer only the id: never the internals."""
    original = getattr(error, "original_exception", None) or error
    log.error(
        "%s on %s %s (request_id=%s)",
        what,
        request.method,
        request.path,
        g.get("request_id", "-"),
        exc_info=(type(original), original, original.__traceback__),
    )
    return error_response(status, code, message, {"request_id": g.get("request_id")}, headers)


def _snake(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_") or "error"


def _plain(value: Any) -> Any:
    """Make validation messages JSON-safe (marshmallow may nest dicts keyed by ints)."""
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value if isinstance(value, str | int | float | bool) or value is None else str(value)


class ErrorBodySchema(ma.Schema):
    code = ma.fields.String(
        required=True, metadata={"description": "Machine-readable code, e.g. invalid_request"}
    )
    message = ma.fields.String(
        required=True, metadata={"description": "What went wrong and what to do"}
    )
    details = ma.fields.Dict(
        metadata={"description": "Field errors for invalid_request; otherwise context"}
    )


class ErrorSchema(ma.Schema):
    """The error shape, for the OpenAPI document."""

    error = ma.fields.Nested(ErrorBodySchema, required=True)
