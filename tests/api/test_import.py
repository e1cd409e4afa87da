"""World import over HTTP: admin only, all or nothing, idempotent, an upsert that replaces lists."""

from __future__ import annotations

import copy

import pytest
from sqlalchemy import inspect, select

from service import models
from service.db import db
from service.imports import KINDS
from tests.worldgen import random_world

# p-1: an administrator and a back-office employee (Responsible of d-1); p-2: another office.
# du-2 has Back Office Access on d-1 (Medium, bundle, authorized) and is limited to a-1.
BASE = {
    "portals": [
        {"id": "p-1", "name": "Fiduciaire Dupont", "country": "BE"},
        {"id": "p-2", "name": "Kantoor Claes", "country": "BE"},
    ],
    "portal_users": [
        {"id": "u-admin", "portal_id": "p-1", "email": "sophie@dupont.be", "name": "Sophie",
         "role": "PortalAdministrator", "scope": "portal",
         "created_at": "2019-03-01T09:00:00+01:00", "converted_at": None},
        # No created_at: the import stamps it once and keeps it.
        {"id": "u-bo", "portal_id": "p-1", "email": "lucas@dupont.be", "name": "Lucas",
         "role": "PortalBackoffice"},
        {"id": "u-other", "portal_id": "p-2", "email": "jan@claes.be", "name": "Jan",
         "role": "PortalAdministrator"},
    ],
    "domains": [
        {"id": "d-1", "portal_id": "p-1", "name": "bakkerij-peeters", "plan": "Medium",
         "pricing_model": "bundle", "shielded": False, "bo_access_authorized": True,
         "pending_plan": None, "pending_plan_from": None, "guest_discount": None},
        {"id": "d-2", "portal_id": "p-1", "name": "garage-lambert", "plan": "Small"},
        {"id": "d-9", "portal_id": "p-2", "name": "claes-client", "plan": "Large",
         "guest_discount": {"percent": 50, "months": 24, "starts_on": "2022-01-20"}},
    ],
    "staff": [{"domain_id": "d-1", "user_id": "u-bo", "function": "Responsible"}],
    "administrations": [
        {"id": "a-1", "domain_id": "d-1", "name": "Bakkerij Peeters BV"},
        {"id": "a-2", "domain_id": "d-1", "name": "Peeters Vastgoed BV"},
        {"id": "a-9", "domain_id": "d-9", "name": "Claes Client NV"},
    ],
    "domain_users": [
        {"id": "du-1", "domain_id": "d-1", "email": "marc@peeters.be", "name": "Marc",
         "roles": ["Management"], "is_owner": True, "administrations": []},
        {"id": "du-2", "domain_id": "d-1", "email": "an@peeters.be", "name": "An",
         "roles": ["Backoffice", "Sales"], "is_owner": False, "administrations": ["a-1"]},
        {"id": "du-9", "domain_id": "d-9", "email": "eva@client.be", "name": "Eva",
         "roles": ["Management"], "is_owner": True},
    ],
}  # fmt: skip

NOW_ISH = "2024-03-01T12:00:00+01:00"


def snapshot(app):
    """Return every row of every table but the data revision, sorted (comparable across imports)."""
    with app.app_context(), db.engine.connect() as connection:
        existing = set(inspect(connection).get_table_names())
        state = {}
        for table in models.Base.metadata.sorted_tables:
            if table.name == "data_revision" or table.name not in existing:
                continue
            rows = connection.execute(select(table)).all()
            state[table.name] = sorted(tuple(repr(v) for v in row) for row in rows)
        return state


def rows(app, model, **where):
    with app.app_context(), db.engine.connect() as connection:
        stmt = select(model.__table__).filter_by(**where)
        return [dict(r._mapping) for r in connection.execute(stmt)]


@pytest.fixture
def send(client, admin_headers, clean_db):
    """POST a world with the admin key; return the response."""

    def post(world, headers=None):
        return client.post("/v1/import", json=world, headers=headers or admin_headers)

    return post


@pytest.fixture
def base(send, app):
    """Import BASE; return the state it leaves."""
    response = send(BASE)
    assert response.status_code == 200, response.json
    return snapshot(app)


@pytest.fixture
def decide(client, check_headers):
    def ask(actor, action, resource, at=NOW_ISH):
        body = {
            "actor": dict(zip(("type", "id"), actor.split(":"), strict=True)),
            "action": action,
            "resource": dict(zip(("type", "id"), resource.split(":"), strict=True)),
            "context": {"at": at},
        }
        response = client.post("/v1/authorize", json=body, headers=check_headers)
        assert response.status_code == 200, response.json
        return response.json["allowed"], response.json["reasons"]

    return ask


def world(**kinds):
    """Return a payload holding deep copies of the given kinds (others left out)."""
    return {kind: copy.deepcopy(records) for kind, records in kinds.items()}


def error_of(response):
    assert response.status_code == 400, response.json
    error = response.json["error"]
    assert set(error) == {"code", "message", "details"} and error["message"]
    return error


def named(details, kind, index, field=None):
    """Tell whether the error details name record `kind[index]` (and its `field`), the one way
    field errors and referential errors both key a record: details["staff[0]"]."""
    record = details.get(f"{kind}[{index}]")
    if record is None:
        return False
    return field is None or field in record


# -- who may import ---------------------------------------------------------------------------


def test_anonymous_caller_gets_401_and_nothing_is_written(client, clean_db, app):
    before = snapshot(app)
    response = client.post("/v1/import", json=BASE)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert snapshot(app) == before


def test_check_key_gets_403_and_nothing_is_written(send, check_headers, app):
    before = snapshot(app)
    response = send(BASE, headers=check_headers)
    assert response.status_code == 403
    assert response.json["error"]["details"]["required_scope"] == "admin"
    assert snapshot(app) == before


# -- a good import ----------------------------------------------------------------------------


def test_admin_import_answers_the_counts_per_kind(send, app):
    response = send(BASE)
    assert response.status_code == 200, response.json
    assert response.json["counts"] == {kind: len(BASE[kind]) for kind in KINDS}
    assert isinstance(response.json["revision"], int)
    state = snapshot(app)
    assert len(state["portals"]) == 2
    assert len(state["domain_user_roles"]) == 4
    assert len(state["domain_user_administrations"]) == 1


def test_imported_world_is_what_the_policy_decides_on(base, decide):
    assert decide("DomainUser:du-2", "process", "Domain:d-1") == (True, [])
    assert decide("PortalUser:u-bo", "open", "Domain:d-1") == (True, [])
    assert decide("PortalUser:u-other", "open", "Domain:d-1") == (False, ["not_member"])


def test_empty_world_imports_nothing(send, app):
    before = snapshot(app)
    response = send({})
    assert response.status_code == 200
    assert response.json["counts"] == dict.fromkeys(KINDS, 0)
    assert snapshot(app) == before


@pytest.mark.parametrize("seed", [5, 8])
def test_importing_the_same_world_twice_leaves_the_same_state(send, app, seed):
    generated = random_world(seed)
    first = send(generated)
    assert first.status_code == 200, first.json
    state = snapshot(app)
    second = send(generated)
    assert second.status_code == 200, second.json
    assert second.json["counts"] == first.json["counts"]
    assert snapshot(app) == state


def test_reimport_keeps_the_created_at_it_stamped(base, send, app):
    (stamped,) = rows(app, models.PortalUser, id="u-bo")
    assert stamped["created_at"] is not None
    assert send(BASE).status_code == 200
    assert rows(app, models.PortalUser, id="u-bo") == [stamped]
    assert snapshot(app) == base


# -- all or nothing ---------------------------------------------------------------------------


def valid_changes():
    """A payload of valid news: a new portal, user, domain, staff, administration and user,
    and a plan change on d-1. Each invalid case spoils one record of it."""
    payload = world(**BASE)
    payload["portals"].append({"id": "p-3", "name": "New office"})
    payload["portal_users"].append(
        {"id": "u-new", "portal_id": "p-3", "email": "new@office.be", "name": "New",
         "role": "PortalAdministrator"}
    )  # fmt: skip
    payload["domains"][0]["plan"] = "Minimal"
    payload["domains"].append({"id": "d-new", "portal_id": "p-3", "name": "new", "plan": "Small"})
    payload["staff"].append({"domain_id": "d-new", "user_id": "u-new", "function": "Backup"})
    payload["administrations"].append({"id": "a-new", "domain_id": "d-new", "name": "New BV"})
    payload["domain_users"].append(
        {"id": "du-new", "domain_id": "d-new", "email": "o@new.be", "name": "Owner",
         "roles": ["Management"], "is_owner": True}
    )  # fmt: skip
    return payload


INVALID_RECORDS = [
    ("portals", "name", ""),
    ("portals", "country", "BEL"),
    ("portal_users", "role", "Boss"),
    ("portal_users", "email", "not-an-email"),
    ("portal_users", "created_at", "2021-06-15T09:00:00"),
    ("portal_users", "id", "u new"),
    ("domains", "plan", "Huge"),
    ("domains", "pricing_model", "per_click"),
    ("domains", "shielded", "maybe"),
    ("domains", "guest_discount", {"percent": 0, "months": 24}),
    ("domains", "pending_plan_from", "2022-13-01"),
    ("staff", "function", "Boss"),
    ("staff", "user_id", ""),
    ("administrations", "name", None),
    ("administrations", "id", "x" * 65),
    ("domain_users", "roles", ["Management", "Wizard"]),
    ("domain_users", "administrations", "a-1"),
    ("domain_users", "is_owner", "yes please"),
    ("domain_users", "unexpected", 1),
]


@pytest.mark.parametrize(("kind", "field", "value"), INVALID_RECORDS)
def test_an_invalid_record_anywhere_writes_nothing(base, send, app, decide, kind, field, value):
    payload = valid_changes()
    index = len(payload[kind]) - 1  # the last record of its kind: everything before it is fine
    payload[kind][index][field] = value
    error = error_of(send(payload))
    assert named(error["details"], kind, index, field), error["details"]
    assert snapshot(app) == base
    # Not even the plan change of d-1, which came first and was valid.
    assert decide("DomainUser:du-2", "process", "Domain:d-1") == (True, [])


@pytest.mark.parametrize(
    ("kind", "index", "change", "field"),
    [
        ("portal_users", 1, {"role": "PortalAdministrator", "scope": "assigned"}, "scope"),
        ("portal_users", 1, {"converted_at": "2022-02-01T10:00:00+01:00"}, "converted_at"),
        ("domains", 1, {"pending_plan": "Trial"}, "pending_plan_from"),
        ("domain_users", 0, {"roles": ["Sales"]}, "roles"),
        ("domain_users", 1, {"roles": ["Sales", "Sales"]}, "roles"),
    ],
)
def test_records_that_break_a_rule_of_their_own_write_nothing(
    base, send, app, kind, index, change, field
):
    payload = valid_changes()
    payload[kind][index].update(change)
    error = error_of(send(payload))
    assert named(error["details"], kind, index, field), error["details"]
    assert snapshot(app) == base


def test_field_errors_name_the_record_like_referential_errors(base, send):
    payload = world(staff=BASE["staff"])
    payload["staff"][0]["function"] = "Boss"
    assert "staff[0]" in error_of(send(payload))["details"]


# -- referential errors -----------------------------------------------------------------------


def add(kind, record):
    def change(payload):
        payload.setdefault(kind, []).append(record)
        return kind, len(payload[kind]) - 1

    return change


REFERENTIAL_ERRORS = {
    "domain_of_an_unknown_portal": (
        add("domains", {"id": "d-5", "portal_id": "p-nowhere", "name": "x", "plan": "Small"}),
        "portal_id",
    ),
    "portal_user_of_an_unknown_portal": (
        add("portal_users", {"id": "u-5", "portal_id": "p-nowhere", "email": "a@b.be",
                             "name": "x", "role": "PortalBackoffice"}),
        "portal_id",
    ),
    "staff_of_an_unknown_domain": (
        add("staff", {"domain_id": "d-nowhere", "user_id": "u-bo", "function": "Backup"}),
        "domain_id",
    ),
    "staff_of_an_unknown_user": (
        add("staff", {"domain_id": "d-1", "user_id": "u-nobody", "function": "Backup"}),
        "user_id",
    ),
    "staff_user_of_another_portal": (
        add("staff", {"domain_id": "d-1", "user_id": "u-other", "function": "Controller"}),
        "user_id",
    ),
    "administration_of_an_unknown_domain": (
        add("administrations", {"id": "a-5", "domain_id": "d-nowhere", "name": "x"}),
        "domain_id",
    ),
    "domain_user_of_an_unknown_domain": (
        add("domain_users", {"id": "du-5", "domain_id": "d-nowhere", "email": "a@b.be",
                             "name": "x"}),
        "domain_id",
    ),
    "domain_user_limited_to_an_administration_of_another_domain": (
        add("domain_users", {"id": "du-5", "domain_id": "d-1", "email": "a@b.be", "name": "x",
                             "administrations": ["a-9"]}),
        "administrations",
    ),
    "domain_user_limited_to_an_unknown_administration": (
        add("domain_users", {"id": "du-5", "domain_id": "d-1", "email": "a@b.be", "name": "x",
                             "administrations": ["a-nowhere"]}),
        "administrations",
    ),
    "second_owner_beside_the_stored_one": (
        add("domain_users", {"id": "du-5", "domain_id": "d-1", "email": "a@b.be", "name": "x",
                             "roles": ["Management"], "is_owner": True}),
        "is_owner",
    ),
    "two_holders_of_one_function": (
        add("staff", {"domain_id": "d-1", "user_id": "u-admin", "function": "Responsible"}),
        "function",
    ),
    "the_same_id_twice": (
        add("domains", {"id": "d-2", "portal_id": "p-1", "name": "again", "plan": "Small"}),
        "id",
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", REFERENTIAL_ERRORS)
@pytest.mark.parametrize("alone", [True, False], ids=["alone", "in_the_whole_world"])
def test_referential_error_is_400_naming_the_record_and_writes_nothing(
    base, send, app, case, alone
):
    change, field = REFERENTIAL_ERRORS[case]
    payload = world() if alone else valid_changes()
    if case == "two_holders_of_one_function" and alone:
        payload["staff"] = copy.deepcopy(BASE["staff"])
    if case == "the_same_id_twice" and alone:
        payload["domains"] = copy.deepcopy(BASE["domains"])
    kind, index = change(payload)
    error = error_of(send(payload))
    assert f"{kind}[{index}]" in error["details"], error["details"]
    assert field in error["details"][f"{kind}[{index}]"], error["details"]
    assert snapshot(app) == base


def test_two_owners_in_one_payload_is_400(base, send, app):
    payload = world(domain_users=BASE["domain_users"])
    payload["domain_users"][1].update(is_owner=True, roles=["Management", "Backoffice"])
    error = error_of(send(payload))
    assert named(error["details"], "domain_users", 1, "is_owner"), error["details"]
    assert snapshot(app) == base


def test_ownership_can_be_handed_over_in_one_payload(base, send, app):
    payload = world(domain_users=BASE["domain_users"])
    payload["domain_users"][0]["is_owner"] = False
    payload["domain_users"][1].update(is_owner=True, roles=["Management", "Backoffice"])
    assert send(payload).status_code == 200
    owners = [r["id"] for r in rows(app, models.DomainUser, domain_id="d-1", is_owner=True)]
    assert owners == ["du-2"]


@pytest.mark.parametrize(
    ("kind", "index", "field", "elsewhere"),
    [
        ("portal_users", 1, "portal_id", "p-2"),
        ("domains", 1, "portal_id", "p-2"),
        ("administrations", 1, "domain_id", "d-2"),
        ("domain_users", 1, "domain_id", "d-9"),
    ],
)
def test_a_record_cannot_move(base, send, app, kind, index, field, elsewhere):
    payload = world(**{kind: BASE[kind]})
    payload[kind][index][field] = elsewhere
    if kind == "domain_users":
        payload[kind][index]["administrations"] = []
    error = error_of(send(payload))
    assert named(error["details"], kind, index, field), error["details"]
    assert snapshot(app) == base


# -- upsert -----------------------------------------------------------------------------------


def test_plan_change_is_visible_in_the_next_decision(base, send, decide):
    assert decide("DomainUser:du-2", "process", "Domain:d-1") == (True, [])
    downgraded = world(domains=BASE["domains"][:1])
    downgraded["domains"][0]["plan"] = "Minimal"
    assert send(downgraded).status_code == 200
    assert decide("DomainUser:du-2", "process", "Domain:d-1") == (False, ["plan_not_eligible"])
    assert send(world(domains=BASE["domains"][:1])).status_code == 200
    assert decide("DomainUser:du-2", "process", "Domain:d-1") == (True, [])


def test_pending_downgrade_is_imported_and_decided_by_date(base, send, decide):
    pending = world(domains=BASE["domains"][:1])
    pending["domains"][0].update(pending_plan="Trial", pending_plan_from="2024-04-01")
    assert send(pending).status_code == 200
    assert decide("DomainUser:du-2", "process", "Domain:d-1", "2024-03-31T23:59:59+02:00") == (
        True,
        [],
    )
    assert decide("DomainUser:du-2", "process", "Domain:d-1", "2024-04-01T00:00:00+02:00") == (
        False,
        ["plan_not_eligible"],
    )


def test_flags_and_roles_of_portal_users_are_updated(base, send, decide):
    assert decide("PortalUser:u-bo", "open", "Domain:d-2") == (True, [])
    changed = world(domains=BASE["domains"][1:2], portal_users=BASE["portal_users"][1:2])
    changed["domains"][0]["shielded"] = True
    assert send(changed).status_code == 200
    assert decide("PortalUser:u-bo", "open", "Domain:d-2") == (False, ["domain_shielded"])
    changed["portal_users"][0]["role"] = "PortalDataEntry"
    assert send(changed).status_code == 200
    assert decide("PortalUser:u-bo", "process", "Domain:d-1") == (False, ["role_missing"])
    assert decide("PortalUser:u-bo", "data_entry", "Domain:d-1") == (True, [])


def test_roles_and_administrations_are_replaced_not_merged(base, send, app, decide):
    changed = world(domain_users=BASE["domain_users"][1:2])
    changed["domain_users"][0].update(roles=["Purchase"], administrations=["a-2"])
    assert send(changed).status_code == 200
    roles = {r["role"] for r in rows(app, models.DomainUserRole, user_id="du-2")}
    links = {
        r["administration_id"] for r in rows(app, models.DomainUserAdministration, user_id="du-2")
    }
    assert (roles, links) == ({"Purchase"}, {"a-2"})
    assert decide("DomainUser:du-2", "use_sales", "Domain:d-1") == (False, ["role_missing"])
    assert decide("DomainUser:du-2", "use_purchase", "Domain:d-1") == (True, [])
    assert decide("DomainUser:du-2", "process", "Domain:d-1") == (False, ["role_missing"])
    assert decide("DomainUser:du-2", "access", "Administration:a-1") == (False, ["not_assigned"])
    assert decide("DomainUser:du-2", "access", "Administration:a-2") == (True, [])

    # An empty list means every administration, and no roles at all.
    changed["domain_users"][0].update(roles=[], administrations=[])
    assert send(changed).status_code == 200
    assert rows(app, models.DomainUserRole, user_id="du-2") == []
    assert rows(app, models.DomainUserAdministration, user_id="du-2") == []
    assert decide("DomainUser:du-2", "access", "Administration:a-1") == (True, [])
    assert decide("DomainUser:du-2", "use_purchase", "Domain:d-1") == (False, ["role_missing"])


def test_assigning_a_staff_function_replaces_its_holder(base, send, app, decide):
    payload = world(staff=[{"domain_id": "d-1", "user_id": "u-admin", "function": "Responsible"}])
    assert send(payload).status_code == 200
    slots = rows(app, models.StaffAssignment, domain_id="d-1")
    assert [(s["function"], s["user_id"]) for s in slots] == [("Responsible", "u-admin")]


# -- bodies the import refuses ----------------------------------------------------------------


@pytest.mark.parametrize("body", ["[]", '"world"', "null", "{"])
def test_a_body_that_is_not_a_json_object_is_400(client, admin_headers, clean_db, body):
    response = client.post(
        "/v1/import", data=body, content_type="application/json", headers=admin_headers
    )
    assert response.status_code == 400


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("value", [None, {}, "x", [None], [7]])
def test_a_kind_that_is_not_a_list_of_records_is_400(send, app, kind, value):
    before = snapshot(app)
    error = error_of(send({kind: value}))
    assert kind in error["details"] or any(k.startswith(f"{kind}[") for k in error["details"])
    assert snapshot(app) == before


def test_text_with_a_nul_character_is_not_a_500(base, send):
    payload = world(portals=BASE["portals"][:1])
    payload["portals"][0]["name"] = "Fiduciaire\u0000Dupont"
    response = send(payload)
    assert response.status_code in (200, 400), response.json


def test_text_with_a_lone_surrogate_is_not_a_500(base, send):
    payload = world(portals=BASE["portals"][:1])
    payload["portals"][0]["name"] = "Fiduciaire \ud800"
    response = send(payload)
    assert response.status_code in (200, 400), response.json


def test_a_misspelled_section_is_400_and_imports_nothing(base, send, app):
    response = send({"domain_user": BASE["domain_users"]})
    error = error_of(response)
    assert "domain_user" in error["details"]
    assert snapshot(app) == base
