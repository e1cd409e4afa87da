"""Operations endpoints: liveness, readiness, metrics, the OpenAPI document and its page."""

from __future__ import annotations

import re


def test_healthz_is_ok_without_a_key(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json == {"status": "ok"}


def test_readyz_reports_database_and_policy(app, client):
    response = client.get("/readyz")
    if app.extensions.get("authz") is not None:
        assert response.status_code == 200
        assert response.json == {"status": "ready", "checks": {"database": "ok", "policy": "ok"}}
    else:  # the policy engine is not built yet
        assert response.status_code == 503
        assert response.json["error"]["details"]["checks"]["policy"] == "not_loaded"


def test_readyz_is_503_when_the_database_is_unreachable(make_app, tmp_path):
    missing = tmp_path / "no" / "such" / "dir" / "db.sqlite"
    app = make_app(DATABASE_URL=f"sqlite:///{missing}", LOAD_POLICY=False)
    app.extensions["authz"] = object()  # pretend the policy is loaded
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    error = response.json["error"]
    assert error["code"] == "not_ready"
    assert error["details"] == {"checks": {"database": "unreachable", "policy": "ok"}}
    assert str(missing) not in response.get_data(as_text=True)


def test_readyz_is_503_when_the_policy_is_not_loaded(make_app):
    app = make_app(LOAD_POLICY=False)
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.json["error"]["details"]["checks"]["policy"] == "not_loaded"


def test_metrics_count_requests_by_route_and_status(client):
    client.get("/healthz")
    client.get("/no/such/page/zqxjw")
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    text = response.get_data(as_text=True)
    assert re.search(
        r'yuki_authz_http_requests_total\{endpoint="/healthz",method="GET",status="200"\} \d', text
    )
    assert 'endpoint="<unmatched>"' in text
    # Raw paths never become labels (a word, not digits: metric values are numbers).
    assert "zqxjw" not in text
    assert "yuki_authz_http_request_duration_seconds_bucket" in text


def _answered(client, status: str) -> float:
    text = client.get("/metrics").get_data(as_text=True)
    found = re.search(
        r'yuki_authz_http_requests_total\{endpoint="/_probe/check",method="POST",status="'
        + status
        + r'"\} (\S+)',
        text,
    )
    return float(found.group(1)) if found else 0.0


def test_metrics_count_requests_rejected_before_the_view(probe_client, check_headers):
    # Refused by the request hooks, before the view runs: the key check (401), the body (400).
    before = _answered(probe_client, "401"), _answered(probe_client, "400")
    probe_client.post("/_probe/check", data="{", content_type="application/json")
    probe_client.post(
        "/_probe/check", data="{", content_type="application/json", headers=check_headers
    )
    after = _answered(probe_client, "401"), _answered(probe_client, "400")
    assert after == (before[0] + 1, before[1] + 1)


def test_openapi_document_is_openapi_3(client):
    response = client.get("/openapi.json")
    assert response.status_code == 200
    spec = response.json
    assert spec["openapi"] == "3.0.3"
    assert spec["info"]["title"] == "yuki-authz"
    assert {"/healthz", "/readyz", "/metrics"} <= set(spec["paths"])
    assert spec["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    # The documented error shape is the one the service sends.
    assert spec["components"]["schemas"]["Error"]["required"] == ["error"]
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            assert method in {"get", "post", "put", "delete", "patch", "parameters"}, path
            if method != "parameters":  # path-level parameters are a list, not an operation
                assert "responses" in operation, (path, method)


def test_openapi_refs_all_resolve(client):
    spec = client.get("/openapi.json").json

    def refs(node):
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "$ref":
                    yield value
                else:
                    yield from refs(value)
        elif isinstance(node, list):
            for item in node:
                yield from refs(item)

    for ref in set(refs(spec)):
        assert ref.startswith("#/"), ref
        node = spec
        for part in ref[2:].split("/"):
            assert part in node, f"dangling $ref {ref}"
            node = node[part]


def test_docs_page_renders_the_spec(client):
    response = client.get("/docs")
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    assert "openapi.json" in page
