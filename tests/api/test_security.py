"""API keys: anonymous and unknown keys get 401, a key without the scope 403."""

from __future__ import annotations

import hmac

import pytest

from service.api import security
from service.config import parse_api_keys

BODY = {"actor": {"type": "DomainUser", "id": "du-1"}, "action": "process"}


def test_anonymous_caller_gets_401_with_bearer_challenge(probe_client):
    response = probe_client.post("/_probe/check", json=BODY)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert response.json["error"]["code"] == "unauthorized"
    assert set(response.json["error"]) == {"code", "message", "details"}


@pytest.mark.parametrize(
    "authorization",
    [
        "Bearer wrong-secret",
        "Bearer check-secretx",
        "Basic Y2hlY2stc2VjcmV0",
        "Bearer",
        "check-secret",
    ],
)
def test_wrong_or_malformed_key_gets_401(probe_client, authorization):
    response = probe_client.post(
        "/_probe/check", json=BODY, headers={"Authorization": authorization}
    )
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert response.json["error"]["code"] == "unauthorized"


def test_unknown_key_is_checked_before_the_body(probe_client):
    response = probe_client.post("/_probe/check", json={}, headers={"Authorization": "Bearer nope"})
    assert response.status_code == 401


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"not json", "text/plain"),  # the body checks would answer 400 invalid_json
        (b"{", "application/json"),
        (b"[1, 2]", "application/json"),
        (b'{"a": "\\u0000"}', "application/json"),  # unstorable text: 400 invalid_request
        (b"x" * (2 * 1024 * 1024), "application/json"),  # over 1 MiB: 413
    ],
)
@pytest.mark.parametrize("authorization", [None, "Bearer nope"])
def test_no_valid_key_gets_401_before_the_body_is_read(
    client, check_headers, body, content_type, authorization
):
    headers = {"Content-Type": content_type}
    if authorization:
        headers["Authorization"] = authorization
    for path in ("/v1/authorize", "/v1/import", "/access/v1/evaluation"):
        response = client.post(path, data=body, headers=headers)
        assert response.status_code == 401, (path, response.json)
        assert response.json["error"]["code"] == "unauthorized"
        assert response.headers["WWW-Authenticate"] == "Bearer"
    # With a valid key, the same body is refused for what it is.
    response = client.post("/v1/authorize", data=body, headers={**headers, **check_headers})
    assert response.status_code in (400, 413)


def test_a_key_without_the_scope_gets_403_before_the_body_is_read(client, check_headers):
    response = client.post(
        "/v1/import", data=b"{", headers={**check_headers, "Content-Type": "application/json"}
    )
    assert response.status_code == 403
    assert response.json["error"]["code"] == "insufficient_scope"


def test_check_key_can_call_a_check_view(probe_client, check_headers):
    response = probe_client.post("/_probe/check", json=BODY, headers=check_headers)
    assert response.status_code == 200
    assert response.json["key"] == "checker"


def test_admin_key_can_call_a_check_view(probe_client, admin_headers):
    response = probe_client.post("/_probe/check", json=BODY, headers=admin_headers)
    assert response.status_code == 200
    assert response.json["key"] == "admin"


def test_check_key_cannot_call_an_admin_view(probe_client, check_headers):
    response = probe_client.post("/_probe/admin", headers=check_headers)
    assert response.status_code == 403
    error = response.json["error"]
    assert error["code"] == "insufficient_scope"
    assert error["details"] == {"required_scope": "admin", "key_scope": "check"}
    assert "WWW-Authenticate" not in response.headers


def test_admin_key_can_call_an_admin_view(probe_client, admin_headers):
    response = probe_client.get("/_probe/admin", headers=admin_headers)
    assert response.status_code == 200
    assert response.json == {"key": "admin"}


def test_bearer_scheme_is_case_insensitive(probe_client):
    response = probe_client.get("/_probe/admin", headers={"Authorization": "bearer admin-secret"})
    assert response.status_code == 200


def test_every_key_is_compared_even_after_a_match(monkeypatch):
    keys = parse_api_keys("a:check:first-secret,b:admin:second-secret,c:check:third-secret")
    calls = []
    real_compare = hmac.compare_digest

    def spy(left, right):
        calls.append((left, right))
        return real_compare(left, right)

    monkeypatch.setattr(security.hmac, "compare_digest", spy)
    assert security.match_key(keys, "first-secret") is keys[0]
    assert len(calls) == 3  # no short-circuit on the first key
    # Digests of equal length are compared, never the secrets themselves.
    assert all(len(left) == len(right) == 32 for left, right in calls)
    calls.clear()
    assert security.match_key(keys, "nope") is None
    assert len(calls) == 3


def test_secrets_never_reach_the_logs(probe_client, caplog):
    caplog.set_level("DEBUG")
    probe_client.get("/_probe/admin", headers={"Authorization": "Bearer check-secret"})
    probe_client.get("/_probe/admin", headers={"Authorization": "Bearer guessed-secret"})
    assert "check-secret" not in caplog.text
    assert "guessed-secret" not in caplog.text


def test_openapi_documents_the_bearer_scheme(probe_client):
    spec = probe_client.get("/openapi.json").json
    assert spec["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "A secret from AUTHZ_API_KEYS",
    }
    operation = spec["paths"]["/_probe/admin"]["get"]
    assert operation["security"] == [{"bearerAuth": []}]
    assert {"401", "403"} <= set(operation["responses"])
