"""Free text in governed bodies (names): anything JSON can carry is answered, never a 500."""

from __future__ import annotations

import pytest

from tests.integration.support import act, assert_error, audit_events, base_world, load, rows

CASES = [
    (
        "POST",
        "/v1/portals/p-1/users",
        "PortalUser:u-admin",
        {"id": "u-n", "email": "n@office.example", "role": "PortalBackoffice"},
        "name",
    ),
    (
        "POST",
        "/v1/portals/p-1/domains",
        "PortalUser:u-admin",
        {"id": "d-n", "plan": "Small"},
        "name",
    ),
    (
        "POST",
        "/v1/domains/d-1/users",
        "DomainUser:du-boss",
        {"id": "du-n", "email": "n@client.example"},
        "name",
    ),
]
IDS = ["portal-user", "domain", "domain-user"]


@pytest.fixture
def world(client, clean_db):
    load(client, base_world())


@pytest.mark.parametrize(("method", "path", "actor", "body", "field"), CASES, ids=IDS)
@pytest.mark.parametrize(
    "text", ["Élodie Müller-Ŝ 😀", "x" * 200, "  spaced  ", "O'Brien; DROP TABLE portals;--"]
)
def test_names_in_any_script_are_stored_as_given(
    client, world, method, path, actor, body, field, text
):
    response = act(client, method, path, actor, {**body, field: text})
    assert response.status_code == 201, response.json
    created = response.json.get("user") or response.json.get("domain")
    assert created[field] == text


@pytest.mark.parametrize(("method", "path", "actor", "body", "field"), CASES, ids=IDS)
def test_a_name_too_long_is_400(app, client, world, method, path, actor, body, field):
    response = act(client, method, path, actor, {**body, field: "x" * 201})
    error = assert_error(response, 400, "invalid_request")
    assert field in error["details"]["json"]


@pytest.mark.parametrize(("method", "path", "actor", "body", "field"), CASES, ids=IDS)
@pytest.mark.parametrize("text", ["a\x00b", "\ud800x"], ids=["nul", "lone-surrogate"])
def test_text_the_database_cannot_store_is_400(
    app, client, world, method, path, actor, body, field, text
):
    before, events = rows(app), len(audit_events(app))
    response = act(client, method, path, actor, {**body, field: text})
    assert response.status_code == 400, response.json
    assert field in response.json["error"]["details"]["json"]
    assert rows(app) == before
    assert len(audit_events(app)) == events


@pytest.mark.parametrize("encoding", ["utf-16", "utf-32-le"])
@pytest.mark.parametrize("text", ["a\x00b", "\ud800x"], ids=["nul", "lone-surrogate"])
def test_unstorable_text_escaped_in_a_utf16_or_utf32_body_is_400(
    app, client, world, encoding, text
):
    import json

    from tests.integration.support import headers

    method, path, actor, body, field = CASES[0]
    raw = json.dumps({**body, field: text}).encode(encoding)  # `\u0000`, `\ud800` escapes
    before = rows(app)
    response = client.open(
        path,
        method=method,
        data=raw,
        headers={**headers(actor, None), "Content-Type": "application/json"},
    )
    assert response.status_code == 400, response.json
    assert field in response.json["error"]["details"]["json"]
    assert rows(app) == before
