"""Governed operations on a domain: staff functions, shielding, Back Office Access, plan."""

from __future__ import annotations

import datetime as dt

import pytest

from service import pricing
from tests.integration.support import (
    CHECK,
    act,
    assert_audited,
    base_world,
    brussels,
    deny_changes_nothing,
    frozen_now,
    get,
    ledger,
    load,
    money_change,
    rejected_changes_nothing,
    today_brussels,
)

ADMIN = "PortalUser:u-admin"
BOSS = "DomainUser:du-boss"


@pytest.fixture
def world(client, clean_db):
    load(client, base_world())


def may(client, actor_type, actor_id, action, domain_id):
    body = {
        "actor": {"type": actor_type, "id": actor_id},
        "action": action,
        "resource": {"type": "Domain", "id": domain_id},
    }
    response = client.post("/v1/authorize", json=body, headers=CHECK)
    assert response.status_code == 200, response.json
    return response.json


# --- PUT/DELETE /v1/domains/{did}/staff/{function} -------------------------------------------


def test_administrator_can_assign_staff_and_the_policy_follows(app, client, world):
    assert may(client, "PortalUser", "u-sub", "open", "d-1")["reasons"] == ["not_assigned"]
    response = act(client, "PUT", "/v1/domains/d-1/staff/Controller", ADMIN, {"user_id": "u-sub"})
    assert response.status_code == 200, response.json
    staff = [
        {"domain_id": "d-1", "user_id": "u-sub", "function": "Controller"},
        {"domain_id": "d-1", "user_id": "u-bo", "function": "Responsible"},
    ]
    assert response.json["staff"] == staff
    assert get(client, "/v1/domains/d-1")["staff"] == staff
    assert may(client, "PortalUser", "u-sub", "open", "d-1")["allowed"] is True
    event = assert_audited(
        app,
        response,
        operation="assign_staff",
        actor=ADMIN,
        outcome="allowed",
        target=("Domain", "d-1"),
    )
    assert event["portal_id"] == "p-1"
    assert event["after"]["staff"] == staff


def test_assigning_a_held_function_replaces_its_holder(client, world):
    response = act(client, "PUT", "/v1/domains/d-1/staff/Responsible", ADMIN, {"user_id": "u-de"})
    assert response.status_code == 200
    assert get(client, "/v1/domains/d-1")["staff"] == [
        {"domain_id": "d-1", "user_id": "u-de", "function": "Responsible"}
    ]


def test_administrator_can_remove_a_staff_function(app, client, world):
    response = act(client, "DELETE", "/v1/domains/d-1/staff/Responsible", ADMIN)
    assert response.status_code == 200, response.json
    assert response.json["staff"] == []
    assert get(client, "/v1/domains/d-1")["staff"] == []
    assert_audited(
        app,
        response,
        operation="remove_staff",
        actor=ADMIN,
        outcome="allowed",
        target=("Domain", "d-1"),
    )


@pytest.mark.parametrize(
    ("method", "actor", "reasons"),
    [
        ("PUT", "PortalUser:u-bo", ["not_portal_administrator"]),
        ("PUT", "PortalUser:u-guest", ["not_portal_administrator"]),
        ("PUT", "PortalUser:x-admin", ["not_member"]),
        ("PUT", BOSS, ["action_not_applicable"]),
        ("DELETE", "PortalUser:u-bo", ["not_portal_administrator"]),
        ("DELETE", "PortalUser:x-admin", ["not_member"]),
    ],
)
def test_only_the_administrator_assigns_staff(app, client, world, method, actor, reasons):
    body = {"user_id": "u-de"} if method == "PUT" else None
    deny_changes_nothing(
        app,
        client,
        method,
        "/v1/domains/d-1/staff/Responsible",
        actor,
        body,
        reasons,
        operation="assign_staff" if method == "PUT" else "remove_staff",
        target=("Domain", "d-1"),
    )


@pytest.mark.parametrize(
    ("path", "body", "status", "field"),
    [
        ("/v1/domains/d-1/staff/Boss", {"user_id": "u-de"}, 400, ("path", "function")),
        ("/v1/domains/d-1/staff/responsible", {"user_id": "u-de"}, 400, ("path", "function")),
        ("/v1/domains/d-1/staff/Backup", {"user_id": "x-admin"}, 400, ("json", "user_id")),
        ("/v1/domains/d-1/staff/Backup", {"user_id": "u-nobody"}, 400, ("json", "user_id")),
        ("/v1/domains/d-1/staff/Backup", {"user_id": "u de"}, 400, ("json", "user_id")),
        ("/v1/domains/d-1/staff/Backup", {"user_id": 7}, 400, ("json", "user_id")),
        ("/v1/domains/d-1/staff/Backup", {}, 400, ("json", "user_id")),
        ("/v1/domains/d-1/staff/Backup", {"user_id": "u-de", "x": 1}, 400, ("json", "x")),
        ("/v1/domains/d%201/staff/Backup", {"user_id": "u-de"}, 400, ("path", "did")),
        ("/v1/domains/d-9/staff/Backup", {"user_id": "u-de"}, 404, None),
    ],
    ids=[
        "unknown-function",
        "function-case",
        "user-of-other-portal",
        "unknown-user",
        "malformed-user-id",
        "user-id-number",
        "missing-user-id",
        "unknown-field",
        "malformed-domain",
        "unknown-domain",
    ],
)
def test_invalid_staff_assignments_are_rejected(app, client, world, path, body, status, field):
    code = "invalid_request" if status == 400 else "not_found"
    rejected_changes_nothing(app, client, "PUT", path, ADMIN, body, status, code, field)


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/v1/domains/d-1/staff/Backup", 404),  # nobody holds it
        ("/v1/domains/d-9/staff/Responsible", 404),
        ("/v1/domains/d-1/staff/Chief", 400),
    ],
)
def test_removing_an_unheld_or_unknown_function_is_rejected(app, client, world, path, status):
    code = "invalid_request" if status == 400 else "not_found"
    rejected_changes_nothing(app, client, "DELETE", path, ADMIN, None, status, code)


# --- PUT /v1/domains/{did}/shielded ----------------------------------------------------------


def test_administrator_can_shield_a_domain_and_the_policy_follows(app, client, world):
    assert may(client, "PortalUser", "u-de", "open", "d-1")["allowed"] is True
    response = act(client, "PUT", "/v1/domains/d-1/shielded", ADMIN, {"shielded": True})
    assert response.status_code == 200, response.json
    assert response.json["domain"]["shielded"] is True
    assert get(client, "/v1/domains/d-1")["shielded"] is True
    assert may(client, "PortalUser", "u-de", "open", "d-1")["reasons"] == ["domain_shielded"]
    assert may(client, "PortalUser", "u-bo", "open", "d-1")["allowed"] is True  # Responsible
    event = assert_audited(
        app,
        response,
        operation="set_shielded",
        actor=ADMIN,
        outcome="allowed",
        target=("Domain", "d-1"),
    )
    assert event["before"]["domain"]["shielded"] is False
    assert event["after"]["domain"]["shielded"] is True


@pytest.mark.parametrize(
    ("actor", "reasons"),
    [
        ("PortalUser:u-bo", ["not_portal_administrator"]),
        ("PortalUser:x-admin", ["not_member"]),
        (BOSS, ["action_not_applicable"]),
        ("DomainUser:du-nobody", ["unknown_actor"]),
    ],
)
def test_only_the_administrator_shields(app, client, world, actor, reasons):
    deny_changes_nothing(
        app,
        client,
        "PUT",
        "/v1/domains/d-1/shielded",
        actor,
        {"shielded": True},
        reasons,
        operation="set_shielded",
        target=("Domain", "d-1"),
    )


@pytest.mark.parametrize(
    "body",
    [{"shielded": "yes"}, {"shielded": "true"}, {"shielded": None}, {}, {"shielded": True, "x": 1}],
    ids=str,
)
def test_shielded_must_be_a_boolean(app, client, world, body):
    field = "x" if "x" in body else "shielded"
    rejected_changes_nothing(
        app,
        client,
        "PUT",
        "/v1/domains/d-1/shielded",
        ADMIN,
        body,
        400,
        "invalid_request",
        ("json", field),
    )


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/domains/d-1/shielded", {"shielded": 1}),
        ("/v1/domains/d-1/bo-access", {"authorized": 0}),
        ("/v1/portals/p-1/guest-conversion", {"dry_run": 0}),
    ],
    ids=["shielded", "bo-access", "dry-run"],
)
def test_numbers_are_not_booleans(app, client, world, path, body):
    """Regression: 1 and 0 passed as true and false ({"dry_run": 0} ran a real conversion)."""
    rejected_changes_nothing(
        app,
        client,
        "PUT" if "domains" in path else "POST",
        path,
        ADMIN,
        body,
        400,
        "invalid_request",
        ("json", next(iter(body))),
    )


def test_shielding_an_unknown_domain_is_404(app, client, world):
    rejected_changes_nothing(
        app,
        client,
        "PUT",
        "/v1/domains/d-9/shielded",
        ADMIN,
        {"shielded": True},
        404,
        "not_found",
    )


# --- PUT /v1/domains/{did}/bo-access ---------------------------------------------------------


def test_administrator_can_authorize_back_office_access(app, client, world):
    response = act(client, "PUT", "/v1/domains/d-2/bo-access", ADMIN, {"authorized": True})
    assert response.status_code == 200, response.json
    assert response.json["domain"]["bo_access_authorized"] is True
    assert get(client, "/v1/domains/d-2")["bo_access_authorized"] is True
    assert "run_rate_change" not in response.json  # nobody holds Backoffice yet
    event = assert_audited(
        app,
        response,
        operation="authorize_bo_access",
        actor=ADMIN,
        outcome="allowed",
        target=("Domain", "d-2"),
    )
    assert event["domain_id"] == "d-2"


def test_administrator_can_revoke_back_office_access(app, client, world):
    response = act(client, "PUT", "/v1/domains/d-1/bo-access", ADMIN, {"authorized": False})
    assert response.status_code == 200, response.json
    assert response.json["domain"]["bo_access_authorized"] is False
    assert get(client, "/v1/domains/d-1")["bo_access_authorized"] is False
    assert_audited(app, response, operation="revoke_bo_access", actor=ADMIN, outcome="allowed")


@pytest.mark.parametrize(
    ("domain_id", "authorized", "actor", "reasons"),
    [
        ("d-min", True, ADMIN, ["plan_not_eligible"]),
        ("d-leg", True, ADMIN, ["legacy_pricing"]),
        ("d-2", True, "PortalUser:u-bo", ["not_portal_administrator"]),
        ("d-min", True, "PortalUser:u-bo", ["not_portal_administrator", "plan_not_eligible"]),
        ("d-2", True, "PortalUser:x-admin", ["not_member"]),
        ("d-2", True, "DomainUser:du-s", ["action_not_applicable"]),
        ("d-1", False, "PortalUser:u-bo", ["not_portal_administrator"]),
        ("d-1", False, BOSS, ["action_not_applicable"]),
    ],
    ids=[
        "minimal",
        "legacy",
        "backoffice",
        "backoffice-minimal",
        "other-portal",
        "management",
        "revoke-backoffice",
        "revoke-management",
    ],
)
def test_back_office_access_is_the_administrators_on_eligible_plans(
    app, client, world, domain_id, authorized, actor, reasons
):
    deny_changes_nothing(
        app,
        client,
        "PUT",
        f"/v1/domains/{domain_id}/bo-access",
        actor,
        {"authorized": authorized},
        reasons,
        operation="authorize_bo_access" if authorized else "revoke_bo_access",
        target=("Domain", domain_id),
    )


@pytest.mark.parametrize(
    ("path", "body", "status"),
    [
        ("/v1/domains/d-2/bo-access", {"authorized": "true"}, 400),
        ("/v1/domains/d-2/bo-access", {"authorize": True}, 400),
        ("/v1/domains/d-2/bo-access", None, 400),
        ("/v1/domains/d-9/bo-access", {"authorized": True}, 404),
        ("/v1/domains/d:9!/bo-access", {"authorized": True}, 400),
    ],
)
def test_invalid_bo_access_requests_are_rejected(app, client, world, path, body, status):
    code = "invalid_request" if status == 400 else "not_found"
    rejected_changes_nothing(app, client, "PUT", path, ADMIN, body, status, code)


# --- PUT /v1/domains/{did}/plan --------------------------------------------------------------


def test_management_upgrades_at_once_and_the_ledger_records_it(app, client, world):
    response = act(client, "PUT", "/v1/domains/d-1/plan", BOSS, {"plan": "Large"})
    assert response.status_code == 200, response.json
    assert response.json["effective_on"] == today_brussels().isoformat()
    assert response.json["domain"]["plan"] == "Large"
    assert response.json["domain"]["pending_plan"] is None
    assert response.json["run_rate_change"] == money_change("30.00", ("base", "30.00"))
    assert get(client, "/v1/domains/d-1")["plan"] == "Large"
    event = assert_audited(
        app,
        response,
        operation="change_plan",
        actor=BOSS,
        outcome="allowed",
        target=("Domain", "d-1"),
    )
    assert ledger(app, "d-1") == [
        {
            "domain_id": "d-1",
            "item": "base",
            "amount": "30.00",
            "actor": BOSS,
            "operation": "change_plan",
            "audit_event_id": event["id"],
        }
    ]
    assert event["run_rate_change"] == response.json["run_rate_change"]


def test_management_downgrades_on_the_first_of_next_month(app, client, world):
    response = act(client, "PUT", "/v1/domains/d-1/plan", BOSS, {"plan": "Small"})
    assert response.status_code == 200, response.json
    first = pricing.first_of_next_month(today_brussels()).isoformat()
    assert response.json["effective_on"] == first
    domain = get(client, "/v1/domains/d-1")
    assert (domain["plan"], domain["pending_plan"], domain["pending_plan_from"]) == (
        "Medium",
        "Small",
        first,
    )
    # Nothing moves today; the change is priced, answered and ledgered for its date.
    assert response.json["run_rate_change"] == {
        **money_change("-20.00", ("base", "-20.00")),
        "effective_on": first,
    }
    [entry] = get(client, "/v1/domains/d-1/ledger")["entries"]
    assert (entry["item"], entry["amount"], entry["operation"]) == ("base", "-20.00", "change_plan")
    assert dt.datetime.fromisoformat(entry["at"]) == brussels(*map(int, first.split("-")))
    assert get(client, "/v1/domains/d-1/billing")["total"] == "57.50"  # still Medium today


def test_an_upgrade_cancels_a_pending_downgrade(client, world):
    act(client, "PUT", "/v1/domains/d-1/plan", BOSS, {"plan": "Small"})
    response = act(client, "PUT", "/v1/domains/d-1/plan", BOSS, {"plan": "Medium"})
    assert response.status_code == 200
    domain = get(client, "/v1/domains/d-1")
    assert (domain["plan"], domain["pending_plan"], domain["pending_plan_from"]) == (
        "Medium",
        None,
        None,
    )


def test_a_downgrade_whose_date_has_come_is_the_plan_in_force(client, clean_db):
    world = base_world()
    world["domains"][0].update(plan="Large", pending_plan="Medium", pending_plan_from="2020-01-01")
    load(client, world)
    response = act(client, "PUT", "/v1/domains/d-1/plan", BOSS, {"plan": "Unlimited"})
    assert response.status_code == 200, response.json
    assert response.json["run_rate_change"] == money_change("70.00", ("base", "70.00"))
    assert response.json["domain"]["pending_plan"] is None


@pytest.mark.parametrize(
    ("when", "effective_on"),
    [
        # 23:30 on Jan 31 in Brussels (22:30 UTC): next month is February.
        (dt.datetime(2022, 1, 31, 22, 30, tzinfo=dt.UTC), "2022-02-01"),
        # 00:30 on Feb 1 in Brussels, still Jan 31 in UTC: next month is March.
        (dt.datetime(2022, 1, 31, 23, 30, tzinfo=dt.UTC), "2022-03-01"),
        # Summer time: 00:30 on Jul 1 in Brussels is 22:30 UTC on Jun 30.
        (dt.datetime(2022, 6, 30, 22, 30, tzinfo=dt.UTC), "2022-08-01"),
        # The last month of the year rolls into January.
        (brussels(2022, 12, 31, 23, 59), "2023-01-01"),
    ],
    ids=["jan-31-brussels", "feb-1-brussels", "jul-1-brussels", "december"],
)
def test_the_downgrade_date_is_the_first_of_next_month_in_brussels(
    client, world, monkeypatch, when, effective_on
):
    with frozen_now(monkeypatch, when):
        response = act(client, "PUT", "/v1/domains/d-1/plan", BOSS, {"plan": "Small"})
    assert response.status_code == 200, response.json
    assert response.json["effective_on"] == effective_on


@pytest.mark.parametrize(
    ("actor", "reasons"),
    [
        ("DomainUser:du-ann", ["not_management"]),
        ("DomainUser:du-x", ["not_member"]),
        (ADMIN, ["action_not_applicable"]),
    ],
)
def test_only_management_changes_the_plan(app, client, world, actor, reasons):
    deny_changes_nothing(
        app,
        client,
        "PUT",
        "/v1/domains/d-1/plan",
        actor,
        {"plan": "Large"},
        reasons,
        operation="change_plan",
        target=("Domain", "d-1"),
    )


@pytest.mark.parametrize(
    ("path", "body", "status", "field"),
    [
        ("/v1/domains/d-1/plan", {"plan": "Huge"}, 400, ("json", "plan")),
        ("/v1/domains/d-1/plan", {"plan": 3}, 400, ("json", "plan")),
        ("/v1/domains/d-1/plan", {}, 400, ("json", "plan")),
        ("/v1/domains/d-1/plan", {"plan": "Large", "when": "now"}, 400, ("json", "when")),
        ("/v1/domains/d-9/plan", {"plan": "Large"}, 404, None),
    ],
    ids=["unknown-plan", "number", "missing", "unknown-field", "unknown-domain"],
)
def test_invalid_plan_changes_are_rejected(app, client, world, path, body, status, field):
    code = "invalid_request" if status == 400 else "not_found"
    rejected_changes_nothing(app, client, "PUT", path, BOSS, body, status, code, field)
