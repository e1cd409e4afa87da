"""Governed operations on a portal: create (guest), re-role and delete users; create domains."""

from __future__ import annotations

import pytest

from tests.integration.support import (
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
    portal_user,
    rejected_changes_nothing,
)

ADMIN = "PortalUser:u-admin"
NEW_USER = {
    "id": "u-new",
    "email": "nina@office.example",
    "name": "Nina",
    "role": "PortalBackoffice",
    "scope": "assigned",
}
NEW_DOMAIN = {
    "id": "d-new",
    "name": "slagerij-janssens",
    "plan": "Medium",
    "pricing_model": "bundle",
    "owner": {"id": "du-new", "email": "jan@client.example", "name": "Jan"},
}


@pytest.fixture
def world(client, clean_db):
    load(client, base_world())


def portal_users(client):
    return {u["id"]: u for u in get(client, "/v1/portals/p-1")["users"]}


# --- POST /v1/portals/{pid}/users ------------------------------------------------------------


def test_administrator_can_create_a_portal_user(app, client, world):
    response = act(client, "POST", "/v1/portals/p-1/users", ADMIN, NEW_USER)
    assert response.status_code == 201, response.json
    user = response.json["user"]
    assert {k: user[k] for k in NEW_USER} == NEW_USER
    assert user["portal_id"] == "p-1" and user["converted_at"] is None
    assert portal_users(client)["u-new"] == user
    assert "run_rate_change" not in response.json
    event = assert_audited(
        app,
        response,
        operation="create_portal_user",
        actor=ADMIN,
        outcome="allowed",
        target=("PortalUser", "u-new"),
    )
    assert event["portal_id"] == "p-1"
    assert event["after"] == {"user": user}


def test_scope_defaults_to_portal(client, world):
    body = {k: v for k, v in NEW_USER.items() if k != "scope"}
    response = act(client, "POST", "/v1/portals/p-1/users", ADMIN, body)
    assert response.status_code == 201
    assert response.json["user"]["scope"] == "portal"


def test_administrator_can_create_a_guest_before_the_cut_off(app, client, world, monkeypatch):
    guest = {**NEW_USER, "role": "PortalGuest", "scope": "portal"}
    with frozen_now(monkeypatch, brussels(2021, 8, 31, 23, 59, 59)):
        response = act(client, "POST", "/v1/portals/p-1/users", ADMIN, guest)
    assert response.status_code == 201, response.json
    assert response.json["user"]["role"] == "PortalGuest"
    assert response.json["user"]["created_at"].startswith("2021-08-31T21:59:59")
    assert_audited(app, response, operation="create_portal_user", actor=ADMIN, outcome="allowed")


def test_administrator_cannot_create_a_guest_from_the_cut_off_brussels_time(
    app, client, world, monkeypatch
):
    guest = {**NEW_USER, "role": "PortalGuest", "scope": "portal"}
    # 2021-09-01 00:00 in Brussels is still 2021-08-31 in UTC.
    with frozen_now(monkeypatch, brussels(2021, 9, 1, 0, 0, 0)):
        deny_changes_nothing(
            app,
            client,
            "POST",
            "/v1/portals/p-1/users",
            ADMIN,
            guest,
            ["portal_guest_creation_closed"],
            operation="create_portal_user",
            target=("PortalUser", "u-new"),
        )


@pytest.mark.parametrize(
    ("actor", "body", "reasons"),
    [
        ("PortalUser:u-bo", NEW_USER, ["not_portal_administrator"]),
        ("PortalUser:u-de", NEW_USER, ["not_portal_administrator"]),
        ("PortalUser:u-guest", NEW_USER, ["not_portal_administrator"]),
        ("PortalUser:x-admin", NEW_USER, ["not_member"]),
        ("PortalUser:nobody", NEW_USER, ["unknown_actor"]),
        ("DomainUser:du-boss", NEW_USER, ["action_not_applicable"]),
        (
            ADMIN,
            {**NEW_USER, "role": "PortalGuest", "scope": "portal"},
            ["portal_guest_creation_closed"],
        ),
    ],
    ids=[
        "backoffice",
        "data-entry",
        "guest",
        "other-portal",
        "unknown",
        "domain-user",
        "guest-now",
    ],
)
def test_only_the_portal_administrator_creates_users(app, client, world, actor, body, reasons):
    deny_changes_nothing(
        app,
        client,
        "POST",
        "/v1/portals/p-1/users",
        actor,
        body,
        reasons,
        operation="create_portal_user",
        target=("PortalUser", "u-new"),
    )


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"role": "PortalBoss"}, "role"),
        ({"role": None}, "role"),
        ({"scope": "everywhere"}, "scope"),
        ({"role": "PortalAdministrator", "scope": "assigned"}, "scope"),
        ({"role": "PortalGuest", "scope": "assigned"}, "scope"),
        ({"id": "bad id"}, "id"),
        ({"id": "x" * 65}, "id"),
        ({"id": 12}, "id"),
        ({"email": "not-an-e-mail"}, "email"),
        ({"email": 42}, "email"),
        ({"name": ""}, "name"),
        ({"name": ["Nina"]}, "name"),
        ({"colour": "blue"}, "colour"),
    ],
    ids=lambda v: str(v),
)
def test_invalid_user_fields_are_named(app, client, world, change, field):
    body = {**NEW_USER, **change}
    rejected_changes_nothing(
        app,
        client,
        "POST",
        "/v1/portals/p-1/users",
        ADMIN,
        body,
        400,
        "invalid_request",
        ("json", field),
    )


@pytest.mark.parametrize("missing", ["id", "email", "name", "role"])
def test_missing_user_fields_are_named(app, client, world, missing):
    body = {k: v for k, v in NEW_USER.items() if k != missing}
    rejected_changes_nothing(
        app,
        client,
        "POST",
        "/v1/portals/p-1/users",
        ADMIN,
        body,
        400,
        "invalid_request",
        ("json", missing),
    )


def test_malformed_portal_id_in_the_path_is_400(app, client, world):
    rejected_changes_nothing(
        app,
        client,
        "POST",
        "/v1/portals/p%211/users",
        ADMIN,
        NEW_USER,
        400,
        "invalid_request",
        ("path", "pid"),
    )


def test_unknown_portal_is_404(app, client, world):
    rejected_changes_nothing(
        app, client, "POST", "/v1/portals/p-9/users", ADMIN, NEW_USER, 404, "not_found"
    )


@pytest.mark.parametrize("taken", ["u-bo", "x-admin"], ids=["same-portal", "other-portal"])
def test_existing_user_id_is_409(app, client, world, taken):
    rejected_changes_nothing(
        app,
        client,
        "POST",
        "/v1/portals/p-1/users",
        ADMIN,
        {**NEW_USER, "id": taken},
        409,
        "conflict",
    )


def test_body_that_is_not_json_is_400(app, client, world):
    response = client.post(
        "/v1/portals/p-1/users",
        data="{not json",
        content_type="application/json",
        headers={"Authorization": "Bearer admin-secret", "X-Acting-User": ADMIN},
    )
    assert response.status_code == 400
    assert response.json["error"]["code"] == "invalid_json"


def test_body_that_is_a_list_is_400(app, client, world):
    rejected_changes_nothing(
        app, client, "POST", "/v1/portals/p-1/users", ADMIN, [NEW_USER], 400, "invalid_json"
    )


# --- PUT /v1/portals/{pid}/users/{uid}/role --------------------------------------------------


def test_administrator_can_change_a_role_and_scope(app, client, world):
    body = {"role": "PortalBackoffice", "scope": "assigned"}
    response = act(client, "PUT", "/v1/portals/p-1/users/u-de/role", ADMIN, body)
    assert response.status_code == 200, response.json
    assert response.json["user"]["role"] == "PortalBackoffice"
    assert response.json["user"]["scope"] == "assigned"
    assert portal_users(client)["u-de"]["role"] == "PortalBackoffice"
    event = assert_audited(
        app,
        response,
        operation="change_portal_user_role",
        actor=ADMIN,
        outcome="allowed",
        target=("PortalUser", "u-de"),
    )
    assert event["before"]["user"]["role"] == "PortalDataEntry"
    assert event["after"]["user"]["role"] == "PortalBackoffice"


def test_changing_a_role_without_scope_resets_it_to_portal(client, world):
    response = act(
        client, "PUT", "/v1/portals/p-1/users/u-sub/role", ADMIN, {"role": "PortalDataEntry"}
    )
    assert response.status_code == 200
    assert response.json["user"]["scope"] == "portal"


@pytest.mark.parametrize(
    ("actor", "target", "body", "reasons"),
    [
        ("PortalUser:u-bo", "u-de", {"role": "PortalAdministrator"}, ["not_portal_administrator"]),
        (ADMIN, "u-admin", {"role": "PortalBackoffice"}, ["self_target"]),
        ("PortalUser:x-admin", "u-de", {"role": "PortalBackoffice"}, ["not_member"]),
        (ADMIN, "u-de", {"role": "PortalGuest"}, ["portal_guest_creation_closed"]),
        ("DomainUser:du-boss", "u-de", {"role": "PortalBackoffice"}, ["action_not_applicable"]),
    ],
    ids=["backoffice", "self", "other-portal", "make-guest", "domain-user"],
)
def test_only_the_administrator_changes_another_users_role(
    app, client, world, actor, target, body, reasons
):
    deny_changes_nothing(
        app,
        client,
        "PUT",
        f"/v1/portals/p-1/users/{target}/role",
        actor,
        body,
        reasons,
        operation="change_portal_user_role",
        target=("PortalUser", target),
    )


@pytest.mark.parametrize(
    ("path", "body", "status", "field"),
    [
        ("/v1/portals/p-1/users/u-de/role", {"role": "Boss"}, 400, ("json", "role")),
        (
            "/v1/portals/p-1/users/u-de/role",
            {"role": "PortalAdministrator", "scope": "assigned"},
            400,
            ("json", "scope"),
        ),
        (
            "/v1/portals/p-1/users/u-de/role",
            {"role": "PortalBackoffice", "x": 1},
            400,
            ("json", "x"),
        ),
        ("/v1/portals/p-1/users/u-de/role", {"scope": "portal"}, 400, ("json", "role")),
        ("/v1/portals/p-1/users/u%20de/role", {"role": "PortalBackoffice"}, 400, ("path", "uid")),
        ("/v1/portals/p-1/users/u-nobody/role", {"role": "PortalBackoffice"}, 404, None),
        ("/v1/portals/p-1/users/x-admin/role", {"role": "PortalBackoffice"}, 404, None),
        ("/v1/portals/p-9/users/u-de/role", {"role": "PortalBackoffice"}, 404, None),
    ],
    ids=[
        "unknown-role",
        "assigned-administrator",
        "unknown-field",
        "missing-role",
        "malformed-uid",
        "unknown-user",
        "user-of-other-portal",
        "unknown-portal",
    ],
)
def test_invalid_role_changes_are_rejected(app, client, world, path, body, status, field):
    code = "invalid_request" if status == 400 else "not_found"
    rejected_changes_nothing(app, client, "PUT", path, ADMIN, body, status, code, field)


# --- DELETE /v1/portals/{pid}/users/{uid} ----------------------------------------------------


def test_administrator_can_delete_a_user_with_their_staff_functions(app, client, world):
    response = act(client, "DELETE", "/v1/portals/p-1/users/u-bo", ADMIN)
    assert response.status_code == 200, response.json
    assert response.json["deleted"] == {"type": "PortalUser", "id": "u-bo"}
    assert "u-bo" not in portal_users(client)
    assert get(client, "/v1/domains/d-1")["staff"] == []
    event = assert_audited(
        app,
        response,
        operation="delete_portal_user",
        actor=ADMIN,
        outcome="allowed",
        target=("PortalUser", "u-bo"),
    )
    assert event["before"]["staff"] == [{"domain_id": "d-1", "function": "Responsible"}]


def test_administrator_can_delete_a_guest(client, world):
    response = act(client, "DELETE", "/v1/portals/p-1/users/u-guest", ADMIN)
    assert response.status_code == 200
    assert "u-guest" not in portal_users(client)


@pytest.mark.parametrize(
    ("actor", "target", "reasons"),
    [
        ("PortalUser:u-bo", "u-de", ["not_portal_administrator"]),
        ("PortalUser:u-guest", "u-de", ["not_portal_administrator"]),
        (ADMIN, "u-admin", ["self_target"]),
        ("PortalUser:x-admin", "u-de", ["not_member"]),
        ("PortalUser:ghost", "u-de", ["unknown_actor"]),
    ],
    ids=["backoffice", "guest", "self", "other-portal", "unknown-actor"],
)
def test_only_the_administrator_deletes_another_user(app, client, world, actor, target, reasons):
    deny_changes_nothing(
        app,
        client,
        "DELETE",
        f"/v1/portals/p-1/users/{target}",
        actor,
        None,
        reasons,
        operation="delete_portal_user",
        target=("PortalUser", target),
    )


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/v1/portals/p-1/users/u-nobody", 404),
        ("/v1/portals/p-1/users/x-admin", 404),
        ("/v1/portals/p-9/users/u-de", 404),
        ("/v1/portals/p-1/users/u!de", 400),
        ("/v1/portals/p!1/users/u-de", 400),
    ],
)
def test_deleting_an_unknown_or_malformed_user_is_rejected(app, client, world, path, status):
    code = "invalid_request" if status == 400 else "not_found"
    rejected_changes_nothing(app, client, "DELETE", path, ADMIN, None, status, code)


# --- POST /v1/portals/{pid}/domains ----------------------------------------------------------


def test_administrator_can_create_a_domain_with_its_owner(app, client, world):
    response = act(client, "POST", "/v1/portals/p-1/domains", ADMIN, NEW_DOMAIN)
    assert response.status_code == 201, response.json
    created = response.json["domain"]
    assert created["id"] == "d-new" and created["plan"] == "Medium"
    assert created["bo_access_authorized"] is False and created["shielded"] is False
    assert get(client, "/v1/domains/d-new")["plan"] == "Medium"
    users = get(client, "/v1/domains/d-new/users")["users"]
    assert users == response.json["users"]
    assert users[0]["roles"] == ["Management"] and users[0]["is_owner"] is True
    assert response.json["run_rate_change"] == money_change(
        "50.00", ("base", "50.00"), ("user_included", "0.00")
    )
    assert [(e["item"], e["amount"]) for e in ledger(app, "d-new")] == [
        ("base", "50.00"),
        ("user_included", "0.00"),
    ]
    event = assert_audited(
        app,
        response,
        operation="create_domain",
        actor=ADMIN,
        outcome="allowed",
        target=("Domain", "d-new"),
    )
    assert event["domain_id"] == "d-new" and event["portal_id"] == "p-1"


def test_backoffice_employee_with_portal_scope_can_create_a_domain(client, world):
    body = {"id": "d-new", "name": "n", "plan": "Small"}
    response = act(client, "POST", "/v1/portals/p-1/domains", "PortalUser:u-bo", body)
    assert response.status_code == 201, response.json
    assert response.json["domain"]["pricing_model"] == "bundle"
    assert response.json["users"] == []
    assert response.json["run_rate_change"] == money_change("30.00", ("base", "30.00"))


def test_free_domain_reports_no_run_rate_change(app, client, world):
    body = {"id": "d-new", "name": "n", "plan": "Trial"}
    response = act(client, "POST", "/v1/portals/p-1/domains", ADMIN, body)
    assert response.status_code == 201
    assert "run_rate_change" not in response.json
    assert ledger(app, "d-new") == []


@pytest.mark.parametrize(
    ("actor", "reasons"),
    [
        ("PortalUser:u-sub", ["role_missing"]),
        ("PortalUser:u-de", ["role_missing"]),
        ("PortalUser:u-guest", ["role_missing"]),
        ("PortalUser:x-admin", ["not_member"]),
        ("DomainUser:du-boss", ["action_not_applicable"]),
    ],
    ids=["subcontractor", "data-entry", "guest", "other-portal", "domain-user"],
)
def test_others_cannot_create_domains(app, client, world, actor, reasons):
    deny_changes_nothing(
        app,
        client,
        "POST",
        "/v1/portals/p-1/domains",
        actor,
        NEW_DOMAIN,
        reasons,
        operation="create_domain",
        target=("Domain", "d-new"),
    )


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"plan": "Huge"}, "plan"),
        ({"plan": "medium"}, "plan"),
        ({"pricing_model": "per_module"}, "pricing_model"),
        ({"id": "d new"}, "id"),
        ({"name": 5}, "name"),
        ({"owner": {"id": "du-new", "name": "Jan"}}, "owner"),
        ({"owner": {"id": "du new", "email": "j@x.be", "name": "Jan"}}, "owner"),
        ({"owner": "du-new"}, "owner"),
        ({"shielded": True}, "shielded"),
    ],
    ids=lambda v: str(v),
)
def test_invalid_domain_fields_are_named(app, client, world, change, field):
    rejected_changes_nothing(
        app,
        client,
        "POST",
        "/v1/portals/p-1/domains",
        ADMIN,
        {**NEW_DOMAIN, **change},
        400,
        "invalid_request",
        ("json", field),
    )


@pytest.mark.parametrize(
    "change",
    [{"id": "d-1"}, {"id": "d-x"}, {"owner": {"id": "du-boss", "email": "a@b.be", "name": "A"}}],
    ids=["domain-same-portal", "domain-other-portal", "owner-id"],
)
def test_existing_domain_or_owner_id_is_409(app, client, world, change):
    rejected_changes_nothing(
        app,
        client,
        "POST",
        "/v1/portals/p-1/domains",
        ADMIN,
        {**NEW_DOMAIN, **change},
        409,
        "conflict",
    )


def test_domain_in_an_unknown_portal_is_404(app, client, world):
    rejected_changes_nothing(
        app, client, "POST", "/v1/portals/p-9/domains", ADMIN, NEW_DOMAIN, 404, "not_found"
    )


def test_converted_guest_cannot_create_anything(app, client, clean_db):
    world = base_world()
    world["portal_users"].append(
        portal_user("u-old", "p-1", "PortalGuest", converted_at="2022-01-20T10:00:00+01:00")
    )
    load(client, world)
    deny_changes_nothing(
        app,
        client,
        "POST",
        "/v1/portals/p-1/domains",
        "PortalUser:u-old",
        NEW_DOMAIN,
        ["guest_converted"],
        operation="create_domain",
    )


def test_re_roling_a_converted_guest_leaves_an_importable_state(client, clean_db):
    world = base_world()
    world["portal_users"].append(
        portal_user("u-old", "p-1", "PortalGuest", converted_at="2022-01-20T10:00:00+01:00")
    )
    load(client, world)
    act(client, "PUT", "/v1/portals/p-1/users/u-old/role", ADMIN, {"role": "PortalBackoffice"})
    # Whatever the answer (refused, or re-roled), the portal's users import back as they are.
    users = get(client, "/v1/portals/p-1")["users"]
    response = client.post(
        "/v1/import", json={"portal_users": users}, headers={"Authorization": "Bearer admin-secret"}
    )
    assert response.status_code == 200, response.json


def test_an_outsider_creating_a_taken_id_is_denied_not_told_it_exists(client, world):
    # The id check comes after the policy: a 409 would tell an outsider which ids exist.
    body = {"id": "u-de", "email": "x@x.be", "name": "X", "role": "PortalDataEntry"}
    response = act(client, "POST", "/v1/portals/p-1/users", "PortalUser:u-bo", body)
    assert response.status_code == 403, response.json
    assert response.json["error"]["details"]["reasons"] == ["not_portal_administrator"]
