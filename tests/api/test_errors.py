"""One error shape for everything a client can get wrong, and for our own failures."""

from __future__ import annotations

import pytest

BODY = {"actor": {"type": "DomainUser", "id": "du-1"}, "action": "process"}


def assert_error(response, status, code):
    assert response.status_code == status, response.data
    assert response.mimetype == "application/json"
    assert set(response.json) == {"error"}
    error = response.json["error"]
    assert set(error) == {"code", "message", "details"}
    assert error["code"] == code
    assert isinstance(error["message"], str) and error["message"]
    assert isinstance(error["details"], dict)
    return error


def test_unknown_path_is_404_in_the_error_shape(client):
    assert_error(client.get("/no/such/path"), 404, "not_found")


def test_unknown_path_is_404_even_with_a_bad_body(client, check_headers):
    response = client.post("/v1/nope", data="{", content_type="application/json")
    assert_error(response, 404, "not_found")


def test_wrong_method_is_405_with_allow_header(client):
    response = client.delete("/healthz")
    assert_error(response, 405, "method_not_allowed")
    assert "GET" in response.headers["Allow"]


def test_body_over_one_mebibyte_is_413(probe_client, check_headers):
    big = b'{"pad": "' + b"x" * (1024 * 1024) + b'"}'
    response = probe_client.post(
        "/_probe/check", data=big, content_type="application/json", headers=check_headers
    )
    assert_error(response, 413, "payload_too_large")


def test_body_of_exactly_one_mebibyte_is_not_413(probe_client, check_headers):
    prefix, suffix = b'{"pad": "', b'"}'
    body = prefix + b"x" * (1024 * 1024 - len(prefix) - len(suffix)) + suffix
    assert len(body) == 1024 * 1024
    response = probe_client.post(
        "/_probe/check", data=body, content_type="application/json", headers=check_headers
    )
    assert response.status_code == 400  # fields missing, but the size is fine


@pytest.mark.parametrize(
    "body",
    [
        '{"actor": ',
        "not json",
        '{"a": NaN}',
        '{"a": -Infinity}',
        b"\xff\xfe\xfa",
        "[" * 100_000 + "]" * 100_000,
        '{"a": ' + "1" * 5000 + "}",
    ],
)
def test_malformed_json_is_400_invalid_json(probe_client, check_headers, body):
    response = probe_client.post(
        "/_probe/check", data=body, content_type="application/json", headers=check_headers
    )
    assert_error(response, 400, "invalid_json")


@pytest.mark.parametrize("body", ["[1, 2]", '"text"', "42", "null", "true"])
def test_json_that_is_not_an_object_is_400(probe_client, check_headers, body):
    response = probe_client.post(
        "/_probe/check", data=body, content_type="application/json", headers=check_headers
    )
    assert_error(response, 400, "invalid_json")


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
def test_wrong_content_type_is_400_invalid_json(probe_client, check_headers, content_type):
    headers = dict(check_headers)
    if content_type:
        headers["Content-Type"] = content_type
    response = probe_client.post("/_probe/check", data='{"action": "x"}', headers=headers)
    error = assert_error(response, 400, "invalid_json")
    assert "application/json" in error["message"]


def test_invalid_fields_are_400_with_field_messages(probe_client, check_headers):
    response = probe_client.post(
        "/_probe/check", json={"actor": {"id": "du-1"}, "action": 3}, headers=check_headers
    )
    error = assert_error(response, 400, "invalid_request")
    assert error["details"]["json"]["actor"]["type"] == ["Missing data for required field."]
    assert error["details"]["json"]["action"] == ["Not a valid string."]


def test_empty_body_is_400_invalid_request(probe_client, check_headers):
    response = probe_client.post("/_probe/check", headers=check_headers)
    assert response.status_code == 400
    assert response.json["error"]["code"] in {"invalid_request", "invalid_json"}


def test_flask_smorest_422_becomes_400(probe_client):
    response = probe_client.post("/_plain/check", json={"action": "x"})
    error = assert_error(response, 400, "invalid_request")
    assert error["details"] == {"json": {"actor": ["Missing data for required field."]}}


def test_api_error_keeps_status_code_and_details(probe_client):
    error = assert_error(probe_client.get("/_probe/conflict"), 409, "conflict")
    assert error["message"] == "That id is taken."
    assert error["details"] == {"id": "d-1"}


def test_flask_smorest_abort_keeps_its_message(probe_client):
    error = assert_error(probe_client.get("/_probe/abort"), 409, "conflict")
    assert error["message"] == "Taken, says flask-smorest."


def test_unexpected_exception_is_500_without_internals(probe_client, caplog):
    response = probe_client.get("/_probe/boom", headers={"X-Request-ID": "req-boom-1"})
    error = assert_error(response, 500, "internal_error")
    assert "hunter2" not in response.get_data(as_text=True)
    assert error["details"] == {"request_id": "req-boom-1"}
    # The traceback goes to the log, with the request id to find it.
    assert "req-boom-1" in caplog.text
    assert "RuntimeError" in caplog.text


def test_a_lost_database_connection_is_503_to_retry(probe_client, caplog):
    response = probe_client.get("/_probe/db-gone", headers={"X-Request-ID": "req-db-1"})
    error = assert_error(response, 503, "database_unavailable")
    assert response.headers["Retry-After"] == "1"
    assert error["details"] == {"request_id": "req-db-1"}
    assert "server closed" not in response.get_data(as_text=True)
    assert "req-db-1" in caplog.text and "OperationalError" in caplog.text


def test_another_database_error_is_still_500(probe_client):
    assert_error(probe_client.get("/_probe/db-integrity"), 500, "internal_error")


def test_authorize_without_its_database_is_503(make_app, tmp_path, check_headers):
    missing = tmp_path / "no" / "such" / "dir" / "db.sqlite"
    app = make_app(DATABASE_URL=f"sqlite:///{missing}")
    body = {**BODY, "resource": {"type": "Domain", "id": "d-1"}}
    response = app.test_client().post("/v1/authorize", json=body, headers=check_headers)
    assert_error(response, 503, "database_unavailable")
    assert str(missing) not in response.get_data(as_text=True)


def test_request_id_is_echoed(client):
    response = client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert response.headers["X-Request-ID"] == "abc-123"


def test_request_id_is_generated_when_absent(client):
    first = client.get("/healthz").headers["X-Request-ID"]
    second = client.get("/healthz").headers["X-Request-ID"]
    assert len(first) == 32 and int(first, 16) >= 0
    assert first != second


@pytest.mark.parametrize("bad", ["x" * 129, "has space", "tab\there", "é-accent", ""])
def test_insane_request_id_is_replaced(client, bad):
    response = client.get("/healthz", headers={"X-Request-ID": bad})
    assert response.headers["X-Request-ID"] != bad
    assert len(response.headers["X-Request-ID"]) == 32


def test_request_id_is_echoed_on_errors(client):
    response = client.get("/nope", headers={"X-Request-ID": "on-404"})
    assert response.status_code == 404
    assert response.headers["X-Request-ID"] == "on-404"
