"""No client input gets a 5xx: every route of `app.url_map`, fuzzed.

api.md: "Never a 500 for anything a client can send". For every route and method the app
serves, odd path parameters, query strings, JSON bodies, raw bodies and headers are sent, and
each answer must be below 500 (a 503 needs a database that is really gone, never the case here),
every error answer must be `{"error": {"code": str, "message": str, ...}}`, and every answer
must carry `X-Request-ID`. The routes come from the app itself, so a new route is fuzzed as soon
as it exists; its body fields and headers come from /openapi.json.

Two kinds of test: sweeps send a valid seed request (SEED_BODIES, SEED_PATH) with one place
spoiled by each odd value in turn, so the odd value reaches past the other checks into the view,
and fail listing every distinct bad answer with the traceback's cause; hypothesis then tries
random combinations. Deterministic (derandomized, no example database) and bounded (EXAMPLES).
A write that went through (the data revision moved) makes the next request start from a fresh
base world.
"""

from __future__ import annotations

import copy
import json
import logging
import re
import traceback
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from werkzeug.test import TestResponse

from service import create_app, models
from service.authz import encode_cursor
from service.db import db, dispose_engines
from tests.conftest import ADMIN_SECRET, CHECK_SECRET, app_config, delete_all_rows
from tests.integration.support import base_world, replaced

EXAMPLES = 25  # per route and kind of input (about 100 hypothesis runs in all)
FUZZ = settings(
    max_examples=EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    print_blob=False,
    suppress_health_check=list(HealthCheck),
)

ADMIN = {"Authorization": f"Bearer {ADMIN_SECRET}"}
CHECK = {"Authorization": f"Bearer {CHECK_SECRET}"}
ACTING = "PortalUser:u-admin"  # a PortalAdministrator of p-1 in the base world (by default)
HTTP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


# --- the routes ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    method: str
    rule: str  # werkzeug syntax: /v1/domains/<did>
    arguments: tuple[str, ...]  # path parameters, in the order they appear
    openapi_path: str  # OpenAPI syntax: /v1/domains/{did}
    endpoint: str = ""

    @property
    def id(self) -> str:
        return f"{self.method} {self.rule}"

    def path(self, values: dict[str, str]) -> str:
        out = self.rule
        for name, converter in _converters(self.rule):
            raw = quote(values[name], safe="", errors="surrogatepass")
            out = out.replace(f"<{converter}{name}>", raw)
        return out


def _converters(rule: str) -> list[tuple[str, str]]:
    """[(name, "path:" or "")] of the rule's parameters, in order."""
    out = []
    for piece in rule.split("<")[1:]:
        inner = piece.split(">", 1)[0]
        converter, _, name = inner.rpartition(":")
        out.append((name, f"{converter}:" if converter else ""))
    return out


def app_routes(app: Flask) -> list[Route]:
    routes = []
    for rule in app.url_map.iter_rules():
        names = tuple(name for name, _ in _converters(rule.rule))
        openapi = rule.rule
        for name, converter in _converters(rule.rule):
            openapi = openapi.replace(f"<{converter}{name}>", "{" + name + "}")
        for method in sorted((rule.methods or set()) & set(HTTP_METHODS)):
            routes.append(Route(method, rule.rule, names, openapi, rule.endpoint))
    return sorted(routes, key=lambda r: (r.rule, r.method))


def _collect_routes() -> list[Route]:
    """The routes, read at collection time from an app like the session one (no policy, no DB)."""
    app = create_app(app_config("sqlite://", LOAD_POLICY=False, DECISION_CACHE=False))
    try:
        return app_routes(app)
    finally:
        dispose_engines(app)


ROUTES = _collect_routes()
BODY_ROUTES = [r for r in ROUTES if r.method in ("POST", "PUT", "PATCH")]
QUERY_ROUTES = [r for r in ROUTES if r.method == "GET"]
PATH_ROUTES = [r for r in ROUTES if r.arguments]


def by_id(routes: list[Route]) -> Any:
    return pytest.mark.parametrize("route", routes, ids=[r.id for r in routes])


def test_the_fuzzed_routes_are_the_apps_routes(app):
    assert {r.id for r in app_routes(app)} == {r.id for r in ROUTES}
    assert len(ROUTES) > 30 and BODY_ROUTES and QUERY_ROUTES and PATH_ROUTES


# --- valid inputs, to be spoiled one piece at a time ------------------------------------------

# Path parameters that name things of the base world (tests/integration/support.py).
SEED_PATH = {
    "pid": "p-1",
    "did": "d-1",
    "uid": "du-ann",
    "function": "Responsible",
    "role": "Backoffice",
    "filename": "x.txt",
}
# Rules (or "METHOD rule"s) starting with these: other path values, and who acts (an
# entrepreneur-side operation).
SEED_PATH_BY_PREFIX = {
    "/v1/portals/<pid>/users/<uid>": {"uid": "u-de"},
    "DELETE /v1/domains/<did>/users/<uid>/roles/<role>": {"role": "Sales"},
}
ACTING_BY_PREFIX = {
    "/v1/domains/<did>/plan": "DomainUser:du-boss",
    "/v1/domains/<did>/users": "DomainUser:du-boss",
}

AUTHORIZE = {
    "actor": {"type": "PortalUser", "id": "u-bo"},
    "action": "process",
    "resource": {"type": "Domain", "id": "d-1"},
    "context": {"at": "2022-06-20T10:00:00+02:00"},
}
AUTHZEN = {
    "subject": {"type": "PortalUser", "id": "u-bo", "properties": {}},
    "action": {"name": "process"},
    "resource": {"type": "Domain", "id": "d-1"},
    "context": {"at": "2022-06-20T10:00:00+02:00"},
}
SEED_BODIES: dict[str, Any] = {
    "POST /v1/authorize": AUTHORIZE,
    "POST /v1/explain": AUTHORIZE,
    "POST /v1/authorize/batch": {"checks": [AUTHORIZE, {**AUTHORIZE, "action": "open"}]},
    "POST /v1/list-resources": {
        "actor": {"type": "PortalUser", "id": "u-bo"},
        "action": "process",
        "resource_type": "Domain",
        "limit": 2,
        "cursor": None,
        "context": {"at": "2022-06-20T10:00:00+02:00"},
    },
    "POST /v1/list-actors": {
        "action": "process",
        "resource": {"type": "Domain", "id": "d-1"},
        "actor_type": "PortalUser",
        "limit": 2,
        "cursor": None,
        "context": {},
    },
    "POST /v1/actions": {
        "actor": {"type": "PortalUser", "id": "u-bo"},
        "resource": {"type": "Domain", "id": "d-1"},
        "context": {"at": "2022-06-20T10:00:00+02:00"},
    },
    "POST /v1/import": {
        "portals": [{"id": "p-9", "name": "Fuzz", "country": "BE"}],
        "portal_users": [
            {
                "id": "u-9",
                "portal_id": "p-9",
                "email": "u9@office.example",
                "name": "U9",
                "role": "PortalAdministrator",
                "scope": "portal",
                "created_at": "2021-06-15T09:00:00+02:00",
                "converted_at": None,
            }
        ],
        "domains": [
            {
                "id": "d-9",
                "portal_id": "p-9",
                "name": "fuzz",
                "plan": "Medium",
                "pricing_model": "bundle",
                "shielded": False,
                "bo_access_authorized": True,
                "pending_plan": None,
                "pending_plan_from": None,
                "guest_discount": {
                    "percent": 50,
                    "months": 24,
                    "starts_on": "2022-01-20",
                },
            }
        ],
        "staff": [{"domain_id": "d-9", "user_id": "u-9", "function": "Responsible"}],
        "administrations": [{"id": "a-9", "domain_id": "d-9", "name": "Fuzz BV"}],
        "domain_users": [
            {
                "id": "du-9",
                "domain_id": "d-9",
                "email": "du9@client.example",
                "name": "Du9",
                "roles": ["Management"],
                "is_owner": True,
                "administrations": ["a-9"],
            }
        ],
    },
    "POST /v1/portals/<pid>/users": {
        "id": "u-new",
        "email": "new@office.example",
        "name": "New",
        "role": "PortalBackoffice",
        "scope": "assigned",
    },
    "PUT /v1/portals/<pid>/users/<uid>/role": {
        "role": "PortalBackoffice",
        "scope": "portal",
    },
    "POST /v1/portals/<pid>/domains": {
        "id": "d-new",
        "name": "new domain",
        "plan": "Small",
        "pricing_model": "bundle",
        "owner": {"id": "du-new", "email": "o@client.example", "name": "Owner"},
    },
    "POST /v1/portals/<pid>/guest-conversion": {"dry_run": True},
    "PUT /v1/domains/<did>/staff/<function>": {"user_id": "u-de"},
    "PUT /v1/domains/<did>/shielded": {"shielded": True},
    "PUT /v1/domains/<did>/bo-access": {"authorized": False},
    "PUT /v1/domains/<did>/plan": {"plan": "Small"},
    "POST /v1/domains/<did>/users": {
        "id": "du-new",
        "email": "n@client.example",
        "name": "New",
        "roles": ["Sales", "Backoffice"],
        "administrations": ["a-1"],
    },
    "POST /access/v1/evaluation": AUTHZEN,
    "POST /access/v1/evaluations": {
        **AUTHZEN,
        "evaluations": [
            {"action": {"name": "open"}},
            {"resource": {"type": "Domain", "id": "d-2"}},
        ],
        "options": {"evaluations_semantic": "deny_on_first_deny"},
    },
    "POST /access/v1/search/subject": {
        "subject": {"type": "PortalUser"},
        "action": {"name": "process"},
        "resource": {"type": "Domain", "id": "d-1"},
        "page": {"limit": 2, "token": None},
    },
    "POST /access/v1/search/resource": {
        "subject": {"type": "PortalUser", "id": "u-bo"},
        "action": {"name": "process"},
        "resource": {"type": "Domain"},
        "page": {"limit": 2},
    },
    "POST /access/v1/search/action": {
        "subject": {"type": "PortalUser", "id": "u-bo"},
        "resource": {"type": "Domain", "id": "d-1"},
        "page": {"limit": 2},
    },
}
# Query parameters the GET routes read (and a few they do not).
QUERY_KEYS = (
    "limit",
    "cursor",
    "actor",
    "portal_id",
    "domain_id",
    "since",
    "until",
    "at",
)


def _by_prefix(table: dict[str, Any], route: Route, default: Any) -> Any:
    found = (v for k, v in table.items() if route.rule.startswith(k) or route.id.startswith(k))
    return next(found, default)


def seed_path(route: Route) -> dict[str, str]:
    values = {**SEED_PATH, **_by_prefix(SEED_PATH_BY_PREFIX, route, {})}
    return {name: values.get(name, "x-1") for name in route.arguments}


def seed_headers(route: Route) -> dict[str, str]:
    return {**ADMIN, "X-Acting-User": _by_prefix(ACTING_BY_PREFIX, route, ACTING)}


# --- odd values ------------------------------------------------------------------------------

ODD_TEXT = [
    "",
    " ",
    "²",
    "\u0661\u0662",  # Arabic-Indic digits: str.isdigit() and int() take them
    "\U0001d7d9\U0001d7d8",  # mathematical double-struck digits
    "0",
    "-1",
    "1e3",
    "99999999999999999999999",
    "-99999999999999999999999",
    "9223372036854775808",
    "\x00",
    "a\x00b",
    "%00",
    "\n",
    "d-1\n",
    "du-ann\n",
    "d-1 ",
    "\td-1",
    "\r\n",
    "\ud800",
    "\udfff",
    "\ufeff",
    "é",
    "🙂",
    "x" * 65,
    "x" * 5000,
    "../../etc/passwd",
    "PortalUser:u-admin",
    "PortalUser:u-admin\n",
    "DomainUser:du-boss",
    "PortalUser:",
    ":u-admin",
    "null",
    "NaN",
    "[]",
    "2022-06-20T10:00:00+02:00",
    "2022-06-20T10:00:00",
    "9999-12-31T23:59:59+14:00",
    "0001-01-01T00:00:00-14:00",
    "2022-02-30T10:00:00+02:00",
    "2022-06-20T10:00:00+99:00",
    "'; DROP TABLE domains; --",
    "%s%s%n{0}",
]
# Valid words of the vocabulary, so that some values get past the first checks.
VOCABULARY = [
    "p-1",
    "d-1",
    "d-x",
    "u-admin",
    "u-bo",
    "du-boss",
    "a-1",
    "PortalUser",
    "DomainUser",
    "Domain",
    "process",
    "open",
    "Backoffice",
    "Management",
    "Responsible",
    "PortalAdministrator",
    "PortalGuest",
    "Medium",
    "Trial",
    "legacy_modules",
    "assigned",
]
ODD_CURSORS = [
    encode_cursor(value)
    for value in (
        "99999999999999999999999",
        "-99999999999999999999999",
        "9223372036854775808",
    )
] + [encode_cursor("²"), encode_cursor("1", "2"), encode_cursor("d-1\n"), "W10", "%%%"]
HUGE_INTS = [2**31, 2**63 - 1, 2**63, 2**64, -(2**63) - 1, 10**23, -(10**23), 10**300]
# JSON values to put in each place of a valid body, one place at a time.
ODD_JSON: list[Any] = [
    None,
    True,
    -1,
    1.5,
    10**23,
    "",
    "²",
    "d-1\n",
    "x" * 5000,
    "9999-12-31T23:59:59+14:00",
    "2022-06-20T10:00:00",
    [],
]
# Values a WSGI server can hand over in a header: latin-1 text without CR or LF.
ODD_HEADERS = [
    "",
    "\x00",
    "x" * 8000,
    "PortalUser:u-admin\t",
    "PortalUser:\x00",
    "DomainUser:du-boss",
    "Robot:u-admin",
    "\xff\xfe",
    "k" * 201,
]
# The headers every route reads (the middleware), with fewer values each.
ODD_COMMON_HEADERS = {
    "X-Request-ID": ["", "\x00", "x" * 129, "\xe9"],
    "Authorization": ["", "Bearer ", "Bearer \x00", "Bearer \xe9", "Basic eDp4"],
}
ID_ALPHABET = "abcdefghijklmnopqrstuvwxyzABCXYZ0123456789._:-"

odd_text = st.one_of(
    st.sampled_from(ODD_TEXT),
    st.sampled_from(VOCABULARY),
    st.sampled_from(ODD_CURSORS),
    st.text(max_size=40),
    st.text(st.characters(codec="utf-8"), max_size=20),  # lone surrogates too
    st.text(ID_ALPHABET, max_size=70),
)
json_scalar = st.one_of(
    st.sampled_from(ODD_JSON),
    st.none(),
    st.booleans(),
    st.integers(),
    st.sampled_from(HUGE_INTS),
    st.floats(allow_nan=False, allow_infinity=False),
    odd_text,
)
json_value = st.recursive(
    json_scalar,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(odd_text, inner, max_size=4),
    ),
    max_leaves=8,
)


def nest(depth: int, leaf: Any, kind: str) -> Any:
    out = leaf
    for _ in range(depth):
        out = [out] if kind == "list" else {"a": out}
    return out


deep_value = st.builds(nest, st.integers(50, 400), json_scalar, st.sampled_from(["list", "dict"]))
any_json = st.one_of(json_value, deep_value)
header_text = st.one_of(
    st.sampled_from(ODD_HEADERS),
    st.text(st.characters(min_codepoint=0, max_codepoint=255, exclude_characters="\r\n")),
    st.text(
        st.characters(min_codepoint=0x21, max_codepoint=0x7E),
        min_size=100,
        max_size=300,
    ),
)


def json_paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every place in a JSON value, the value itself included (the empty path)."""
    yield prefix
    if isinstance(value, dict):
        for key, item in value.items():
            yield from json_paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from json_paths(item, (*prefix, index))


def shape(value: Any) -> Any:
    if isinstance(value, dict):
        return tuple(sorted((key, shape(item)) for key, item in value.items()))
    if isinstance(value, list):
        return tuple(shape(item) for item in value)
    return type(value).__name__


def places(seed: Any) -> list[tuple[Any, ...]]:
    """The places of a body to spoil; of list items shaped like the first, only the first."""
    out = []
    for path in json_paths(seed):
        node, repeated = seed, False
        for key in path:
            if isinstance(node, list) and key > 0 and shape(node[key]) == shape(node[0]):
                repeated = True
            node = node[key]
        if path and not repeated:
            out.append(path)
    return out


@st.composite
def spoiled(draw: st.DrawFn, seed: Any) -> Any:
    """The seed with one to three places replaced, dropped, or given an extra key."""
    body = copy.deepcopy(seed)
    for _ in range(draw(st.integers(1, 3))):
        paths = [p for p in json_paths(body) if p]
        if not paths:
            return draw(any_json)
        path = draw(st.sampled_from(paths))
        parent = body
        for key in path[:-1]:
            parent = parent[key]
        key = path[-1]
        what = draw(st.sampled_from(["replace", "replace", "replace", "drop", "extra"]))
        if what == "replace":
            parent[key] = draw(st.one_of(any_json, st.sampled_from(VOCABULARY)))
        elif what == "drop":
            del parent[key]
        elif isinstance(parent[key], dict):
            parent[key][draw(odd_text)] = draw(json_value)
        else:
            parent[key] = draw(json_value)
    return body


def schema_fields(spec: dict[str, Any], schema: Any, depth: int = 0) -> dict[str, Any]:
    """{field: sub-fields} of an OpenAPI schema, $refs followed, three levels deep."""
    if not isinstance(schema, dict) or depth > 3:
        return {}
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return schema_fields(spec, spec["components"]["schemas"].get(name), depth)
    if schema.get("type") == "array":
        return schema_fields(spec, schema.get("items"), depth)
    return {
        name: schema_fields(spec, sub, depth + 1)
        for name, sub in (schema.get("properties") or {}).items()
    }


@st.composite
def shaped(draw: st.DrawFn, fields: dict[str, Any]) -> Any:
    """An object with (some of) the fields a schema names, each of a random value or shape."""
    out: dict[str, Any] = {}
    for name, sub in fields.items():
        if draw(st.booleans()):
            if sub and draw(st.booleans()):
                inner = draw(shaped(sub))
                out[name] = [inner] if draw(st.booleans()) else inner
            else:
                out[name] = draw(any_json)
    return out


def _quoted(text: str) -> str:
    return quote(text, safe="", errors="surrogatepass")


query_string = st.one_of(
    st.lists(
        st.tuples(st.one_of(st.sampled_from(QUERY_KEYS), odd_text), odd_text),
        min_size=1,
        max_size=4,
    ).map(lambda pairs: "&".join(f"{_quoted(k)}={_quoted(v)}" for k, v in pairs)),
    # Raw bytes a client can put in a query string: bad escapes, invalid UTF-8, bare keys.
    st.lists(
        st.tuples(
            st.sampled_from(QUERY_KEYS),
            st.sampled_from(["%00", "%FF", "%ED%A0%80", "%", "%zz", "+", "²", "&", "=", ""]),
        ),
        min_size=1,
        max_size=3,
    ).map(lambda pairs: "&".join(f"{k}={v}" for k, v in pairs)),
)


# --- the requests, and what every answer must be ----------------------------------------------


class BadAnswer(AssertionError):
    """An answer breaking the contract; `key` tells one failure from another."""

    def __init__(self, message: str, key: tuple[Any, ...]) -> None:
        super().__init__(message)
        self.key = key


class ServerErrors(logging.Handler):
    """Keep the tracebacks the error handler logs, by request id, to name them in failures."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.by_request: dict[str, str] = {}

    def emit(self, record: logging.LogRecord) -> None:
        exc = record.exc_info[1] if record.exc_info else None
        if exc is None or not isinstance(record.args, tuple) or not record.args:
            return
        frames = traceback.extract_tb(exc.__traceback__)
        ours = [f for f in frames if "/service/" in f.filename]
        where = [frames[-1], *(f for f in ours[-1:] if f is not frames[-1])] if frames else []
        at = " in ".join(f"{f.filename.rsplit('/', 1)[-1]}:{f.lineno} {f.name}" for f in where)
        first_line = str(exc).strip().split("\n", 1)[0][:200]
        self.by_request[str(record.args[-1])] = f"{type(exc).__name__} at {at}: {first_line}"


@pytest.fixture(scope="module")
def server_errors() -> Iterator[ServerErrors]:
    handler = ServerErrors()
    logger = logging.getLogger("service.api.errors")
    logger.addHandler(handler)
    yield handler
    logger.removeHandler(handler)


def check_answer(response: TestResponse, errors: ServerErrors, route: Route, what: str) -> None:
    """Below 500, X-Request-ID set, and any error in the documented shape."""
    status = response.status_code
    rid = response.headers.get("X-Request-ID") or ""
    if status >= 500:
        cause = errors.by_request.get(rid, "no traceback logged")
        raise BadAnswer(f"{status} for {what}\n    {cause}", (route.id, status, cause[:120]))
    if not rid:
        raise BadAnswer(f"no X-Request-ID on a {status} for {what}", (route.id, "request id"))
    if status < 400:
        return
    body = response.get_json(silent=True)
    error = body.get("error") if isinstance(body, dict) else None
    if not (
        isinstance(body, dict)
        and set(body) == {"error"}
        and isinstance(error, dict)
        and isinstance(error.get("code"), str)
        and error["code"]
        and isinstance(error.get("message"), str)
        and error["message"]
        and isinstance(error.get("details", {}), dict)
    ):
        shown = response.get_data(as_text=True)[:200]
        raise BadAnswer(f"{status} {shown!r} for {what}", (route.id, status, "shape"))


def load_world(app: Flask) -> int:
    """Load the base world on empty tables; return the data revision it leaves."""
    delete_all_rows(app)
    response = app.test_client().post("/v1/import", json=base_world(), headers=ADMIN)
    assert response.status_code == 200, response.json
    return data_revision(app)


def data_revision(app: Flask) -> int:
    """The revision every write bumps (service/models/revision.py)."""
    with app.app_context(), db.engine.connect() as connection:
        value = connection.scalar(
            select(models.DataRevision.value).where(models.DataRevision.id == 1)
        )
    return int(value or 0)


@dataclass
class Fuzzer:
    """Sends requests to one route; starts each from the base world if a write went through."""

    app: Flask
    client: FlaskClient
    errors: ServerErrors
    revision: int | None = None  # after the world was loaded; None: load it

    def wrote(self, response: TestResponse, method: str) -> None:
        """Note a write that went through (a query answers 2xx to a POST too, writing nothing)."""
        wrote = response.status_code < 300 and method != "GET"
        if wrote and data_revision(self.app) != self.revision:
            self.revision = None

    def send(
        self,
        route: Route,
        *,
        path: dict[str, str] | None = None,
        query: str = "",
        body: Any = None,
        raw: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> TestResponse:
        """Send (seed path, seed headers and seed body unless given); check the answer."""
        if self.revision is None:
            self.revision = load_world(self.app)
        seeded = headers is None
        headers = dict(seed_headers(route) if headers is None else headers)
        url = route.path(path if path is not None else seed_path(route))
        data = raw
        if data is None and body is not None:
            data = json.dumps(body).encode("utf-8", "surrogatepass")
        if data is None and route.method in ("POST", "PUT", "PATCH"):
            data = json.dumps(SEED_BODIES.get(route.id, {})).encode()
        content_type = headers.pop("Content-Type", "application/json")
        response = self.client.open(
            url,
            method=route.method,
            query_string=query or None,
            data=data,
            content_type=content_type if data is not None else None,
            headers=headers,
        )
        self.wrote(response, route.method)
        shown = f"{data!r:.300}" if data is not None else "-"
        what = f"{route.method} {url}{'?' + query if query else ''} body={shown}"
        what += "" if seeded else f" headers={headers} content-type={content_type!r}"
        check_answer(response, self.errors, route, what)
        return response

    def sweep(self, route: Route, cases: list[dict[str, Any]]) -> None:
        """Send every case; fail naming each distinct bad answer (the first input that got it)."""
        found: dict[tuple[Any, ...], str] = {}
        for case in cases:
            try:
                self.send(route, **case)
            except BadAnswer as bad:
                found.setdefault(bad.key, str(bad))
        if found:
            pytest.fail(f"{len(found)} distinct bad answers:\n" + "\n".join(found.values()))


@pytest.fixture(scope="module")
def fuzzer(app: Flask, server_errors: ServerErrors) -> Iterator[Fuzzer]:
    """The base world, loaded once for the module (and again after a write that succeeded)."""
    fuzz = Fuzzer(app, app.test_client(), server_errors)
    yield fuzz
    delete_all_rows(app)


_SPEC: dict[str, Any] = {}


def openapi_operation(app: Flask, route: Route) -> dict[str, Any]:
    if not _SPEC:
        _SPEC.update(app.test_client().get("/openapi.json").get_json())
    operation = _SPEC["paths"].get(route.openapi_path, {}).get(route.method.lower(), {})
    return operation if isinstance(operation, dict) else {}


def openapi_fields(app: Flask, route: Route) -> dict[str, Any]:
    """The fields of the route's JSON body, as /openapi.json documents them."""
    content = openapi_operation(app, route).get("requestBody", {}).get("content", {})
    return schema_fields(_SPEC, content.get("application/json", {}).get("schema"))


# --- every route, each place of its input, each odd value (a deterministic sweep) ------------


@by_id(ROUTES)
def test_the_seed_request_succeeds(fuzzer, route):
    """The unspoiled request works: the sweeps below spoil one piece and keep the rest valid."""
    response = fuzzer.send(route)
    if route.endpoint != "static":  # no static files: 404
        assert response.status_code < 400, response.get_json(silent=True)


@by_id(PATH_ROUTES)
def test_odd_path_parameters_never_500(fuzzer, route):
    cases = [
        {"path": {**seed_path(route), name: value}}
        for name in route.arguments
        for value in ODD_TEXT
    ]
    fuzzer.sweep(route, cases)


# Query values as sent (percent-encoded where they need it).
QUERY_VALUES = [
    "",
    "²",
    "%C2%B2",
    "\u0661",
    "%F0%9D%9F%99",  # a double-struck 1
    "0",
    "-1",
    "1e3",
    "1.5",
    "%205",
    "1001",
    "99999999999999999999999",
    "%00",
    "a%00b",
    "%0A",
    "d-1%0A",
    "%ED%A0%80",
    "%FF",
    "%",
    "+",
    "x" * 65,
    "x" * 5000,
    "PortalUser:u-admin%0A",
    "PortalUser:",
    "2022-06-20T10:00:00",
    "9999-12-31T23:59:59%2B14:00",
    "0001-01-01T00:00:00-14:00",
    "2022-02-30T10:00:00%2B02:00",
    *ODD_CURSORS,
]


def is_api(route: Route) -> bool:
    """The service's own API (the rest are operations pages: health, metrics, docs)."""
    return route.rule.startswith(("/v1/", "/access/"))


@by_id(QUERY_ROUTES)
def test_odd_query_parameters_never_500(fuzzer, route):
    values = QUERY_VALUES if is_api(route) else QUERY_VALUES[::6]
    cases = [{"query": f"{key}={value}"} for key in QUERY_KEYS for value in values]
    fuzzer.sweep(route, cases)


@by_id(BODY_ROUTES)
def test_odd_values_in_each_place_of_the_body_never_500(fuzzer, route):
    seed = SEED_BODIES.get(route.id, {})
    cases = [{"body": replaced(seed, place, value)} for place in places(seed) for value in ODD_JSON]
    cases += [{"body": {**seed, "unexpected": 1}}] if isinstance(seed, dict) else []
    fuzzer.sweep(route, cases)


# Bodies no JSON encoder makes.
RAW_BODIES = [
    b"[" * 100_000 + b"]" * 100_000,
    b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
    b'{"limit": ' + b"9" * 5000 + b"}",
    b'{"limit": 1e999999}',
    b'{"a": NaN}',
    b'{"a": -Infinity}',
    b'{"a": "\\ud800"}',
    b'{"\\u0000": 1}',
    b'{"a": "\xff\xfe"}',
    b"\xef\xbb\xbf{}",  # a UTF-8 byte order mark
    "{}".encode("utf-16"),
    "{}".encode("utf-32"),
    b'{"a": 1, "a": 2}',
    b"{",
    b"null",
    b"[]",
    b'"x"',
]
CONTENT_TYPES = [
    "application/json; charset=utf-16",
    "application/json; charset=bogus",
    "application/merge-patch+json",
    "application/json;;;",
    "multipart/form-data; boundary=x",
    "application/x-www-form-urlencoded",
    "text/plain",
    "",
]


@by_id(BODY_ROUTES)
def test_raw_bodies_and_content_types_never_500(fuzzer, route):
    seed = json.dumps(SEED_BODIES.get(route.id, {})).encode()
    cases: list[dict[str, Any]] = [{"raw": raw} for raw in RAW_BODIES]
    cases += [
        {"raw": raw, "headers": {**seed_headers(route), "Content-Type": content_type}}
        for content_type in CONTENT_TYPES
        for raw in (seed, b"a=1")
    ]
    fuzzer.sweep(route, cases)


@by_id(BODY_ROUTES)
def test_a_body_that_is_not_json_is_400(fuzzer, route):
    for content_type in ("text/plain", "application/x-www-form-urlencoded"):
        headers = {**seed_headers(route), "Content-Type": content_type}
        response = fuzzer.send(route, raw=b"a=1", headers=headers)
        assert response.status_code == 400, (content_type, response.json)


def documented_headers(app: Flask, route: Route) -> list[str]:
    """The request headers /openapi.json documents for the route (X-Acting-User, ...)."""
    parameters = openapi_operation(app, route).get("parameters", [])
    return [p["name"] for p in parameters if p.get("in") == "header"]


@by_id(ROUTES)
def test_odd_headers_never_500(fuzzer, route):
    odd = {name: ODD_HEADERS for name in documented_headers(fuzzer.app, route)}
    odd.update(ODD_COMMON_HEADERS)
    cases = [
        {"headers": {**seed_headers(route), name: value}}
        for name, values in odd.items()
        for value in values
    ]
    cases += [{"headers": {}}, {"headers": {"X-Acting-User": ACTING}}]
    fuzzer.sweep(route, cases)


# --- ids end where their characters do: "d-1\n" is no id (domain.md: 1-64 of A-Za-z0-9._:-) ---


@by_id([r for r in PATH_ROUTES if r.endpoint != "static"])
def test_a_trailing_newline_in_a_path_parameter_is_400(fuzzer, route):
    wrong = {}
    for name in route.arguments:
        values = seed_path(route)
        values[name] += "\n"
        response = fuzzer.send(route, path=values)
        if response.status_code != 400:
            wrong[name] = response.status_code
    assert not wrong, f"accepted {wrong} (status by parameter)"


def id_places(seed: Any) -> list[tuple[Any, ...]]:
    """The places of a body that hold an id: `id`, `*_id`, and the items of id lists."""
    found = []
    for place in places(seed):
        key = place[-1] if isinstance(place[-1], str) else place[-2]
        if key == "id" or key.endswith("_id") or key == "administrations":
            node = seed
            for step in place:
                node = node[step]
            if isinstance(node, str):
                found.append(place)
    return found


STRICT_BODY_ROUTES = [
    r for r in BODY_ROUTES if r.rule.startswith("/v1/") and id_places(SEED_BODIES.get(r.id, {}))
]


@by_id(STRICT_BODY_ROUTES)
def test_a_trailing_newline_in_a_body_id_is_400(fuzzer, route):
    """/v1 only: AuthZEN takes any string as an id, and denies an unknown one (README)."""
    seed = SEED_BODIES[route.id]
    wrong = {}
    for place in id_places(seed):
        node = seed
        for step in place:
            node = node[step]
        response = fuzzer.send(route, body=replaced(seed, place, node + "\n"))
        if response.status_code != 400:
            wrong["/".join(map(str, place))] = response.status_code
    assert not wrong, f"accepted {wrong} (status by place)"


# --- random combinations (hypothesis) ---------------------------------------------------------


@by_id(PATH_ROUTES)
@FUZZ
@given(data=st.data())
def test_random_path_parameters_never_500(fuzzer, route, data):
    values = seed_path(route)
    spoil = data.draw(st.lists(st.sampled_from(route.arguments), min_size=1, unique=True))
    for name in spoil:
        values[name] = data.draw(odd_text, label=name)
    fuzzer.send(route, path=values)


@by_id(QUERY_ROUTES)
@FUZZ
@given(query=query_string)
def test_random_query_strings_never_500(fuzzer, route, query):
    fuzzer.send(route, query=query)


@by_id(BODY_ROUTES)
@FUZZ
@given(data=st.data())
def test_random_json_bodies_never_500(fuzzer, route, data):
    seed = SEED_BODIES.get(route.id)
    fields = openapi_fields(fuzzer.app, route)
    choices = [shaped(fields), any_json] + ([spoiled(seed)] * 2 if seed is not None else [])
    fuzzer.send(route, body=data.draw(st.one_of(*choices), label="body"))


@by_id(ROUTES)
@FUZZ
@given(
    acting=st.one_of(st.none(), header_text),
    idempotency=st.one_of(st.none(), header_text),
    request_id=st.one_of(st.none(), header_text),
    auth=st.sampled_from(["admin", "check", "none", "odd"]),
    odd_auth=header_text,
)
def test_random_headers_never_500(fuzzer, route, acting, idempotency, request_id, auth, odd_auth):
    headers = {"admin": dict(ADMIN), "check": dict(CHECK), "none": {}}.get(auth)
    if headers is None:
        headers = {"Authorization": f"Bearer {odd_auth}"}
    for name, value in (
        ("X-Acting-User", acting),
        ("Idempotency-Key", idempotency),
        ("X-Request-ID", request_id),
    ):
        if value is not None:
            headers[name] = value
    response = fuzzer.send(route, headers=headers)
    if request_id is not None and re.fullmatch(r"[\x21-\x7e]{1,128}", request_id):
        assert response.headers["X-Request-ID"] == request_id


@FUZZ
@given(
    method=st.sampled_from([*HTTP_METHODS, "PROPFIND", "TRACE"]),
    path=st.lists(odd_text, min_size=1, max_size=4).map(
        lambda parts: "/" + "/".join(_quoted(p) for p in parts)
    ),
    prefix=st.sampled_from(["", "/v1", "/v1/domains", "/access/v1", "/static"]),
)
def test_random_paths_and_methods_never_500(fuzzer, method, path, prefix):
    url = prefix + path
    response = fuzzer.client.open(url, method=method, headers=ADMIN, json={})
    fuzzer.wrote(response, method)
    check_answer(response, fuzzer.errors, Route(method, url, (), url), f"{method} {url}")


# --- the cases that answered 500, or let in what they should refuse --------------------------

AUDIT = Route("GET", "/v1/audit", (), "/v1/audit")
LEDGER = Route("GET", "/v1/domains/<did>/ledger", ("did",), "/v1/domains/{did}/ledger")
AUTHORIZE_ROUTE = Route("POST", "/v1/authorize", (), "/v1/authorize")


@pytest.mark.parametrize(
    "query",
    [
        "limit=²",
        "limit=%C2%B2",
        "limit=\u0661",
        "limit=99999999999999999999999",
        "limit=-1",
        "limit=",
        "actor=%00",
        "actor=a%00b",
        "actor=%ED%A0%80",
        "portal_id=%00",
        "domain_id=d-1%0A",
        "since=%00",
        "until=9999-12-31T23:59:59-14:00",
        "cursor=" + encode_cursor("99999999999999999999999"),
        "cursor=" + encode_cursor("9223372036854775808"),
        "cursor=" + encode_cursor("-99999999999999999999999"),
        "cursor=" + encode_cursor("²"),
        "cursor=" + encode_cursor("1e3"),
        "cursor=%00",
    ],
)
def test_audit_refuses_odd_queries_with_400(fuzzer, query):
    response = fuzzer.send(AUDIT, query=query)
    assert response.status_code == 400, (query, response.status_code, response.json)


@pytest.mark.parametrize(
    "query",
    ["limit=²", "cursor=" + encode_cursor("99999999999999999999999"), "cursor=%FF"],
)
def test_ledger_refuses_odd_queries_with_400(fuzzer, query):
    response = fuzzer.send(LEDGER, query=query)
    assert response.status_code == 400, (query, response.status_code, response.json)


@pytest.mark.parametrize(
    ("where", "value"),
    [
        (("resource", "id"), "d-1\n"),
        (("actor", "id"), "u-bo\n"),
        (("resource", "id"), "d-1\r\n"),
        (("resource", "id"), "\nd-1"),
        (("resource", "id"), "d-1 "),
        (("resource", "id"), "d-1\x00"),
        (("resource", "id"), "d-²"),
        (("resource", "id"), "x" * 65),
        (("resource", "id"), ""),
    ],
)
def test_authorize_refuses_ids_outside_the_id_alphabet_with_400(fuzzer, where, value):
    response = fuzzer.send(AUTHORIZE_ROUTE, body=replaced(AUTHORIZE, where, value))
    assert response.status_code == 400, (value, response.status_code, response.json)
    assert response.json["error"]["code"] == "invalid_request"
