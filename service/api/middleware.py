"""Per-request plumbing: the request id, and the JSON-object body every write endpoint takes."""

from __future__ import annotations

import json
import re
import uuid

from flask import Flask, Response, g, request

from service.api.errors import ApiError
from service.api.memo import CHECKED_JSON
from service.api.security import authenticate_request
from service.validation import UNSTORABLE_MESSAGE, nested_error, unstorable_text

REQUEST_ID_HEADER = "X-Request-ID"
# Visible ASCII only: no spaces or control characters that could forge log lines or headers.
_SANE_REQUEST_ID = re.compile(r"\A[\x21-\x7e]{1,128}\Z")
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
JSON_BODY = "yuki_authz.json_body"  # the request's parsed body, in the WSGI environ


def init_middleware(app: Flask) -> None:
    """Install the request hooks: the request id first so every later hook can log it, then the
    API key, so that a caller without one is refused before its body is read."""
    app.before_request(assign_request_id)
    app.before_request(authenticate_request)
    app.before_request(require_json_object_body)
    app.after_request(echo_request_id)


def assign_request_id() -> None:
    """Take the caller's X-Request-ID when it is sane, otherwise make one."""
    incoming = request.headers.get(REQUEST_ID_HEADER, "")
    g.request_id = incoming if _SANE_REQUEST_ID.match(incoming) else uuid.uuid4().hex


def echo_request_id(response: Response) -> Response:
    if "request_id" not in g:
        assign_request_id()
    response.headers[REQUEST_ID_HEADER] = g.request_id
    return response


def require_json_object_body() -> None:
    """Reject a non-empty body that is not a JSON object sent as application/json."""
    if request.method not in _BODY_METHODS or request.routing_exception is not None:
        return  # unknown paths and methods answer 404/405, whatever the body
    body = request.get_data(cache=True)  # over MAX_CONTENT_LENGTH: werkzeug raises 413
    if not body:
        return  # the view's own validation names the missing fields
    if not request.is_json:
        raise ApiError(
            400,
            "invalid_json",
            "Send the body as a JSON object with Content-Type: application/json.",
            {"content_type": request.mimetype or None},
        )
    if CHECKED_JSON.get(None, body):
        return  # these exact bytes passed every check below before
    try:
        parsed = json.loads(body, parse_constant=_reject_constant)
    except UnicodeDecodeError:
        raise ApiError(400, "invalid_json", "The body is not UTF-8 encoded JSON.") from None
    except RecursionError:
        raise ApiError(400, "invalid_json", "The body nests too deeply.") from None
    except json.JSONDecodeError as exc:
        raise ApiError(
            400,
            "invalid_json",
            f"The body is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}.",
            {"line": exc.lineno, "column": exc.colno},
        ) from None
    except _NotJson as exc:
        raise ApiError(400, "invalid_json", f"The body is not valid JSON: {exc}.") from None
    except ValueError:  # e.g. an integer of more than 4300 digits
        raise ApiError(
            400, "invalid_json", "The body is not valid JSON: a value is too large."
        ) from None
    if not isinstance(parsed, dict):
        raise ApiError(
            400,
            "invalid_json",
            f"The body must be a JSON object, not {_json_type(parsed)}.",
        )
    # JSON can carry NUL or a lone surrogate only as a `\u` escape (raw control characters and
    # invalid UTF-8 fail above), and a UTF-16 or UTF-32 body always holds zero bytes: a body
    # with neither has no unstorable text, and its strings need not be walked.
    bad = unstorable_text(parsed) if b"\\u" in body or b"\x00" in body else None
    if bad is not None:
        # Valid JSON, but no database can store it: name the field instead of failing later.
        raise ApiError(
            400,
            "invalid_request",
            "The request is invalid: fix the fields listed in details.",
            {"json": nested_error(bad, UNSTORABLE_MESSAGE)},
        )
    CHECKED_JSON.put(None, body, True)
    # The views' parser reads this instead of parsing the body again (kept on the request
    # itself: `g` outlives a request when a caller holds an app context across requests).
    request.environ[JSON_BODY] = parsed


class _NotJson(ValueError):
    pass


def _reject_constant(name: str) -> None:
    raise _NotJson(f"{name} is not a JSON value")


def _json_type(value: object) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    return "null"
