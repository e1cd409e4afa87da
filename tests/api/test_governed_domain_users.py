"""Governed operations on a domain's users: add, delete, grant and revoke roles."""

from __future__ import annotations

import pytest

from tests.integration.support import (
    act,
    assert_audited,
    base_world,
    deny_changes_nothing,
    domain_user,
    get,
    ledger,
    load,
    money_change,
    rejected_changes_nothing,
)

BOSS = "DomainUser:du-boss"
ANN = "DomainUser:du-ann"
NEW = {
    "id": "du-new",
    "email": "eva@client.example",
    "name": "Eva",
    "roles": ["Purchase"],
    "administrations": [],
}


@pytest.fixture
def world(client, clean_db):
    load(client, base_world())


@pytest.fixture
def holders_world(client, clean_db):
    """d-1 with du-ann holding Backoffice (the included seat) and du-bob a second, billed one."""
    world = base_world()
    world["domain_users"][1]["roles"] = ["Backoffice", "Sales"]
    world["domain_users"].append(domain_user("du-bob", "d-1", ["Backoffice"]))
    load(client, world)


def users(client, domain_id="d-1"):
    return {u["id"]: u for u in get(client, f"/v1/domains/{domain_id}/users")["users"]}


# --- POST /v1/domains/{did}/users ------------------------------------------------------------


def test_management_can_add_an_extra_user_on_medium(app, client, world):
    response = act(client, "POST", "/v1/domains/d-1/users", BOSS, NEW)
    assert response.status_code == 201, response.json
    user = response.json["user"]
    assert user == {**NEW, "domain_id": "d-1", "is_owner": False}
    assert users(client)["du-new"] == user
    assert response.json["run_rate_change"] == money_change("7.50", ("extra_user", "7.50"))
    event = assert_audited(
        app,
        response,
        operation="add_domain_user",
        actor=BOSS,
        outcome="allowed",
        target=("DomainUser", "du-new"),
    )
    assert (event["domain_id"], event["portal_id"]) == ("d-1", "p-1")
    assert [(e["item"], e["amount"], e["audit_event_id"]) for e in ledger(app, "d-1")] == [
        ("extra_user", "7.50", event["id"])
    ]


def test_a_new_backoffice_user_costs_a_seat_and_an_extra_user(app, client, holders_world):
    body = {**NEW, "roles": ["Backoffice", "Purchase"]}
    response = act(client, "POST", "/v1/domains/d-1/users", BOSS, body)
    assert response.status_code == 201, response.json
    assert response.json["run_rate_change"] == money_change(
        "32.50", ("backoffice_seat", "25.00"), ("extra_user", "7.50")
    )


def test_a_user_limited_to_some_administrations(client, world):
    body = {**NEW, "administrations": ["a-1"]}
    response = act(client, "POST", "/v1/domains/d-1/users", BOSS, body)
    assert response.status_code == 201, response.json
    assert users(client)["du-new"]["administrations"] == ["a-1"]


@pytest.mark.parametrize(
    ("domain_id", "actor", "body", "reasons"),
    [
        ("d-1", ANN, NEW, ["not_management"]),
        ("d-2", "DomainUser:du-s", NEW, ["extra_users_not_in_plan"]),
        (
            "d-2",
            "DomainUser:du-s",
            {**NEW, "roles": ["Backoffice"]},
            ["bo_access_not_authorized", "extra_users_not_in_plan"],
        ),
        (
            "d-min",
            "DomainUser:du-m",
            {**NEW, "roles": ["Backoffice"]},
            ["bo_access_not_authorized", "extra_users_not_in_plan", "plan_not_eligible"],
        ),
        ("d-1", "DomainUser:du-x", NEW, ["not_member"]),
        ("d-1", "PortalUser:u-admin", NEW, ["action_not_applicable"]),
    ],
    ids=["not-management", "small", "small-backoffice", "minimal-backoffice", "other", "office"],
)
def test_adding_users_is_for_management_within_the_plan(
    app, client, world, domain_id, actor, body, reasons
):
    deny_changes_nothing(
        app,
        client,
        "POST",
        f"/v1/domains/{domain_id}/users",
        actor,
        body,
        reasons,
        operation="add_domain_user",
        target=("DomainUser", "du-new"),
    )


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"roles": ["Boss"]}, "roles"),
        ({"roles": "Sales"}, "roles"),
        ({"roles": ["Sales", "Sales"]}, "roles"),
        ({"roles": [None]}, "roles"),
        ({"administrations": ["a-x"]}, "administrations"),
        ({"administrations": ["a-nope"]}, "administrations"),
        ({"administrations": ["a 1"]}, "administrations"),
        ({"administrations": "a-1"}, "administrations"),
        ({"email": "eva"}, "email"),
        ({"id": "du new"}, "id"),
        ({"id": None}, "id"),
        ({"is_owner": True}, "is_owner"),
    ],
    ids=str,
)
def test_invalid_domain_user_fields_are_named(app, client, world, change, field):
    rejected_changes_nothing(
        app,
        client,
        "POST",
        "/v1/domains/d-1/users",
        BOSS,
        {**NEW, **change},
        400,
        "invalid_request",
        ("json", field),
    )


@pytest.mark.parametrize("taken", ["du-ann", "du-x"], ids=["same-domain", "other-domain"])
def test_existing_domain_user_id_is_409(app, client, world, taken):
    rejected_changes_nothing(
        app, client, "POST", "/v1/domains/d-1/users", BOSS, {**NEW, "id": taken}, 409, "conflict"
    )


@pytest.mark.parametrize(
    ("path", "status"), [("/v1/domains/d-9/users", 404), ("/v1/domains/-!/users", 400)]
)
def test_adding_to_an_unknown_or_malformed_domain(app, client, world, path, status):
    code = "invalid_request" if status == 400 else "not_found"
    rejected_changes_nothing(app, client, "POST", path, BOSS, NEW, status, code)


# --- DELETE /v1/domains/{did}/users/{uid} ----------------------------------------------------


def test_management_can_delete_a_user(app, client, world):
    response = act(client, "DELETE", "/v1/domains/d-1/users/du-ann", BOSS)
    assert response.status_code == 200, response.json
    assert response.json["deleted"] == {"type": "DomainUser", "id": "du-ann"}
    assert "du-ann" not in users(client)
    assert response.json["run_rate_change"] == money_change("-7.50", ("extra_user", "-7.50"))
    event = assert_audited(
        app,
        response,
        operation="delete_domain_user",
        actor=BOSS,
        outcome="allowed",
        target=("DomainUser", "du-ann"),
    )
    assert event["before"]["user"]["id"] == "du-ann"


def test_deleting_a_billed_backoffice_holder_lowers_both_items(client, holders_world):
    response = act(client, "DELETE", "/v1/domains/d-1/users/du-bob", BOSS)
    assert response.status_code == 200, response.json
    assert response.json["run_rate_change"] == money_change(
        "-32.50", ("backoffice_seat", "-25.00"), ("extra_user", "-7.50")
    )


@pytest.mark.parametrize(
    ("actor", "target", "reasons"),
    [
        (BOSS, "du-boss", ["owner_protected"]),
        (ANN, "du-boss", ["not_management", "owner_protected"]),
        (ANN, "du-ann", ["not_management"]),
        ("DomainUser:du-x", "du-ann", ["not_member"]),
        ("PortalUser:u-admin", "du-ann", ["action_not_applicable"]),
    ],
    ids=["owner", "owner-by-other", "not-management", "other-domain", "office"],
)
def test_only_management_deletes_and_never_the_owner(app, client, world, actor, target, reasons):
    deny_changes_nothing(
        app,
        client,
        "DELETE",
        f"/v1/domains/d-1/users/{target}",
        actor,
        None,
        reasons,
        operation="delete_domain_user",
        target=("DomainUser", target),
    )


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/v1/domains/d-1/users/du-nobody", 404),
        ("/v1/domains/d-1/users/du-x", 404),
        ("/v1/domains/d-9/users/du-ann", 404),
        ("/v1/domains/d-1/users/du%20ann", 400),
    ],
    ids=["unknown-user", "user-of-other-domain", "unknown-domain", "malformed-user"],
)
def test_deleting_unknown_users_is_rejected(app, client, world, path, status):
    code = "invalid_request" if status == 400 else "not_found"
    rejected_changes_nothing(app, client, "DELETE", path, BOSS, None, status, code)


# --- PUT/DELETE /v1/domains/{did}/users/{uid}/roles/{role} -----------------------------------


def test_management_grants_backoffice_and_the_first_seat_is_included(app, client, world):
    response = act(client, "PUT", "/v1/domains/d-1/users/du-ann/roles/Backoffice", BOSS)
    assert response.status_code == 200, response.json
    assert response.json["user"]["roles"] == ["Backoffice", "Sales"]
    assert users(client)["du-ann"]["roles"] == ["Backoffice", "Sales"]
    assert response.json["run_rate_change"] == money_change(
        "0.00", ("backoffice_seat_included", "0.00")
    )
    event = assert_audited(
        app,
        response,
        operation="grant_role",
        actor=BOSS,
        outcome="allowed",
        target=("DomainUser", "du-ann"),
    )
    assert event["before"]["user"]["roles"] == ["Sales"]


def test_management_grants_another_role_at_no_cost(app, client, world):
    response = act(client, "PUT", "/v1/domains/d-1/users/du-ann/roles/Purchase", BOSS)
    assert response.status_code == 200, response.json
    assert response.json["user"]["roles"] == ["Purchase", "Sales"]
    assert "run_rate_change" not in response.json
    assert ledger(app) == []
    assert_audited(app, response, operation="grant_role", actor=BOSS, outcome="allowed")


def test_granting_a_held_role_again_changes_nothing(app, client, world):
    response = act(client, "PUT", "/v1/domains/d-1/users/du-ann/roles/Sales", BOSS)
    assert response.status_code == 200
    assert response.json["user"]["roles"] == ["Sales"]
    assert "run_rate_change" not in response.json


@pytest.mark.parametrize(
    ("domain_id", "user_id", "role", "actor", "reasons"),
    [
        ("d-2", "du-s", "Backoffice", "DomainUser:du-s", ["bo_access_not_authorized"]),
        (
            "d-min",
            "du-m",
            "Backoffice",
            "DomainUser:du-m",
            ["bo_access_not_authorized", "plan_not_eligible"],
        ),
        (
            "d-leg",
            "du-l",
            "Backoffice",
            "DomainUser:du-l",
            ["bo_access_not_authorized", "legacy_pricing"],
        ),
        ("d-1", "du-ann", "Backoffice", ANN, ["not_management"]),
        ("d-1", "du-ann", "Backoffice", "DomainUser:du-x", ["not_member"]),
        ("d-1", "du-ann", "Backoffice", "PortalUser:u-admin", ["action_not_applicable"]),
        ("d-1", "du-ann", "Purchase", ANN, ["not_management"]),
        ("d-1", "du-ann", "Management", ANN, ["not_management"]),
        ("d-1", "du-ann", "Purchase", "DomainUser:du-x", ["not_member"]),
        ("d-1", "du-ann", "Purchase", "PortalUser:u-admin", ["action_not_applicable"]),
    ],
    ids=[
        "backoffice-not-authorized",
        "backoffice-minimal",
        "backoffice-legacy",
        "backoffice-not-management",
        "backoffice-other-domain",
        "backoffice-office",
        "role-not-management",
        "self-promotion",
        "role-other-domain",
        "role-office",
    ],
)
def test_granting_roles_is_for_management_and_backoffice_needs_authorization(
    app, client, world, domain_id, user_id, role, actor, reasons
):
    deny_changes_nothing(
        app,
        client,
        "PUT",
        f"/v1/domains/{domain_id}/users/{user_id}/roles/{role}",
        actor,
        None,
        reasons,
        operation="grant_role",
        target=("DomainUser", user_id),
    )


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("PUT", "/v1/domains/d-1/users/du-ann/roles/Boss", 400),
        ("PUT", "/v1/domains/d-1/users/du-ann/roles/backoffice", 400),
        ("PUT", "/v1/domains/d-1/users/du-nobody/roles/Sales", 404),
        ("PUT", "/v1/domains/d-1/users/du-x/roles/Sales", 404),
        ("PUT", "/v1/domains/d-9/users/du-ann/roles/Sales", 404),
        ("PUT", "/v1/domains/d-1/users/du*ann/roles/Sales", 400),
        ("DELETE", "/v1/domains/d-1/users/du-ann/roles/Boss", 400),
        ("DELETE", "/v1/domains/d-1/users/du-ann/roles/Purchase", 404),  # not held
        ("DELETE", "/v1/domains/d-1/users/du-x/roles/Management", 404),
        ("DELETE", "/v1/domains/d-1/users/du-boss/roles/Management", 409),  # the owner's
    ],
)
def test_invalid_role_requests_are_rejected(app, client, world, method, path, status):
    code = {400: "invalid_request", 404: "not_found", 409: "conflict"}[status]
    error = rejected_changes_nothing(app, client, method, path, BOSS, None, status, code)
    if status == 400 and "roles/" in path and "*" not in path:
        assert "role" in error["details"]["path"]


def test_management_revokes_backoffice_and_a_billed_seat_goes(app, client, holders_world):
    response = act(client, "DELETE", "/v1/domains/d-1/users/du-bob/roles/Backoffice", BOSS)
    assert response.status_code == 200, response.json
    assert response.json["user"]["roles"] == []
    assert response.json["run_rate_change"] == money_change("-25.00", ("backoffice_seat", "-25.00"))
    assert_audited(
        app,
        response,
        operation="revoke_role",
        actor=BOSS,
        outcome="allowed",
        target=("DomainUser", "du-bob"),
    )
    assert ledger(app, "d-1")[-1]["amount"] == "-25.00"


def test_management_revokes_another_role(app, client, world):
    response = act(client, "DELETE", "/v1/domains/d-1/users/du-ann/roles/Sales", BOSS)
    assert response.status_code == 200, response.json
    assert response.json["user"]["roles"] == []
    assert users(client)["du-ann"]["roles"] == []
    assert "run_rate_change" not in response.json


@pytest.mark.parametrize(
    ("path", "actor", "reasons"),
    [
        ("/v1/domains/d-1/users/du-bob/roles/Backoffice", ANN, ["not_management"]),
        ("/v1/domains/d-1/users/du-ann/roles/Sales", ANN, ["not_management"]),
        ("/v1/domains/d-1/users/du-ann/roles/Sales", "DomainUser:du-x", ["not_member"]),
        (
            "/v1/domains/d-1/users/du-bob/roles/Backoffice",
            "PortalUser:u-admin",
            ["action_not_applicable"],
        ),
    ],
    ids=["backoffice-not-management", "role-not-management", "other-domain", "office"],
)
def test_only_management_revokes_roles(app, client, holders_world, path, actor, reasons):
    user_id = path.split("/")[5]
    deny_changes_nothing(
        app,
        client,
        "DELETE",
        path,
        actor,
        None,
        reasons,
        operation="revoke_role",
        target=("DomainUser", user_id),
    )


def test_a_non_manager_touching_the_owners_management_is_denied_not_409(app, client, world):
    """Regression: the policy decides before the owner's Management is protected (was a 409)."""
    deny_changes_nothing(
        app,
        client,
        "DELETE",
        "/v1/domains/d-1/users/du-boss/roles/Management",
        ANN,
        None,
        ["not_management"],
        operation="revoke_role",
        target=("DomainUser", "du-boss"),
    )
