"""Query endpoints over HTTP: authorize, batch, list-resources, list-actors, actions.

Each endpoint follows the same script: anonymous → 401, a `check` key → 200, an outsider → a deny
with reasons, unknown ids → a deny (or nothing listed), invalid input → 400 naming the field.
"""

from __future__ import annotations

import base64
import json

import pytest

from service.vocabulary import ACTIONS_BY_RESOURCE

# Two offices. In p-1: an administrator, a back-office and a data-entry employee, a subcontractor
# (scope "assigned", Responsible of d-2 only) and a converted guest; in p-2 an outsider.
# d-1 is on Medium with a downgrade to Minimal pending from 1 July 2022 (Brussels).
WORLD = {
    "portals": [
        {"id": "p-1", "name": "Fiduciaire Dupont", "country": "BE"},
        {"id": "p-2", "name": "Kantoor Claes", "country": "BE"},
    ],
    "portal_users": [
        {"id": "u-admin", "portal_id": "p-1", "email": "sophie@dupont.be", "name": "Sophie",
         "role": "PortalAdministrator", "scope": "portal",
         "created_at": "2019-03-01T09:00:00+01:00"},
        {"id": "u-bo", "portal_id": "p-1", "email": "lucas@dupont.be", "name": "Lucas",
         "role": "PortalBackoffice", "scope": "portal"},
        {"id": "u-entry", "portal_id": "p-1", "email": "emma@dupont.be", "name": "Emma",
         "role": "PortalDataEntry", "scope": "portal"},
        {"id": "u-sub", "portal_id": "p-1", "email": "thomas@claes.be", "name": "Thomas",
         "role": "PortalBackoffice", "scope": "assigned"},
        {"id": "u-guest", "portal_id": "p-1", "email": "claire@cafe.be", "name": "Claire",
         "role": "PortalGuest", "scope": "portal", "created_at": "2021-06-15T09:00:00+02:00",
         "converted_at": "2022-02-01T10:00:00+01:00"},
        {"id": "u-other", "portal_id": "p-2", "email": "jan@claes.be", "name": "Jan",
         "role": "PortalAdministrator", "scope": "portal"},
    ],
    "domains": [
        {"id": "d-1", "portal_id": "p-1", "name": "bakkerij-peeters", "plan": "Medium",
         "pricing_model": "bundle", "shielded": False, "bo_access_authorized": True,
         "pending_plan": "Minimal", "pending_plan_from": "2022-07-01"},
        {"id": "d-2", "portal_id": "p-1", "name": "garage-lambert", "plan": "Small",
         "shielded": True, "bo_access_authorized": True},
        {"id": "d-3", "portal_id": "p-1", "name": "cafe-du-coin", "plan": "Minimal"},
        {"id": "d-4", "portal_id": "p-1", "name": "atelier-janssens", "plan": "Large",
         "pricing_model": "legacy_modules"},
        {"id": "d-10", "portal_id": "p-1", "name": "brouwerij", "plan": "Unlimited"},
        {"id": "d-9", "portal_id": "p-2", "name": "claes-client", "plan": "Large"},
    ],
    "staff": [
        {"domain_id": "d-1", "user_id": "u-bo", "function": "Responsible"},
        {"domain_id": "d-2", "user_id": "u-sub", "function": "Responsible"},
    ],
    "administrations": [
        {"id": "a-1", "domain_id": "d-1", "name": "Bakkerij Peeters BV"},
        {"id": "a-2", "domain_id": "d-1", "name": "Peeters Vastgoed BV"},
        {"id": "a-3", "domain_id": "d-2", "name": "Garage Lambert SRL"},
    ],
    "domain_users": [
        {"id": "du-1", "domain_id": "d-1", "email": "marc@peeters.be", "name": "Marc",
         "roles": ["Management"], "is_owner": True},
        {"id": "du-2", "domain_id": "d-1", "email": "an@peeters.be", "name": "An",
         "roles": ["Backoffice", "Sales"], "administrations": ["a-1"]},
        {"id": "du-3", "domain_id": "d-1", "email": "jan@peeters.be", "name": "Jan",
         "roles": ["ReadOnlyUser"], "administrations": ["a-2"]},
        {"id": "du-4", "domain_id": "d-2", "email": "nadia@lambert.be", "name": "Nadia",
         "roles": ["Management"], "is_owner": True},
        {"id": "du-9", "domain_id": "d-9", "email": "eva@client.be", "name": "Eva",
         "roles": ["Management"], "is_owner": True},
    ],
}  # fmt: skip

BEFORE_DOWNGRADE = "2022-06-30T23:59:59+02:00"
AFTER_DOWNGRADE = "2022-07-01T00:00:00+02:00"
# 22:30 UTC on 30 June is already 1 July in Brussels: the downgrade is in force.
AFTER_DOWNGRADE_IN_UTC = "2022-06-30T22:30:00+00:00"
NOW_ISH = "2024-03-01T12:00:00+01:00"


def pu(uid):
    return {"type": "PortalUser", "id": uid}


def du(uid):
    return {"type": "DomainUser", "id": uid}


def domain(did):
    return {"type": "Domain", "id": did}


def authorize_body(actor, action, resource, at=None):
    body = {"actor": actor, "action": action, "resource": resource}
    if at is not None:
        body["context"] = {"at": at}
    return body


ADMIN_OPENS_D1 = authorize_body(pu("u-admin"), "open", domain("d-1"), NOW_ISH)

# One valid body per endpoint, for the checks every endpoint shares.
ENDPOINTS = {
    "/v1/authorize": ADMIN_OPENS_D1,
    "/v1/authorize/batch": {"checks": [ADMIN_OPENS_D1]},
    "/v1/list-resources": {
        "actor": pu("u-admin"), "action": "open", "resource_type": "Domain",
    },
    "/v1/list-actors": {"action": "open", "resource": domain("d-1")},
    "/v1/actions": {"actor": pu("u-admin"), "resource": domain("d-1")},
}  # fmt: skip


@pytest.fixture
def world(client, admin_headers, clean_db):
    response = client.post("/v1/import", json=WORLD, headers=admin_headers)
    assert response.status_code == 200, response.json
    return WORLD


@pytest.fixture
def post(client, check_headers, world):
    """POST a query with the check-scope key; return the response."""

    def send(path, body, **kwargs):
        return client.post(path, json=body, headers={**check_headers, **kwargs})

    return send


def ok(response):
    assert response.status_code == 200, response.json
    return response.json


def fields_of(response, status=400):
    """Assert an error response and return the dotted paths of the fields its details name."""
    assert response.status_code == status, response.json
    error = response.json["error"]
    assert set(error) == {"code", "message", "details"} and error["message"]
    paths = set()

    def walk(value, prefix):
        if isinstance(value, dict):
            for key, item in value.items():
                walk(item, f"{prefix}.{key}" if prefix else str(key))
        else:
            paths.add(prefix)

    walk(error["details"], "")
    return paths


def names(response, field):
    """Tell whether a 400 names `field` (a dotted path under the request body)."""
    return any(p == f"json.{field}" or p == field for p in fields_of(response))


def decide(post, body):
    found = ok(post("/v1/authorize", body))
    return found["allowed"], found["reasons"]


def cursor_of(*parts):
    raw = json.dumps(list(parts)).encode("utf-8", "surrogatepass")
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


# -- every endpoint ---------------------------------------------------------------------------


@pytest.mark.parametrize("path", ENDPOINTS)
def test_anonymous_caller_gets_401_with_bearer_challenge(client, world, path):
    response = client.post(path, json=ENDPOINTS[path])
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert response.json["error"]["code"] == "unauthorized"


@pytest.mark.parametrize("path", ENDPOINTS)
def test_unknown_key_gets_401(client, world, path):
    response = client.post(path, json=ENDPOINTS[path], headers={"Authorization": "Bearer nope"})
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"


@pytest.mark.parametrize("path", ENDPOINTS)
def test_check_key_may_call_every_query(client, world, check_headers, path):
    assert client.post(path, json=ENDPOINTS[path], headers=check_headers).status_code == 200


@pytest.mark.parametrize("path", ENDPOINTS)
def test_admin_key_may_call_every_query(client, world, admin_headers, path):
    assert client.post(path, json=ENDPOINTS[path], headers=admin_headers).status_code == 200


@pytest.mark.parametrize("path", ENDPOINTS)
def test_request_id_is_echoed(post, path):
    response = post(path, ENDPOINTS[path], **{"X-Request-ID": "req-42"})
    assert response.headers["X-Request-ID"] == "req-42"
    assert post(path, ENDPOINTS[path]).headers["X-Request-ID"]


@pytest.mark.parametrize("path", ENDPOINTS)
def test_unknown_top_level_field_is_400(post, path):
    assert names(post(path, {**ENDPOINTS[path], "contxt": {"at": NOW_ISH}}), "contxt")


def with_time(path, at):
    """Return the endpoint's valid body deciding at `at` (for a batch: in its one check)."""
    if path == "/v1/authorize/batch":
        return {"checks": [{**ADMIN_OPENS_D1, "context": {"at": at}}]}
    return {**ENDPOINTS[path], "context": {"at": at}}


@pytest.mark.parametrize("path", ENDPOINTS)
@pytest.mark.parametrize("at", ["2022-06-30T10:00:00", "2022-06-30", "tomorrow", 1656576000])
def test_time_without_offset_or_not_a_time_is_400(post, path, at):
    field = "checks.0.context.at" if path == "/v1/authorize/batch" else "context.at"
    assert names(post(path, with_time(path, at)), field)


@pytest.mark.parametrize("path", ENDPOINTS)
@pytest.mark.parametrize("at", ["9999-12-31T23:59:59-12:00", "0001-01-01T00:00:00+14:00"])
def test_time_at_the_edge_of_the_calendar_is_not_a_500(post, path, at):
    response = post(path, with_time(path, at))
    assert response.status_code in (200, 400), response.json


# -- authorize --------------------------------------------------------------------------------


def test_allowed_answer_has_exactly_the_documented_shape(post):
    found = ok(post("/v1/authorize", ADMIN_OPENS_D1))
    assert set(found) == {"allowed", "reasons", "decision_id", "policy_version"}
    assert found["allowed"] is True
    assert found["reasons"] == []
    assert isinstance(found["decision_id"], str) and found["decision_id"]
    assert isinstance(found["policy_version"], str) and found["policy_version"]


def test_every_decision_has_its_own_id(post):
    first = ok(post("/v1/authorize", ADMIN_OPENS_D1))
    second = ok(post("/v1/authorize", ADMIN_OPENS_D1))
    assert first["decision_id"] != second["decision_id"]
    assert first["policy_version"] == second["policy_version"]


def test_outsider_is_denied_with_not_member(post):
    found = ok(post("/v1/authorize", authorize_body(pu("u-other"), "open", domain("d-1"))))
    assert set(found) == {"allowed", "reasons", "decision_id", "policy_version"}
    assert found["allowed"] is False
    assert found["reasons"] == ["not_member"]


def test_domain_user_of_another_portal_is_denied_with_not_member(post):
    assert decide(post, authorize_body(du("du-9"), "open", domain("d-1"))) == (
        False,
        ["not_member"],
    )


def test_converted_guest_is_denied(post):
    allowed, reasons = decide(
        post, authorize_body(pu("u-guest"), "view", {"type": "Portal", "id": "p-1"})
    )
    assert (allowed, reasons) == (False, ["guest_converted"])


def test_shielded_domain_denies_portal_scope_employee(post):
    assert decide(post, authorize_body(pu("u-bo"), "open", domain("d-2"))) == (
        False,
        ["domain_shielded"],
    )


def test_unknown_actor_is_a_deny_not_an_error(post):
    allowed, reasons = decide(post, authorize_body(pu("u-nobody"), "open", domain("d-1")))
    assert (allowed, reasons) == (False, ["unknown_actor"])


def test_unknown_resource_is_a_deny_not_an_error(post):
    allowed, reasons = decide(post, authorize_body(pu("u-admin"), "open", domain("d-nothing")))
    assert (allowed, reasons) == (False, ["unknown_resource"])


def test_unknown_actor_and_resource_give_both_reasons(post):
    allowed, reasons = decide(post, authorize_body(du("du-x"), "open", domain("d-x")))
    assert not allowed
    assert set(reasons) == {"unknown_actor", "unknown_resource"}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"actor": {"type": "Robot", "id": "r-1"}}, "actor.type"),
        ({"actor": {"type": "Portal", "id": "p-1"}}, "actor.type"),
        ({"resource": {"type": "Invoice", "id": "i-1"}}, "resource.type"),
        ({"action": "destroy"}, "action"),
        ({"action": ""}, "action"),
        ({"actor": {"type": "PortalUser"}}, "actor.id"),
        ({"resource": {"id": "d-1"}}, "resource.type"),
        ({"actor": {"type": "PortalUser", "id": "u-admin", "x": 1}}, "actor.x"),
    ],
)
def test_unknown_type_or_action_is_400_naming_the_field(post, change, field):
    assert names(post("/v1/authorize", {**ADMIN_OPENS_D1, **change}), field)


@pytest.mark.parametrize(
    "bad_id", ["", "has space", "x" * 65, "semi;colon", "é", 7, None, "d-1\n", "\nd-1"]
)
def test_malformed_id_is_400(post, bad_id):
    body = {**ADMIN_OPENS_D1, "resource": {"type": "Domain", "id": bad_id}}
    assert names(post("/v1/authorize", body), "resource.id")


def test_longest_id_is_accepted(post):
    body = {**ADMIN_OPENS_D1, "resource": {"type": "Domain", "id": "d" * 64}}
    assert decide(post, body) == (False, ["unknown_resource"])


@pytest.mark.parametrize("missing", ["actor", "action", "resource"])
def test_missing_field_is_400(post, missing):
    body = {k: v for k, v in ADMIN_OPENS_D1.items() if k != missing}
    assert names(post("/v1/authorize", body), missing)


def test_context_at_changes_the_decision_on_a_pending_downgrade(post):
    def at(when):
        return decide(post, authorize_body(du("du-2"), "process", domain("d-1"), when))

    assert at(BEFORE_DOWNGRADE) == (True, [])
    assert at(AFTER_DOWNGRADE) == (False, ["plan_not_eligible"])
    assert at(AFTER_DOWNGRADE_IN_UTC) == (False, ["plan_not_eligible"])
    assert at("2022-06-30T21:59:59Z") == (True, [])


def test_context_at_is_optional_and_defaults_to_now(post):
    # The downgrade of d-1 is long in force now.
    assert decide(post, authorize_body(du("du-2"), "process", domain("d-1"))) == (
        False,
        ["plan_not_eligible"],
    )
    body = {**authorize_body(du("du-2"), "process", domain("d-1")), "context": {}}
    assert decide(post, body) == (False, ["plan_not_eligible"])


def test_guest_creation_closes_on_the_first_of_september_in_brussels(post):
    portal = {"type": "Portal", "id": "p-1"}

    def at(when):
        return decide(post, authorize_body(pu("u-admin"), "create_guest", portal, when))

    assert at("2021-08-31T23:59:59+02:00") == (True, [])
    assert at("2021-08-31T22:00:00Z") == (False, ["portal_guest_creation_closed"])


# -- batch ------------------------------------------------------------------------------------


def mixed_checks():
    """Allowed and denied checks, with unknown ids and several times, in a deliberate order."""
    return [
        authorize_body(du("du-2"), "process", domain("d-1"), BEFORE_DOWNGRADE),
        authorize_body(du("du-2"), "process", domain("d-1"), AFTER_DOWNGRADE),
        authorize_body(pu("u-other"), "open", domain("d-1")),
        ADMIN_OPENS_D1,
        authorize_body(pu("u-nobody"), "open", domain("d-1")),
        authorize_body(pu("u-sub"), "open", domain("d-2")),
        authorize_body(pu("u-sub"), "open", domain("d-1")),
        authorize_body(du("du-3"), "access", {"type": "Administration", "id": "a-1"}),
        authorize_body(du("du-3"), "access", {"type": "Administration", "id": "a-2"}),
        authorize_body(pu("u-guest"), "open", domain("d-1")),
        authorize_body(du("du-1"), "delete", du("du-1")),
        authorize_body(du("du-1"), "delete", du("du-3")),
    ]


def test_batch_answers_in_request_order_like_single_checks(post):
    checks = mixed_checks()
    found = ok(post("/v1/authorize/batch", {"checks": checks}))
    assert set(found) == {"results", "policy_version"}
    assert len(found["results"]) == len(checks)
    singles = [decide(post, check) for check in checks]
    assert [(r["allowed"], r["reasons"]) for r in found["results"]] == singles
    for result in found["results"]:
        assert {"allowed", "reasons"} <= set(result)
    # The order matters: the same checks reversed come back reversed.
    backwards = ok(post("/v1/authorize/batch", {"checks": checks[::-1]}))
    assert [(r["allowed"], r["reasons"]) for r in backwards["results"]] == singles[::-1]
    assert {s[0] for s in singles} == {True, False}


def test_batch_of_one_check(post):
    found = ok(post("/v1/authorize/batch", {"checks": [ADMIN_OPENS_D1]}))
    assert [(r["allowed"], r["reasons"]) for r in found["results"]] == [(True, [])]


def test_batch_of_a_thousand_checks(post):
    checks = (mixed_checks() * 84)[:1000]
    found = ok(post("/v1/authorize/batch", {"checks": checks}))
    assert len(found["results"]) == 1000
    expected = [decide(post, check) for check in mixed_checks()]
    assert [(r["allowed"], r["reasons"]) for r in found["results"]] == (expected * 84)[:1000]


@pytest.mark.parametrize("count", [0, 1001])
def test_batch_of_zero_or_over_a_thousand_checks_is_400(post, count):
    assert names(post("/v1/authorize/batch", {"checks": [ADMIN_OPENS_D1] * count}), "checks")


@pytest.mark.parametrize("checks", [None, {}, "all", [None], [[]]])
def test_batch_that_is_not_a_list_of_checks_is_400(post, checks):
    assert any(
        p.startswith("json.checks")
        for p in fields_of(post("/v1/authorize/batch", {"checks": checks}))
    )


def test_batch_names_the_invalid_check(post):
    checks = mixed_checks()
    checks[3] = {**checks[3], "action": "fly"}
    assert names(post("/v1/authorize/batch", {"checks": checks}), "checks.3.action")


def test_batch_without_checks_is_400(post):
    assert names(post("/v1/authorize/batch", {}), "checks")


# -- list-resources ---------------------------------------------------------------------------


def walk_resources(post, body, limit):
    """Follow next_cursor to the end; return the pages."""
    pages, cursor = [], None
    for _ in range(50):
        found = ok(post("/v1/list-resources", {**body, "limit": limit, "cursor": cursor}))
        assert set(found) >= {"ids", "next_cursor"}
        pages.append(found["ids"])
        cursor = found["next_cursor"]
        if cursor is None:
            return pages
        assert isinstance(cursor, str) and cursor
    raise AssertionError("next_cursor never became null")


def test_list_resources_pages_until_next_cursor_is_null(post):
    body = {"actor": pu("u-admin"), "action": "open", "resource_type": "Domain"}
    # String order, not creation order: d-10 comes before d-2.
    assert walk_resources(post, body, 2) == [["d-1", "d-10"], ["d-2", "d-3"], ["d-4"]]
    assert walk_resources(post, body, 1) == [["d-1"], ["d-10"], ["d-2"], ["d-3"], ["d-4"]]
    assert walk_resources(post, body, 5) == [["d-1", "d-10", "d-2", "d-3", "d-4"]]
    assert walk_resources(post, body, 1000) == [["d-1", "d-10", "d-2", "d-3", "d-4"]]


def test_list_resources_limit_defaults_to_100(post):
    body = {"actor": pu("u-admin"), "action": "open", "resource_type": "Domain"}
    assert ok(post("/v1/list-resources", body))["next_cursor"] is None


@pytest.mark.parametrize(
    ("actor", "action", "resource_type"),
    [
        (pu("u-admin"), "open", "Domain"),
        (pu("u-bo"), "open", "Domain"),
        (pu("u-sub"), "process", "Domain"),
        (pu("u-entry"), "data_entry", "Domain"),
        (pu("u-admin"), "access", "Administration"),
        (pu("u-admin"), "delete", "PortalUser"),
        (du("du-2"), "access", "Administration"),
        (du("du-3"), "access", "Administration"),
        (du("du-1"), "delete", "DomainUser"),
        (pu("u-other"), "open", "Domain"),
        (pu("u-guest"), "view", "Portal"),
    ],
)
@pytest.mark.parametrize("at", [BEFORE_DOWNGRADE, NOW_ISH])
def test_list_resources_equals_the_single_checks(post, actor, action, resource_type, at):
    ids = {
        "Domain": [d["id"] for d in WORLD["domains"]],
        "Administration": [a["id"] for a in WORLD["administrations"]],
        "PortalUser": [u["id"] for u in WORLD["portal_users"]],
        "DomainUser": [u["id"] for u in WORLD["domain_users"]],
        "Portal": [p["id"] for p in WORLD["portals"]],
    }[resource_type]
    checks = [authorize_body(actor, action, {"type": resource_type, "id": i}, at) for i in ids]
    results = ok(post("/v1/authorize/batch", {"checks": checks}))["results"]
    allowed = sorted(i for i, r in zip(ids, results, strict=True) if r["allowed"])
    body = {"actor": actor, "action": action, "resource_type": resource_type,
            "context": {"at": at}}  # fmt: skip
    listed = [i for page in walk_resources(post, body, 2) for i in page]
    assert listed == allowed


def test_list_resources_follows_the_time(post):
    body = {"actor": du("du-2"), "action": "process", "resource_type": "Domain"}
    before = {**body, "context": {"at": BEFORE_DOWNGRADE}}
    after = {**body, "context": {"at": AFTER_DOWNGRADE_IN_UTC}}
    assert ok(post("/v1/list-resources", before))["ids"] == ["d-1"]
    assert ok(post("/v1/list-resources", after))["ids"] == []


def test_list_resources_of_an_outsider_shows_nothing_of_another_portal(post):
    body = {"actor": pu("u-other"), "action": "open", "resource_type": "Domain"}
    found = ok(post("/v1/list-resources", body))
    assert (found["ids"], found["next_cursor"]) == (["d-9"], None)


def test_list_resources_of_an_unknown_actor_is_empty(post):
    body = {"actor": pu("u-nobody"), "action": "open", "resource_type": "Domain"}
    found = ok(post("/v1/list-resources", body))
    assert (found["ids"], found["next_cursor"]) == ([], None)


@pytest.mark.parametrize("limit", [0, -1, 1001, "x", None, True, [3]])
def test_list_resources_limit_out_of_range_is_400(post, limit):
    body = {**ENDPOINTS["/v1/list-resources"], "limit": limit}
    assert names(post("/v1/list-resources", body), "limit")


@pytest.mark.parametrize("path", ["/v1/list-resources", "/v1/list-actors"])
def test_fractional_limit_is_400(post, path):
    assert names(post(path, {**ENDPOINTS[path], "limit": 2.5}), "limit")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"resource_type": "Invoice"}, "resource_type"),
        ({"action": "destroy"}, "action"),
        ({"actor": {"type": "Domain", "id": "d-1"}}, "actor.type"),
        ({"actor": {"type": "PortalUser", "id": "bad id"}}, "actor.id"),
    ],
)
def test_list_resources_invalid_field_is_400(post, change, field):
    assert names(post("/v1/list-resources", {**ENDPOINTS["/v1/list-resources"], **change}), field)


GARBAGE_CURSORS = [
    "garbage",
    "!!!",
    "x" * 513,
    "",
    cursor_of(),
    cursor_of("a", "b", "c"),
    base64.urlsafe_b64encode(b'{"after": "d-1"}').decode(),
    base64.urlsafe_b64encode(b"[1]").decode(),
    base64.urlsafe_b64encode(b"\xff\xfe").decode(),
    7,
]


@pytest.mark.parametrize("cursor", GARBAGE_CURSORS)
def test_list_resources_garbage_cursor_is_400(post, cursor):
    body = {**ENDPOINTS["/v1/list-resources"], "cursor": cursor}
    assert names(post("/v1/list-resources", body), "cursor")


def test_list_resources_refuses_a_list_actors_cursor(post):
    first = ok(post("/v1/list-actors", {**ENDPOINTS["/v1/list-actors"], "limit": 1}))
    body = {**ENDPOINTS["/v1/list-resources"], "cursor": first["next_cursor"]}
    assert names(post("/v1/list-resources", body), "cursor")


@pytest.mark.parametrize("path", ["/v1/list-resources", "/v1/list-actors"])
def test_cursor_with_a_lone_surrogate_is_not_a_500(post, path):
    cursor = (
        cursor_of("\ud800") if path == "/v1/list-resources" else cursor_of("PortalUser", "\ud800")
    )
    response = post(path, {**ENDPOINTS[path], "cursor": cursor})
    assert response.status_code in (200, 400), response.json


@pytest.mark.parametrize("path", ["/v1/list-resources", "/v1/list-actors"])
def test_cursor_with_a_nul_character_is_not_a_500(post, path):
    cursor = (
        cursor_of("\u0000") if path == "/v1/list-resources" else cursor_of("PortalUser", "\u0000")
    )
    response = post(path, {**ENDPOINTS[path], "cursor": cursor})
    assert response.status_code in (200, 400), response.json


# -- list-actors ------------------------------------------------------------------------------


def walk_actors(post, body, limit):
    pages, cursor = [], None
    for _ in range(50):
        found = ok(post("/v1/list-actors", {**body, "limit": limit, "cursor": cursor}))
        assert set(found) >= {"actors", "next_cursor"}
        for actor in found["actors"]:
            assert set(actor) == {"type", "id"}
        pages.append([(a["type"], a["id"]) for a in found["actors"]])
        cursor = found["next_cursor"]
        if cursor is None:
            return pages
    raise AssertionError("next_cursor never became null")


OPENERS_OF_D1 = [
    ("DomainUser", "du-1"),
    ("DomainUser", "du-2"),
    ("DomainUser", "du-3"),
    ("PortalUser", "u-admin"),
    ("PortalUser", "u-bo"),
    ("PortalUser", "u-entry"),
]


@pytest.mark.parametrize("limit", [1, 2, 4, 100])
def test_list_actors_pages_by_type_then_id(post, limit):
    pages = walk_actors(post, {"action": "open", "resource": domain("d-1")}, limit)
    assert all(len(page) == limit for page in pages[:-1])
    assert [a for page in pages for a in page] == OPENERS_OF_D1


@pytest.mark.parametrize(
    ("actor_type", "expected"),
    [
        (None, OPENERS_OF_D1),
        ("DomainUser", OPENERS_OF_D1[:3]),
        ("PortalUser", OPENERS_OF_D1[3:]),
    ],
)
def test_list_actors_filters_by_actor_type(post, actor_type, expected):
    body = {"action": "open", "resource": domain("d-1"), "actor_type": actor_type}
    assert [a for page in walk_actors(post, body, 2) for a in page] == expected


@pytest.mark.parametrize(
    ("action", "resource"),
    [
        ("open", domain("d-2")),
        ("process", domain("d-1")),
        ("data_entry", domain("d-1")),
        ("access", {"type": "Administration", "id": "a-1"}),
        ("access", {"type": "Administration", "id": "a-2"}),
        ("delete", du("du-3")),
        ("delete", pu("u-bo")),
        ("view", {"type": "Portal", "id": "p-1"}),
    ],
)
@pytest.mark.parametrize("at", [BEFORE_DOWNGRADE, NOW_ISH])
def test_list_actors_equals_the_single_checks(post, action, resource, at):
    actors = sorted(
        [("PortalUser", u["id"]) for u in WORLD["portal_users"]]
        + [("DomainUser", u["id"]) for u in WORLD["domain_users"]]
    )
    checks = [authorize_body({"type": t, "id": i}, action, resource, at) for t, i in actors]
    results = ok(post("/v1/authorize/batch", {"checks": checks}))["results"]
    allowed = [a for a, r in zip(actors, results, strict=True) if r["allowed"]]
    body = {"action": action, "resource": resource, "context": {"at": at}}
    assert [a for page in walk_actors(post, body, 2) for a in page] == allowed


def test_list_actors_of_an_unknown_resource_is_empty(post):
    found = ok(post("/v1/list-actors", {"action": "open", "resource": domain("d-nothing")}))
    assert (found["actors"], found["next_cursor"]) == ([], None)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"actor_type": "Portal"}, "actor_type"),
        ({"actor_type": "robot"}, "actor_type"),
        ({"action": "destroy"}, "action"),
        ({"resource": {"type": "Invoice", "id": "i-1"}}, "resource.type"),
        ({"resource": {"type": "Domain", "id": "d 1"}}, "resource.id"),
        ({"limit": 0}, "limit"),
        ({"limit": 1001}, "limit"),
        ({"limit": "x"}, "limit"),
    ],
)
def test_list_actors_invalid_field_is_400(post, change, field):
    assert names(post("/v1/list-actors", {**ENDPOINTS["/v1/list-actors"], **change}), field)


@pytest.mark.parametrize("cursor", GARBAGE_CURSORS)
def test_list_actors_garbage_cursor_is_400(post, cursor):
    body = {**ENDPOINTS["/v1/list-actors"], "cursor": cursor}
    assert names(post("/v1/list-actors", body), "cursor")


# -- actions ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("actor", "resource"),
    [
        (pu("u-admin"), domain("d-1")),
        (pu("u-bo"), domain("d-1")),
        (pu("u-entry"), domain("d-1")),
        (pu("u-sub"), domain("d-2")),
        (pu("u-admin"), {"type": "Portal", "id": "p-1"}),
        (pu("u-admin"), pu("u-bo")),
        (pu("u-admin"), pu("u-admin")),
        (du("du-1"), domain("d-1")),
        (du("du-2"), domain("d-1")),
        (du("du-1"), du("du-1")),
        (du("du-2"), {"type": "Administration", "id": "a-2"}),
    ],
)
@pytest.mark.parametrize("at", [BEFORE_DOWNGRADE, NOW_ISH])
def test_actions_are_sorted_and_equal_the_single_checks(post, actor, resource, at):
    found = ok(post("/v1/actions", {"actor": actor, "resource": resource, "context": {"at": at}}))
    assert set(found) >= {"actions"}
    names_ = sorted(str(a) for a in ACTIONS_BY_RESOURCE[resource["type"]])
    checks = [authorize_body(actor, a, resource, at) for a in names_]
    results = ok(post("/v1/authorize/batch", {"checks": checks}))["results"]
    allowed = [a for a, r in zip(names_, results, strict=True) if r["allowed"]]
    assert found["actions"] == allowed


def test_actions_follow_the_time(post):
    def at(when):
        body = {"actor": du("du-2"), "resource": domain("d-1"), "context": {"at": when}}
        return ok(post("/v1/actions", body))["actions"]

    assert "process" in at(BEFORE_DOWNGRADE)
    assert "process" not in at(AFTER_DOWNGRADE)


@pytest.mark.parametrize(
    ("actor", "resource"),
    [
        (pu("u-other"), domain("d-1")),
        (du("du-9"), domain("d-1")),
        (pu("u-guest"), {"type": "Portal", "id": "p-1"}),
        (pu("u-nobody"), domain("d-1")),
        (pu("u-admin"), domain("d-nothing")),
        (du("du-1"), {"type": "Portal", "id": "p-1"}),
    ],
)
def test_outsiders_and_unknown_ids_have_no_actions(post, actor, resource):
    assert ok(post("/v1/actions", {"actor": actor, "resource": resource}))["actions"] == []


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"actor": {"type": "Robot", "id": "r-1"}}, "actor.type"),
        ({"resource": {"type": "Domain", "id": ""}}, "resource.id"),
        ({"action": "open"}, "action"),
    ],
)
def test_actions_invalid_field_is_400(post, change, field):
    assert names(post("/v1/actions", {**ENDPOINTS["/v1/actions"], **change}), field)


@pytest.mark.parametrize("path", ["/v1/authorize", "/v1/list-resources", "/v1/list-actors"])
def test_a_misspelled_context_field_is_400_not_a_decision_at_now(post, path):
    body = {**ENDPOINTS[path], "context": {"time": "2022-06-30T10:00:00+02:00"}}
    assert names(post(path, body), "context.time")
