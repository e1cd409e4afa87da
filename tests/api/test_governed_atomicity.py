"""One operation, one transaction: a failure midway commits nothing and answers a 500."""

from __future__ import annotations

import pytest

from service import audit
from service.operations import base, conversion
from tests.integration.support import (
    act,
    assert_error,
    audit_events,
    base_world,
    ledger,
    load,
    rows,
    verify_chain,
)

BOSS = "DomainUser:du-boss"
GRANT = "/v1/domains/d-1/users/du-ann/roles/Backoffice"


class Boom(RuntimeError):
    pass


def explode(*_args, **_kwargs):
    raise Boom("the disk is on fire")


@pytest.fixture
def world(client, clean_db):
    world = base_world()
    world["domain_users"][0]["roles"] = ["Backoffice", "Management"]  # a seat is held already
    load(client, world)


def assert_server_failed(response):
    error = assert_error(response, 500, "internal_error")
    assert "fire" not in error["message"]  # nothing internal leaks
    assert error["details"]["request_id"] == response.headers["X-Request-ID"]


OPERATIONS = [
    ("PUT", GRANT, BOSS, None),
    ("POST", "/v1/domains/d-1/users", BOSS, {"id": "du-new", "email": "e@c.be", "name": "E"}),
    ("DELETE", "/v1/domains/d-1/users/du-ann", BOSS, None),
    ("PUT", "/v1/domains/d-1/plan", BOSS, {"plan": "Large"}),
    ("PUT", "/v1/domains/d-1/bo-access", "PortalUser:u-admin", {"authorized": False}),
    ("PUT", "/v1/domains/d-1/shielded", "PortalUser:u-admin", {"shielded": True}),
    ("DELETE", "/v1/portals/p-1/users/u-bo", "PortalUser:u-admin", None),
    (
        "POST",
        "/v1/portals/p-1/domains",
        "PortalUser:u-admin",
        {"id": "d-new", "name": "n", "plan": "Medium"},
    ),
    ("POST", "/v1/portals/p-1/guest-conversion", "PortalUser:u-admin", {"dry_run": False}),
]
IDS = [f"{m} {p}" for m, p, _, _ in OPERATIONS]


@pytest.mark.parametrize(("method", "path", "actor", "body"), OPERATIONS, ids=IDS)
def test_a_failing_audit_append_commits_nothing(
    app, client, world, monkeypatch, method, path, actor, body
):
    before = rows(app)
    monkeypatch.setattr(audit, "append", explode)
    response = act(client, method, path, actor, body, key="k-1")
    assert_server_failed(response)
    monkeypatch.undo()
    assert rows(app) == before  # no state change, no ledger row, no idempotency record
    assert audit_events(app) == []


@pytest.mark.parametrize(("method", "path", "actor", "body"), OPERATIONS[:8], ids=IDS[:8])
def test_a_failure_after_the_ledger_rows_commits_nothing(
    app, client, world, monkeypatch, method, path, actor, body
):
    """`remember` runs after the change, the audit event and the ledger rows were added."""
    before = rows(app)
    monkeypatch.setattr(base, "remember", explode)
    response = act(client, method, path, actor, body)
    assert_server_failed(response)
    monkeypatch.undo()
    assert rows(app) == before
    assert ledger(app) == []
    assert audit_events(app) == []


def test_a_conversion_failing_on_its_second_domain_commits_nothing(
    app, client, clean_db, monkeypatch
):
    world = base_world()
    world["staff"][0]["user_id"] = "u-guest"  # the guest is Responsible on d-1 and d-2
    load(client, world)
    before = rows(app)
    real = conversion._convert_domain
    calls = []

    def second_fails(ctx, guest, domain):
        calls.append(domain.id)
        if len(calls) == 2:
            raise Boom("midway")
        return real(ctx, guest, domain)

    monkeypatch.setattr(conversion, "_convert_domain", second_fails)
    response = act(
        client, "POST", "/v1/portals/p-1/guest-conversion", "PortalUser:u-admin", {"dry_run": False}
    )
    assert_server_failed(response)
    assert calls == ["d-1", "d-2"]
    assert rows(app) == before
    assert audit_events(app) == []


def test_a_failing_denial_commits_nothing_either(app, client, world, monkeypatch):
    before = rows(app)
    monkeypatch.setattr(audit, "append", explode)
    response = act(client, "PUT", GRANT, "DomainUser:du-ann", key="k-deny")
    assert_server_failed(response)
    monkeypatch.undo()
    assert rows(app) == before
    assert audit_events(app) == []


def test_after_a_failure_the_same_key_runs_the_operation(app, client, world, monkeypatch):
    with monkeypatch.context() as patch:
        patch.setattr(audit, "append", explode)
        assert act(client, "PUT", GRANT, BOSS, key="retry").status_code == 500
    response = act(client, "PUT", GRANT, BOSS, key="retry")
    assert response.status_code == 200, response.json
    assert [(e["item"], e["amount"]) for e in ledger(app, "d-1")] == [("backoffice_seat", "25.00")]
    assert verify_chain(app).ok
    assert [e["id"] for e in audit_events(app)] == [response.json["audit_event_id"]]


def test_a_write_gate_held_too_long_answers_503_busy_with_retry_after(
    app, client, world, monkeypatch
):
    """SQLite's writers queue for the gate; past GATE_WAIT_SECONDS the operation gives up."""

    def held_by_others(_session):
        raise base.Busy("The database is busy with other governed operations; retry shortly.")

    before = rows(app)
    monkeypatch.setattr(base, "_take_gate", held_by_others)
    response = act(client, "PUT", GRANT, BOSS, None, key="k-busy")
    error = assert_error(response, 503, "busy")
    assert response.headers["Retry-After"] == "1"
    assert "retry" in error["message"]
    monkeypatch.undo()
    assert rows(app) == before
    # Nothing was kept under the key: the retry with the same key runs the grant.
    assert act(client, "PUT", GRANT, BOSS, None, key="k-busy").status_code == 200
