"""Idempotency-Key: a repeat replays the first answer and charges once; a reused key is 422."""

from __future__ import annotations

import pytest

from tests.integration.support import (
    act,
    assert_denied,
    assert_error,
    audit_events,
    base_world,
    ledger,
    load,
    rows,
)

BOSS = "DomainUser:du-boss"
ANN = "DomainUser:du-ann"
GRANT = "/v1/domains/d-1/users/du-ann/roles/Backoffice"
NEW = {"id": "du-new", "email": "e@client.example", "name": "Eva", "roles": ["Backoffice"]}


@pytest.fixture
def world(client, clean_db):
    world = base_world()
    world["domain_users"][0]["roles"] = ["Backoffice", "Management"]  # du-boss holds a seat
    load(client, world)


@pytest.mark.parametrize(
    ("method", "path", "actor", "body", "status"),
    [
        ("PUT", GRANT, BOSS, None, 200),
        ("POST", "/v1/domains/d-1/users", BOSS, NEW, 201),
        ("DELETE", "/v1/domains/d-1/users/du-ann", BOSS, None, 200),
        ("PUT", "/v1/domains/d-1/plan", BOSS, {"plan": "Large"}, 200),
        (
            "POST",
            "/v1/portals/p-1/domains",
            "PortalUser:u-admin",
            {"id": "d-new", "name": "n", "plan": "Small"},
            201,
        ),
        ("POST", "/v1/portals/p-1/guest-conversion", "PortalUser:u-admin", {"dry_run": False}, 200),
    ],
    ids=["grant", "add-user", "delete-user", "plan", "create-domain", "conversion"],
)
def test_a_repeat_replays_the_first_answer_and_charges_once(
    app, client, world, method, path, actor, body, status
):
    first = act(client, method, path, actor, body, key="key-1")
    assert first.status_code == status, first.json
    after_first = rows(app)
    events = audit_events(app)
    entries = ledger(app)
    assert entries  # each of these moves the run-rate

    again = act(client, method, path, actor, body, key="key-1")
    assert again.status_code == status
    assert again.json == first.json
    assert again.json["audit_event_id"] == first.json["audit_event_id"]
    assert rows(app) == after_first
    assert audit_events(app) == events
    assert ledger(app) == entries


def test_the_seat_is_charged_once_however_often_the_grant_is_repeated(app, client, world):
    answers = [act(client, "PUT", GRANT, BOSS, key="grant-ann").json for _ in range(5)]
    assert all(a == answers[0] for a in answers)
    assert [(e["item"], e["amount"]) for e in ledger(app, "d-1")] == [("backoffice_seat", "25.00")]
    assert len([e for e in audit_events(app) if e["operation"] == "grant_role"]) == 1


def test_without_a_key_a_repeat_is_a_new_operation(app, client, world):
    first = act(client, "PUT", GRANT, BOSS)
    second = act(client, "PUT", GRANT, BOSS)
    assert first.json["audit_event_id"] != second.json["audit_event_id"]
    assert "run_rate_change" not in second.json  # the role was held already


@pytest.mark.parametrize(
    ("method", "path", "actor", "body"),
    [
        ("PUT", "/v1/domains/d-1/users/du-ann/roles/Purchase", BOSS, None),  # another path
        ("PUT", GRANT, "DomainUser:du-x", None),  # another actor
        ("POST", "/v1/domains/d-1/users", BOSS, {**NEW, "name": "Other"}),  # another body
    ],
    ids=["path", "actor", "body"],
)
def test_the_same_key_for_another_request_is_422(app, client, world, method, path, actor, body):
    first_body = NEW if method == "POST" else None
    first_path = "/v1/domains/d-1/users" if method == "POST" else GRANT
    assert act(client, method, first_path, BOSS, first_body, key="k").status_code in (200, 201)
    before, events = rows(app), audit_events(app)
    error = assert_error(
        act(client, method, path, actor, body, key="k"), 422, "idempotency_key_reused"
    )
    assert error["details"] == {"idempotency_key": "k"}
    assert rows(app) == before
    assert audit_events(app) == events


def test_a_denied_answer_replays_as_the_same_403(app, client, world):
    first = act(client, "PUT", GRANT, ANN, key="deny-1")
    assert_denied(first, ["not_management"])
    before, events = rows(app), audit_events(app)
    again = act(client, "PUT", GRANT, ANN, key="deny-1")
    assert again.status_code == 403
    assert again.json == first.json
    assert rows(app) == before
    assert audit_events(app) == events
    assert [e["outcome"] for e in events] == ["denied"]


def test_a_replayed_deny_stays_a_deny_even_once_the_request_would_pass(app, client, world):
    first = act(client, "PUT", GRANT, ANN, key="deny-2")
    assert first.status_code == 403
    promote = act(client, "PUT", "/v1/domains/d-1/users/du-ann/roles/Management", BOSS)
    assert promote.status_code == 200
    again = act(client, "PUT", GRANT, ANN, key="deny-2")
    assert again.status_code == 403 and again.json == first.json
    assert act(client, "PUT", GRANT, ANN, key="deny-3").status_code == 200


def test_a_rejected_request_is_not_remembered(app, client, world):
    path = "/v1/domains/d-1/users/du-nobody/roles/Backoffice"
    assert act(client, "PUT", path, BOSS, key="k-404").status_code == 404
    assert act(client, "PUT", path, BOSS, key="k-404").status_code == 404
    assert rows(app)["idempotency_records"] == []


def test_keys_are_separate_per_request(app, client, world):
    a = act(client, "PUT", GRANT, BOSS, key="a")
    b = act(client, "PUT", "/v1/domains/d-1/users/du-ann/roles/Purchase", BOSS, key="b")
    assert a.status_code == b.status_code == 200
    assert a.json["audit_event_id"] != b.json["audit_event_id"]
    assert len(rows(app)["idempotency_records"]) == 2
