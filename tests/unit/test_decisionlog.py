"""The decision log: one JSON line per decision, by mode; never changes a decision."""

from __future__ import annotations

import io
import json

import pytest

from service.decisionlog import DecisionLog
from tests.worldgen import random_world


@pytest.fixture
def world(client, admin_headers, clean_db):
    payload = random_world(11)
    response = client.post("/v1/import", json=payload, headers=admin_headers)
    assert response.status_code == 200, response.json
    return payload


def _a_check(world, outsider=False):
    admin = next(u for u in world["portal_users"] if u["role"] == "PortalAdministrator")
    portal = admin["portal_id"]
    domain = next(d for d in world["domains"] if (d["portal_id"] != portal) is outsider)
    return {
        "actor": {"type": "PortalUser", "id": admin["id"]},
        "action": "open",
        "resource": {"type": "Domain", "id": domain["id"]},
        "context": {"at": "2022-06-20T10:00:00+02:00"},
    }


@pytest.fixture
def stream(app, monkeypatch):
    """Swap the app's decision log for one writing to memory; yield (set_mode, lines)."""
    buffer = io.StringIO()

    def use(mode):
        monkeypatch.setitem(app.extensions, "decision_log", DecisionLog(mode, buffer))

    def lines():
        return [json.loads(line) for line in buffer.getvalue().splitlines()]

    return use, lines


def test_all_mode_writes_one_line_per_decision_with_its_fields(
    client, check_headers, world, stream
):
    use, lines = stream
    use("all")
    body = _a_check(world)
    answer = client.post("/v1/authorize", json=body, headers=check_headers).json
    [line] = lines()
    assert line["kind"] == "decision"
    assert line["decision_id"] == answer["decision_id"]
    assert line["allowed"] is answer["allowed"] is True
    assert line["reasons"] == []
    assert line["actor"] == body["actor"] and line["resource"] == body["resource"]
    assert line["action"] == "open"
    assert line["caller"] == "checker"  # the key's name
    assert line["policy_version"] == answer["policy_version"]
    assert line["duration_ms"] >= 0 and line["request_id"] and line["time"]
    assert "check-secret" not in json.dumps(line)


def test_denies_mode_skips_allows_and_logs_denies_with_reasons(
    client, check_headers, world, stream
):
    use, lines = stream
    use("denies")
    client.post("/v1/authorize", json=_a_check(world), headers=check_headers)
    assert lines() == []
    answer = client.post(
        "/v1/authorize", json=_a_check(world, outsider=True), headers=check_headers
    ).json
    [line] = lines()
    assert line["allowed"] is False and line["reasons"] == answer["reasons"] == ["not_member"]


def test_off_mode_writes_nothing(client, check_headers, world, stream):
    use, lines = stream
    use("off")
    client.post("/v1/authorize", json=_a_check(world, outsider=True), headers=check_headers)
    assert lines() == []


def test_a_batch_logs_each_item_and_lists_log_one_line(client, check_headers, world, stream):
    use, lines = stream
    use("all")
    checks = [_a_check(world), _a_check(world, outsider=True), _a_check(world)]
    answer = client.post("/v1/authorize/batch", json={"checks": checks}, headers=check_headers)
    logged = lines()
    assert [line["decision_id"] for line in logged] == [
        r["decision_id"] for r in answer.json["results"]
    ]
    body = {"actor": checks[0]["actor"], "action": "open", "resource_type": "Domain"}
    ids = client.post("/v1/list-resources", json=body, headers=check_headers).json["ids"]
    last = lines()[-1]
    assert last["kind"] == "list" and last["count"] == len(ids)
    assert last["resource_type"] == "Domain"


class _Broken(io.StringIO):
    def write(self, _text):
        raise OSError("disk full")


def test_a_log_that_cannot_be_written_never_changes_a_decision(
    app, client, check_headers, world, monkeypatch
):
    broken = DecisionLog("all", _Broken())
    monkeypatch.setitem(app.extensions, "decision_log", broken)
    allowed = client.post("/v1/authorize", json=_a_check(world), headers=check_headers)
    denied = client.post(
        "/v1/authorize", json=_a_check(world, outsider=True), headers=check_headers
    )
    assert allowed.status_code == denied.status_code == 200
    assert allowed.json["allowed"] is True and denied.json["allowed"] is False
    assert broken.failures == 2


def test_an_unknown_mode_is_refused():
    with pytest.raises(ValueError, match="DECISION_LOG"):
        DecisionLog("verbose")
