"""The authorize hot path remembers validated bodies: a repeat answers exactly as a first time."""

from __future__ import annotations

import json

import pytest

from service.api import memo
from service.api.memo import BodyMemo
from tests.api.test_queries import ADMIN_OPENS_D1, WORLD


@pytest.fixture
def world(client, admin_headers, clean_db):
    response = client.post("/v1/import", json=WORLD, headers=admin_headers)
    assert response.status_code == 200, response.json


def send(client, headers, raw: bytes, content_type: str = "application/json"):
    return client.post("/v1/authorize", data=raw, headers={**headers, "Content-Type": content_type})


def test_a_repeated_body_gets_the_same_answer_from_the_memo(client, check_headers, world):
    raw = json.dumps({**ADMIN_OPENS_D1, "action": "process"}).encode()
    first = send(client, check_headers, raw)
    assert first.status_code == 200, first.json
    assert memo.LOADED.get(type_of_authorize(), raw) is not None
    again = send(client, check_headers, raw)
    assert again.status_code == 200
    for field in ("allowed", "reasons", "policy_version"):
        assert again.json[field] == first.json[field]
    assert again.json["decision_id"] != first.json["decision_id"]


def type_of_authorize():
    from service.api.schemas import AuthorizeRequest

    return AuthorizeRequest


@pytest.mark.parametrize(
    "body",
    [
        {**ADMIN_OPENS_D1, "action": "fly"},
        {**ADMIN_OPENS_D1, "extra": 1},
        {"actor": ADMIN_OPENS_D1["actor"]},
    ],
)
def test_an_invalid_body_is_never_remembered_and_fails_every_time(
    client, check_headers, world, body
):
    raw = json.dumps(body).encode()
    for _ in range(3):
        response = send(client, check_headers, raw)
        assert response.status_code == 400, response.json
        assert response.json["error"]["code"] == "invalid_request"
    assert memo.LOADED.get(type_of_authorize(), raw) is None


def test_remembered_bytes_sent_as_another_content_type_are_still_refused(
    client, check_headers, world
):
    raw = json.dumps(ADMIN_OPENS_D1).encode()
    assert send(client, check_headers, raw).status_code == 200
    response = send(client, check_headers, raw, "text/plain")
    assert response.status_code == 400
    assert response.json["error"]["code"] == "invalid_json"


def test_a_remembered_body_still_needs_a_key(client, world, check_headers):
    raw = json.dumps(ADMIN_OPENS_D1).encode()
    assert send(client, check_headers, raw).status_code == 200
    assert send(client, {}, raw).status_code == 401


def test_the_memo_is_bounded_and_skips_large_bodies():
    table = BodyMemo(max_entries=3, max_body=10)
    for n in range(5):
        table.put("k", str(n).encode(), n)
    assert len(table) == 3
    assert table.get("k", b"0") is None and table.get("k", b"4") == 4
    table.put("k", b"x" * 11, "big")
    assert table.get("k", b"x" * 11) is None
