"""The legacy portal guest: conversion (dry run, real run, second run) and the Q10 report.

domain.md section 4; FAQ Q2, Q3, Q10.
"""

from __future__ import annotations

import pytest

from tests.integration.support import (
    CHECK,
    act,
    assert_audited,
    audit_events,
    deny_changes_nothing,
    domain,
    domain_user,
    get,
    ledger,
    load,
    portal_user,
    rejected_changes_nothing,
    rows,
)

ADMIN = "PortalUser:u-admin"
CONVERSION = "/v1/portals/p-1/guest-conversion"


def guest(uid: str, email: str, **extra):
    return {**portal_user(uid, "p-1", "PortalGuest"), "email": email, **extra}


WORLD = {
    "portals": [{"id": "p-1", "name": "Fiduciaire Dupont"}, {"id": "p-2", "name": "Ailleurs"}],
    "portal_users": [
        portal_user("u-admin", "p-1", "PortalAdministrator"),
        portal_user("u-bo", "p-1", "PortalBackoffice"),
        portal_user("x-admin", "p-2", "PortalAdministrator"),
        # Responsible on d-a (a user with the same e-mail exists) and d-b (nobody there);
        # Backup on d-c, which the conversion leaves alone.
        guest("g-1", "marc@bakkerij.example"),
        # Responsible on d-c, where no user has the e-mail.
        guest("g-2", "lea@elsewhere.example"),
        # Responsible nowhere.
        guest("g-3", "idle@nowhere.example"),
        # Converted long ago.
        guest("g-old", "old@x.example", converted_at="2022-01-20T10:00:00+01:00"),
    ],
    "domains": [
        domain("d-a", "p-1", "Medium", authorized=False),
        domain("d-b", "p-1", "Minimal", authorized=False),
        domain("d-c", "p-1", "Small", authorized=True),
        domain("d-d", "p-1", "Large", authorized=False),
    ],
    "staff": [
        {"domain_id": "d-a", "user_id": "g-1", "function": "Responsible"},
        {"domain_id": "d-b", "user_id": "g-1", "function": "Responsible"},
        {"domain_id": "d-c", "user_id": "g-1", "function": "Backup"},
        {"domain_id": "d-c", "user_id": "g-2", "function": "Responsible"},
        {"domain_id": "d-d", "user_id": "g-old", "function": "Responsible"},
    ],
    "domain_users": [
        domain_user("du-owner", "d-a", ["Management"], owner=True),
        domain_user("du-marc", "d-a", ["Sales"], email="Marc@Bakkerij.example"),
        domain_user("du-c", "d-c", ["Management"], owner=True),
    ],
}


@pytest.fixture
def world(client, clean_db):
    load(client, WORLD)


def convert(client, dry_run, actor=ADMIN):
    return act(client, "POST", CONVERSION, actor, {"dry_run": dry_run})


def by_guest(body):
    return {g["guest_id"]: g for g in body["guests"]}


def by_domain(entries):
    return {e["domain_id"]: e for e in entries}


def users(client, domain_id):
    return {u["id"]: u for u in get(client, f"/v1/domains/{domain_id}/users")["users"]}


def may(client, actor, action, domain_id):
    body = {
        "actor": {"type": "PortalUser", "id": actor},
        "action": action,
        "resource": {"type": "Domain", "id": domain_id},
    }
    return client.post("/v1/authorize", json=body, headers=CHECK).json


def test_dry_run_reports_per_guest_and_domain_and_changes_nothing(app, client, world):
    before = rows(app)
    response = convert(client, True)
    assert response.status_code == 200, response.json
    body = response.json
    assert body["dry_run"] is True
    assert set(by_guest(body)) == {"g-1", "g-2", "g-3"}  # not g-old, converted already
    g1 = by_domain(by_guest(body)["g-1"]["domains"])
    assert set(g1) == {"d-a", "d-b"}  # only where Responsible
    assert g1["d-a"]["domain_user_id"] == "du-marc"
    assert g1["d-a"]["done"] == [
        "found domain user du-marc",
        "granted Backoffice",
        "authorized Back Office Access",
        "removed the guest as Responsible",
    ]
    assert g1["d-a"]["warnings"] == ["domain left without a Responsible"]
    assert g1["d-b"]["done"][0].startswith("created domain user ")
    assert any("discount" in step for step in g1["d-b"]["done"])
    assert "domain without a Management user" in g1["d-b"]["warnings"]
    assert "domain left without a Responsible" in g1["d-b"]["warnings"]
    g2 = by_domain(by_guest(body)["g-2"]["domains"])
    assert g2["d-c"]["done"][0].startswith("created domain user ")
    assert "authorized Back Office Access" not in g2["d-c"]["done"]  # it was already
    assert by_guest(body)["g-3"]["domains"] == []
    assert by_guest(body)["g-3"]["warnings"] == ["no domain where the guest is Responsible"]
    # Nothing happened: no state, no ledger, no audit event.
    assert rows(app) == before
    assert audit_events(app) == []
    assert "audit_event_id" not in body


def test_real_run_converts_every_guest(app, client, world):
    dry = convert(client, True).json
    response = convert(client, False)
    assert response.status_code == 200, response.json
    body = response.json
    assert body["dry_run"] is False and body["converted"] == 3
    # The dry run said exactly what the real run did.
    assert body["guests"] == dry["guests"]
    assert body["run_rate_changes"] == dry["run_rate_changes"]

    # d-a: the user with the guest's e-mail (any case) now holds Backoffice, access authorized.
    assert users(client, "d-a")["du-marc"]["roles"] == ["Backoffice", "Sales"]
    d_a = get(client, "/v1/domains/d-a")
    assert d_a["bo_access_authorized"] is True
    assert d_a["guest_discount"] is None  # Medium: eligible already
    assert d_a["staff"] == []
    # d-b: a user was created for the guest, and the discount entitlement recorded.
    [created] = users(client, "d-b").values()
    assert created["email"] == "marc@bakkerij.example" and created["roles"] == ["Backoffice"]
    d_b = get(client, "/v1/domains/d-b")
    assert d_b["bo_access_authorized"] is True
    assert d_b["guest_discount"] == {"percent": 50, "months": 24, "starts_on": None}
    # d-c: g-2 converted; g-1 keeps the Backup function (it was not Responsible there).
    assert get(client, "/v1/domains/d-c")["staff"] == [
        {"domain_id": "d-c", "user_id": "g-1", "function": "Backup"}
    ]
    assert any(u["email"] == "lea@elsewhere.example" for u in users(client, "d-c").values())
    # Every guest is marked converted.
    portal = {u["id"]: u for u in get(client, "/v1/portals/p-1")["users"]}
    assert all(portal[g]["converted_at"] is not None for g in ("g-1", "g-2", "g-3"))
    # One audit event; the ledger follows the run-rate changes.
    event = assert_audited(
        app,
        response,
        operation="convert_guests",
        actor=ADMIN,
        outcome="allowed",
        target=("Portal", "p-1"),
    )
    assert event["after"] == {"converted": ["g-1", "g-2", "g-3"]}
    for domain_id, change in body["run_rate_changes"].items():
        entries = ledger(app, domain_id)
        assert [(e["item"], e["amount"]) for e in entries] == [
            (i["item"], i["amount"]) for i in change["items"]
        ]
        assert all(e["audit_event_id"] == event["id"] for e in entries)
    assert set(body["run_rate_changes"]) == {"d-a", "d-b", "d-c"}


def test_a_converted_guest_is_denied_everything(app, client, world):
    assert may(client, "g-1", "open", "d-a")["allowed"] is True
    convert(client, False)
    assert may(client, "g-1", "open", "d-a")["reasons"] == ["guest_converted"]
    assert may(client, "g-1", "process", "d-a")["reasons"] == ["guest_converted"]
    deny_changes_nothing(
        app,
        client,
        "PUT",
        "/v1/domains/d-c/shielded",
        "PortalUser:g-1",
        {"shielded": True},
        ["guest_converted"],
        operation="set_shielded",
    )


def test_the_converted_users_have_effective_back_office_access(client, world):
    convert(client, False)
    body = {
        "actor": {"type": "DomainUser", "id": "du-marc"},
        "action": "process",
        "resource": {"type": "Domain", "id": "d-a"},
    }
    assert client.post("/v1/authorize", json=body, headers=CHECK).json["allowed"] is True
    [created] = users(client, "d-b")
    body["actor"]["id"], body["resource"]["id"] = created, "d-b"
    answer = client.post("/v1/authorize", json=body, headers=CHECK).json
    assert answer["reasons"] == ["plan_not_eligible"]  # dormant until an eligible plan


def test_a_second_run_converts_nothing_and_says_so(app, client, world):
    convert(client, False)
    before = rows(app)
    response = convert(client, False)
    assert response.status_code == 200, response.json
    assert response.json["converted"] == 0
    assert response.json["guests"] == []
    assert response.json["run_rate_changes"] == {}
    assert "nothing to convert" in response.json["message"]
    assert rows(app) == before


def test_guest_report_lists_every_guest_with_their_domains(client, world):
    report = get(client, "/v1/portals/p-1/guest-report")
    assert report["portal_id"] == "p-1"
    guests = {g["guest"]["id"]: g for g in report["guests"]}
    assert set(guests) == {"g-1", "g-2", "g-3", "g-old"}
    assert guests["g-old"]["converted"] is True and guests["g-1"]["converted"] is False
    assert guests["g-1"]["guest"]["created_at"] is not None
    assert guests["g-1"]["domains"] == [
        {
            "domain_id": "d-a",
            "function": "Responsible",
            "has_domain_user": True,
            "has_management_user": True,
        },
        {
            "domain_id": "d-b",
            "function": "Responsible",
            "has_domain_user": False,
            "has_management_user": False,
        },
        {
            "domain_id": "d-c",
            "function": "Backup",
            "has_domain_user": True,
            "has_management_user": True,
        },
    ]
    assert guests["g-3"]["domains"] == []
    assert guests["g-old"]["domains"][0]["domain_id"] == "d-d"
    assert guests["g-old"]["domains"][0]["has_domain_user"] is False


def test_guest_report_after_conversion_lists_converted_guests_too(client, world):
    convert(client, False)
    guests = {g["guest"]["id"]: g for g in get(client, "/v1/portals/p-1/guest-report")["guests"]}
    assert set(guests) == {"g-1", "g-2", "g-3", "g-old"}
    assert all(g["converted"] for g in guests.values())
    assert [d["function"] for d in guests["g-1"]["domains"]] == ["Backup"]
    assert guests["g-2"]["domains"] == []


def test_guest_report_of_an_unknown_portal_is_404(client, world):
    response = client.get(
        "/v1/portals/p-9/guest-report", headers={"Authorization": "Bearer admin-secret"}
    )
    assert response.status_code == 404
    assert response.json["error"]["code"] == "not_found"


@pytest.mark.parametrize(
    ("actor", "reasons"),
    [
        ("PortalUser:u-bo", ["not_portal_administrator"]),
        ("PortalUser:g-1", ["not_portal_administrator"]),
        ("PortalUser:g-old", ["guest_converted"]),
        ("PortalUser:x-admin", ["not_member"]),
        ("DomainUser:du-owner", ["action_not_applicable"]),
    ],
    ids=["backoffice", "guest", "converted-guest", "other-portal", "domain-user"],
)
@pytest.mark.parametrize("dry_run", [True, False], ids=["dry", "real"])
def test_only_the_portal_administrator_converts(app, client, world, actor, reasons, dry_run):
    deny_changes_nothing(
        app,
        client,
        "POST",
        CONVERSION,
        actor,
        {"dry_run": dry_run},
        reasons,
        operation="convert_guests",
        target=("Portal", "p-1"),
    )


@pytest.mark.parametrize(
    ("path", "body", "status", "field"),
    [
        (CONVERSION, {"dry_run": "yes"}, 400, ("json", "dry_run")),
        (CONVERSION, {"dry_run": None}, 400, ("json", "dry_run")),
        (CONVERSION, {"dry_run": True, "guests": ["g-1"]}, 400, ("json", "guests")),
        ("/v1/portals/p-9/guest-conversion", {"dry_run": True}, 404, None),
        ("/v1/portals/p 1/guest-conversion", {"dry_run": True}, 400, ("path", "pid")),
    ],
    ids=["string", "null", "unknown-field", "unknown-portal", "malformed-portal"],
)
def test_invalid_conversion_requests_are_rejected(app, client, world, path, body, status, field):
    code = "invalid_request" if status == 400 else "not_found"
    rejected_changes_nothing(app, client, "POST", path, ADMIN, body, status, code, field)
