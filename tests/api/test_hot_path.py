"""The authorize hot path remembers validated bodies: a repeat answers exactly as a first time."""

from __future__ import annotations

import json
from typing import Any

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


def test_a_batch_remembers_its_valid_checks_and_answers_them_alike(client, check_headers, world):
    check = {**ADMIN_OPENS_D1, "action": "process"}
    body = {"checks": [check, ADMIN_OPENS_D1, check]}
    raw = json.dumps(body).encode()  # the keys in this order: the memo's key is the parsed value

    def post() -> Any:
        headers = {**check_headers, "Content-Type": "application/json"}
        return client.post("/v1/authorize/batch", data=raw, headers=headers)

    first = post()
    assert first.status_code == 200, first.json
    text = repr(check)
    assert memo.LOADED_ITEMS.get(type_of_authorize(), text) is not None
    # Its parts too: the same actor recurs in other checks.
    from service.api.schemas import ActorRef

    actor = repr(check["actor"])
    assert memo.LOADED_ITEMS.get(ActorRef, actor) is not None
    again = post()
    assert again.status_code == 200
    strip = [{k: r[k] for k in ("allowed", "reasons")} for r in first.json["results"]]
    assert [{k: r[k] for k in ("allowed", "reasons")} for r in again.json["results"]] == strip
    assert strip[0] == strip[2]
    assert set(again.json) == {"results", "policy_version"}


def test_a_batch_check_that_fails_is_named_every_time_and_never_remembered(
    client, check_headers, world
):
    bad = {**ADMIN_OPENS_D1, "action": "fly"}
    raw = json.dumps({"checks": [ADMIN_OPENS_D1, bad]}).encode()
    headers = {**check_headers, "Content-Type": "application/json"}
    for _ in range(2):
        response = client.post("/v1/authorize/batch", data=raw, headers=headers)
        assert response.status_code == 400, response.json
        assert "1" in response.json["error"]["details"]["json"]["checks"]
    text = repr(bad)
    assert memo.LOADED_ITEMS.get(type_of_authorize(), text) is None


def test_values_equal_in_python_but_not_in_json_are_remembered_apart():
    from service.api.schemas import BatchRequest

    schema = BatchRequest()
    good = {**ADMIN_OPENS_D1, "context": {"at": "2026-01-01T00:00:00+00:00"}}
    assert schema.load({"checks": [good]})["checks"][0]["context"]["at"].year == 2026
    # `1.0 == 1 == True` in Python; as JSON values they differ, and an id must be a string.
    for odd in (1, 1.0, True):
        item = {**ADMIN_OPENS_D1, "actor": {**ADMIN_OPENS_D1["actor"], "id": odd}}
        with pytest.raises(Exception, match="id"):
            schema.load({"checks": [item]})
