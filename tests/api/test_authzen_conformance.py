"""AuthZEN 1.0 structural rules: what is a 400, what is ignored, what is a deny or an empty search.

Section numbers: the spec (openid/authzen api/authorization-api-1_0.md) as "spec §…", and the
certification scenario (certification/authorization-api-1_0-scenario.md) as "cert C.x.y.z".
"""

from __future__ import annotations

import json

import pytest

from tests.api.test_queries import WORLD, domain, du, pu

EVALUATION = "/access/v1/evaluation"
EVALUATIONS = "/access/v1/evaluations"
SUBJECTS = "/access/v1/search/subject"
RESOURCES = "/access/v1/search/resource"
ACTIONS = "/access/v1/search/action"
WELL_KNOWN = "/.well-known/authzen-configuration"
NOW_ISH = "2024-03-01T12:00:00+01:00"


def act(name):
    return {"name": name}


ADMIN_OPENS_D1 = {"subject": pu("u-admin"), "action": act("open"), "resource": domain("d-1")}
# One valid body per POST endpoint.
VALID = {
    EVALUATION: ADMIN_OPENS_D1,
    EVALUATIONS: {"subject": pu("u-admin"), "action": act("open"),
                  "evaluations": [{"resource": domain("d-1")}]},
    SUBJECTS: {"subject": {"type": "PortalUser"}, "action": act("open"), "resource": domain("d-1")},
    RESOURCES: {"subject": pu("u-admin"), "action": act("open"), "resource": {"type": "Domain"}},
    ACTIONS: {"subject": pu("u-admin"), "resource": domain("d-1")},
}  # fmt: skip


@pytest.fixture
def world(client, admin_headers, clean_db):
    response = client.post("/v1/import", json=WORLD, headers=admin_headers)
    assert response.status_code == 200, response.json
    return WORLD


def post(client, headers, path, body):
    return client.post(path, json=body, headers=headers)


def assert_400(response, code="invalid_request"):
    assert response.status_code == 400, response.json
    assert response.content_type == "application/json"
    error = response.json["error"]
    assert error["code"] == code and error["message"]
    return error


def without(body, key):
    return {k: v for k, v in body.items() if k != key}


def with_(body, **changes):
    return {**body, **changes}


# --- transport: keys, content type, body, request id (spec "Transport", cert C.2.4.3-5, C.5) ---


@pytest.mark.parametrize("path", list(VALID))
def test_anonymous_caller_gets_401(client, world, path):
    response = client.post(path, json=VALID[path])
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert response.json["error"]["code"] == "unauthorized"


@pytest.mark.parametrize("path", list(VALID))
@pytest.mark.parametrize("key", ["check_headers", "admin_headers"])
def test_a_check_or_admin_key_gets_200_json(client, world, request, path, key):
    response = post(client, request.getfixturevalue(key), path, VALID[path])
    assert response.status_code == 200, response.json
    assert response.content_type == "application/json"


@pytest.mark.parametrize("path", list(VALID))
@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", "application/merge-patch+json"],
)
def test_a_content_type_other_than_json_is_400(client, check_headers, world, path, content_type):
    response = client.post(
        path, data='{"a": 1}', headers={**check_headers, "Content-Type": content_type}
    )
    assert_400(response, "invalid_json")


@pytest.mark.parametrize("path", list(VALID))
def test_json_with_a_charset_is_accepted(client, check_headers, world, path):
    response = client.post(
        path,
        data=json.dumps(VALID[path]),
        headers={**check_headers, "Content-Type": "application/json; charset=utf-8"},
    )
    assert response.status_code == 200, response.json


@pytest.mark.parametrize("path", list(VALID))
@pytest.mark.parametrize("body", ["{", '{"subject": }', "nul", '{"a": NaN}', "\xff"])
def test_malformed_json_is_400(client, check_headers, world, path, body):
    response = client.post(
        path, data=body, headers={**check_headers, "Content-Type": "application/json"}
    )
    assert_400(response, "invalid_json")


@pytest.mark.parametrize("path", list(VALID))
@pytest.mark.parametrize("content_type", ["application/json", None])
@pytest.mark.parametrize("body", ["", "   "])
def test_an_empty_body_is_400(client, check_headers, world, path, content_type, body):
    headers = dict(check_headers)
    if content_type:
        headers["Content-Type"] = content_type
    assert_400(client.post(path, data=body, headers=headers), "invalid_json")


@pytest.mark.parametrize("path", list(VALID))
@pytest.mark.parametrize("body", [[], [ADMIN_OPENS_D1], "text", 3, True, None])
def test_a_body_that_is_not_an_object_is_400(client, check_headers, world, path, body):
    assert_400(post(client, check_headers, path, body), "invalid_json")


@pytest.mark.parametrize("path", list(VALID))
def test_x_request_id_is_echoed(client, check_headers, world, path):
    headers = {**check_headers, "X-Request-ID": "bfe9eb29-ab87-4ca3-be83-a1d5d8305716"}
    response = client.post(path, json=VALID[path], headers=headers)
    assert response.headers["X-Request-ID"] == "bfe9eb29-ab87-4ca3-be83-a1d5d8305716"
    # ...on errors too.
    response = client.post(path, json={}, headers=headers)
    assert response.status_code == 400
    assert response.headers["X-Request-ID"] == "bfe9eb29-ab87-4ca3-be83-a1d5d8305716"


@pytest.mark.parametrize("path", list(VALID))
def test_without_x_request_id_one_is_generated(client, check_headers, world, path):
    response = post(client, check_headers, path, VALID[path])
    assert response.status_code == 200
    assert response.headers["X-Request-ID"]


@pytest.mark.parametrize("path", list(VALID))
def test_only_post_is_served(client, check_headers, world, path):
    assert client.get(path, headers=check_headers).status_code == 405


# --- unknown fields are ignored (spec "JSON Serialization", cert C.2.2.8-9, C.5) --------------


def _with_unknown_fields(body):
    noisy = {"foo": "bar", "futureField": {"nested": True}}
    out = {**body, **noisy}
    for key in ("subject", "action", "resource", "context", "page", "options"):
        if isinstance(body.get(key), dict):
            out[key] = {**body[key], "extra": [1, 2], "properties": {"department": "Sales"}}
    if "evaluations" in body:
        out["evaluations"] = [{**item, "unknown": 1} for item in body["evaluations"]]
    return out


@pytest.mark.parametrize("path", list(VALID))
def test_unknown_fields_and_properties_are_ignored(client, check_headers, world, path):
    plain = post(client, check_headers, path, VALID[path])
    noisy = post(client, check_headers, path, _with_unknown_fields(VALID[path]))
    assert noisy.status_code == 200, noisy.json
    assert noisy.json == plain.json


def test_context_keys_other_than_at_are_ignored(client, check_headers, world):
    body = with_(ADMIN_OPENS_D1, context={"time": "2025-06-27T18:03-07:00", "ip": "192.168.1.1"})
    response = post(client, check_headers, EVALUATION, body)
    assert response.json == {"decision": True}


# --- Access Evaluation: required members and JSON types (spec "Access Evaluation API",
# --- "JSON Serialization"; cert C.2.4.1, C.2.4.2, C.2.4.6) ------------------------------------


@pytest.mark.parametrize("missing", ["subject", "action", "resource"])
@pytest.mark.parametrize("path", [EVALUATION, EVALUATIONS])
def test_a_missing_subject_action_or_resource_is_400(client, check_headers, world, path, missing):
    error = assert_400(post(client, check_headers, path, without(ADMIN_OPENS_D1, missing)))
    assert missing in error["details"]["json"]


SUB_FIELD_GAPS = {
    "subject_without_type": {"subject": {"id": "u-admin"}},
    "subject_without_id": {"subject": {"type": "PortalUser"}},
    "action_without_name": {"action": {}},
    "resource_without_type": {"resource": {"id": "d-1"}},
    "resource_without_id": {"resource": {"type": "Domain"}},
}


@pytest.mark.parametrize("change", SUB_FIELD_GAPS.values(), ids=list(SUB_FIELD_GAPS))
@pytest.mark.parametrize("path", [EVALUATION, EVALUATIONS])
def test_a_missing_type_id_or_name_is_400(client, check_headers, world, path, change):
    error = assert_400(post(client, check_headers, path, with_(ADMIN_OPENS_D1, **change)))
    [entity] = change
    assert entity in error["details"]["json"]


WRONG_TYPES = {
    "subject_is_a_string": {"subject": "u-admin"},
    "subject_is_null": {"subject": None},
    "subject_is_an_array": {"subject": [pu("u-admin")]},
    "subject_type_is_a_number": {"subject": {"type": 1, "id": "u-admin"}},
    "subject_id_is_a_number": {"subject": {"type": "PortalUser", "id": 7}},
    "subject_properties_is_a_string": {"subject": {**pu("u-admin"), "properties": "x"}},
    "action_is_a_string": {"action": "open"},
    "action_name_is_a_number": {"action": {"name": 123}},
    "action_name_is_null": {"action": {"name": None}},
    "action_properties_is_an_array": {"action": {"name": "open", "properties": []}},
    "resource_is_a_number": {"resource": 1},
    "resource_id_is_a_boolean": {"resource": {"type": "Domain", "id": True}},
    "context_is_a_string": {"context": "now"},
    "context_is_an_array": {"context": []},
    "context_at_is_not_a_time": {"context": {"at": "yesterday"}},
    "context_at_has_no_offset": {"context": {"at": "2024-03-01T12:00:00"}},
    "context_at_is_a_number": {"context": {"at": 1700000000}},
}


@pytest.mark.parametrize("change", WRONG_TYPES.values(), ids=list(WRONG_TYPES))
@pytest.mark.parametrize("path", [EVALUATION, EVALUATIONS])
def test_a_member_of_the_wrong_json_type_is_400(client, check_headers, world, path, change):
    assert_400(post(client, check_headers, path, with_(ADMIN_OPENS_D1, **change)))


def test_a_decision_is_a_boolean_and_an_allow_carries_no_context(client, check_headers, world):
    allow = post(client, check_headers, EVALUATION, ADMIN_OPENS_D1)
    assert allow.status_code == 200 and allow.json == {"decision": True}
    deny = post(client, check_headers, EVALUATION, with_(ADMIN_OPENS_D1, subject=pu("u-other")))
    assert deny.status_code == 200
    assert deny.json == {"decision": False, "context": {"reasons": ["not_member"]}}


def test_the_same_request_gives_the_same_decision(client, check_headers, world):
    """cert C.2.6 (idempotency)."""
    answers = [post(client, check_headers, EVALUATION, ADMIN_OPENS_D1).json for _ in range(5)]
    assert answers == [{"decision": True}] * 5


def test_context_at_decides_at_that_time(client, check_headers, world):
    # d-1 is on Medium until a downgrade to Minimal on 1 July 2022 (Brussels).
    body = {"subject": du("du-2"), "action": act("process"), "resource": domain("d-1")}
    before = with_(body, context={"at": "2022-06-30T23:59:59+02:00"})
    after = with_(body, context={"at": "2022-06-30T22:30:00+00:00"})
    assert post(client, check_headers, EVALUATION, before).json == {"decision": True}
    assert post(client, check_headers, EVALUATION, after).json == {
        "decision": False,
        "context": {"reasons": ["plan_not_eligible"]},
    }
    null_at = with_(body, context={"at": None})
    assert post(client, check_headers, EVALUATION, null_at).status_code == 200


# --- unknown ids, types and actions: a deny, never a 400 (api.md; spec: any string) -----------


UNKNOWN = {
    "unknown_subject_id": ({"subject": pu("u-nobody")}, ["unknown_actor"]),
    "unknown_resource_id": ({"resource": domain("d-nowhere")}, ["unknown_resource"]),
    "both_ids_unknown": (
        {"subject": pu("u-nobody"), "resource": domain("d-nowhere")},
        ["unknown_actor", "unknown_resource"],
    ),
    "subject_id_outside_the_id_alphabet": (
        {"subject": {"type": "PortalUser", "id": "alice@example.com"}},
        ["unknown_actor"],
    ),
    "empty_subject_id": ({"subject": {"type": "PortalUser", "id": ""}}, ["unknown_actor"]),
    "subject_id_of_100_characters": ({"subject": pu("u" * 100)}, ["unknown_actor"]),
    "unknown_subject_type": ({"subject": {"type": "user", "id": "alice"}}, ["unknown_actor"]),
    "resource_type_as_subject_type": ({"subject": domain("d-1")}, ["unknown_actor"]),
    "unknown_resource_type": (
        {"resource": {"type": "record", "id": "record-1"}},
        ["unknown_resource"],
    ),
    "both_types_unknown": (
        {"subject": {"type": "user", "id": "a"}, "resource": {"type": "record", "id": "r"}},
        ["unknown_actor", "unknown_resource"],
    ),
    "unknown_action_name": ({"action": act("read")}, ["action_not_applicable"]),
    "empty_action_name": ({"action": act("")}, ["action_not_applicable"]),
    "action_of_another_resource_type": ({"action": act("view")}, ["action_not_applicable"]),
}


@pytest.mark.parametrize(("change", "reasons"), UNKNOWN.values(), ids=list(UNKNOWN))
def test_unknown_ids_types_and_actions_are_denied_with_a_reason(
    client, check_headers, world, change, reasons
):
    body = with_(ADMIN_OPENS_D1, **change)
    response = post(client, check_headers, EVALUATION, body)
    assert response.status_code == 200, response.json
    assert response.json == {"decision": False, "context": {"reasons": reasons}}
    batch = post(client, check_headers, EVALUATIONS, {"evaluations": [body]})
    assert batch.json == {"evaluations": [response.json]}


# --- Access Evaluations (spec "Access Evaluations API"; cert C.3) ------------------------------


def test_defaults_apply_and_items_override_whole_objects(client, check_headers, world):
    body = {
        "subject": pu("u-admin"),
        "action": act("open"),
        "resource": domain("d-1"),
        "context": {"at": NOW_ISH},
        "evaluations": [
            {},  # all defaults
            {"resource": domain("d-9")},  # another portal's domain
            {"subject": pu("u-other"), "resource": domain("d-9")},  # its own administrator
            {"action": act("create_user"), "resource": {"type": "Portal", "id": "p-1"}},
            # Whole-object override: the item's subject has no id, and is NOT completed with the
            # default's id, so the item is an error.
            {"subject": {"type": "PortalUser"}},
        ],
    }
    response = post(client, check_headers, EVALUATIONS, body)
    assert response.status_code == 200, response.json
    got = response.json["evaluations"]
    assert "decision" not in response.json  # spec: RECOMMENDED to omit at the top level
    assert got[:4] == [
        {"decision": True},
        {"decision": False, "context": {"reasons": ["not_member"]}},
        {"decision": True},
        {"decision": True},
    ]
    assert got[4]["decision"] is False
    assert got[4]["context"]["error"]["status"] == 400
    assert "subject.id" in got[4]["context"]["error"]["message"]


def test_per_item_context_overrides_the_default_context(client, check_headers, world):
    body = {
        "subject": du("du-2"),
        "action": act("process"),
        "resource": domain("d-1"),
        "context": {"at": "2022-06-30T12:00:00+02:00"},
        "evaluations": [{}, {"context": {"at": "2022-07-02T12:00:00+02:00", "source": "x"}}],
    }
    got = post(client, check_headers, EVALUATIONS, body).json["evaluations"]
    assert got == [
        {"decision": True},
        {"decision": False, "context": {"reasons": ["plan_not_eligible"]}},
    ]


@pytest.mark.parametrize("evaluations", [None, []], ids=["absent", "empty"])
def test_without_items_the_defaults_are_one_evaluation(client, check_headers, world, evaluations):
    """spec: absent or empty `evaluations` is the single Access Evaluation (cert C.3.4.2-3)."""
    body = dict(ADMIN_OPENS_D1)
    if evaluations is not None:
        body["evaluations"] = evaluations
    response = post(client, check_headers, EVALUATIONS, body)
    assert response.status_code == 200
    assert response.json == {"decision": True}
    deny = with_(body, subject=pu("u-other"))
    assert post(client, check_headers, EVALUATIONS, deny).json == {
        "decision": False,
        "context": {"reasons": ["not_member"]},
    }


@pytest.mark.parametrize("evaluations", [None, []], ids=["absent", "empty"])
def test_without_items_a_missing_default_is_400(client, check_headers, world, evaluations):
    body = without(ADMIN_OPENS_D1, "resource")
    if evaluations is not None:
        body["evaluations"] = evaluations
    error = assert_400(post(client, check_headers, EVALUATIONS, body))
    assert "resource" in error["details"]["json"]


BAD_ITEMS = {
    "missing_resource": {},
    "missing_resource_id": {"resource": {"type": "Domain"}},
    "action_name_is_a_number": {"resource": domain("d-1"), "action": {"name": 1}},
    "subject_is_a_string": {"resource": domain("d-1"), "subject": "u-admin"},
    "context_at_is_not_a_time": {"resource": domain("d-1"), "context": {"at": "soon"}},
    "item_is_a_string": "d-1",
    "item_is_null": None,
    "item_is_an_array": [],
}


@pytest.mark.parametrize("bad", BAD_ITEMS.values(), ids=list(BAD_ITEMS))
def test_execute_all_answers_an_invalid_item_with_an_error_and_decides_the_others(
    client, check_headers, world, bad
):
    """spec "Errors" (errors in individual evaluations); cert C.3.4.1."""
    body = {
        "subject": pu("u-admin"),
        "action": act("open"),
        "options": {"evaluations_semantic": "execute_all"},
        "evaluations": [{"resource": domain("d-1")}, bad, {"resource": domain("d-9")}],
    }
    response = post(client, check_headers, EVALUATIONS, body)
    assert response.status_code == 200, response.json
    first, failed, last = response.json["evaluations"]
    assert first == {"decision": True}
    assert last == {"decision": False, "context": {"reasons": ["not_member"]}}
    assert failed["decision"] is False
    assert set(failed["context"]) == {"error"}
    assert failed["context"]["error"]["status"] == 400
    assert failed["context"]["error"]["message"].startswith("evaluations[1]")


def test_execute_all_is_the_default_semantic(client, check_headers, world):
    body = {
        "subject": pu("u-admin"),
        "action": act("open"),
        "evaluations": [{"resource": domain(d)} for d in ("d-9", "d-1", "d-9")],
    }
    got = post(client, check_headers, EVALUATIONS, body).json["evaluations"]
    assert [g["decision"] for g in got] == [False, True, False]


SEMANTICS = {
    # semantic, decisions of the items, decisions answered
    "deny_on_first_deny_stops_at_the_deny": ("deny_on_first_deny", "AADA", "AAD"),
    "deny_on_first_deny_without_deny_answers_all": ("deny_on_first_deny", "AAA", "AAA"),
    "deny_on_first_deny_stops_at_an_error": ("deny_on_first_deny", "AEAD", "AE"),
    "permit_on_first_permit_stops_at_the_permit": ("permit_on_first_permit", "DDAD", "DDA"),
    "permit_on_first_permit_passes_errors": ("permit_on_first_permit", "EDA", "EDA"),
    "permit_on_first_permit_without_permit_answers_all": ("permit_on_first_permit", "DD", "DD"),
    "execute_all_answers_all": ("execute_all", "ADEA", "ADEA"),
}
_ITEM = {"A": {"resource": domain("d-1")}, "D": {"resource": domain("d-9")}, "E": {}}


@pytest.mark.parametrize(("semantic", "items", "answered"), SEMANTICS.values(), ids=list(SEMANTICS))
def test_evaluations_semantics(client, check_headers, world, semantic, items, answered):
    body = {
        "subject": pu("u-admin"),
        "action": act("open"),
        "options": {"evaluations_semantic": semantic, "another_option": "value"},
        "evaluations": [_ITEM[c] for c in items],
    }
    response = post(client, check_headers, EVALUATIONS, body)
    assert response.status_code == 200, response.json
    got = response.json["evaluations"]

    def letter(answer):
        if answer["decision"]:
            return "A"
        return "E" if "error" in answer["context"] else "D"

    assert "".join(letter(g) for g in got) == answered


BAD_TOP_LEVEL = {
    "evaluations_is_an_object": {"evaluations": {"resource": domain("d-1")}},
    "evaluations_is_a_string": {"evaluations": "all"},
    "options_is_a_string": {"options": "execute_all"},
    "unknown_semantic": {"options": {"evaluations_semantic": "first_applicable"}},
    "semantic_is_a_number": {"options": {"evaluations_semantic": 1}},
    "default_subject_is_a_string": {"subject": "u-admin"},
    "default_resource_without_id": {"resource": {"type": "Domain"}},
    "default_context_at_is_not_a_time": {"context": {"at": "later"}},
    "more_than_1000_items": {"evaluations": [{"resource": domain("d-1")}] * 1001},
}


@pytest.mark.parametrize("change", BAD_TOP_LEVEL.values(), ids=list(BAD_TOP_LEVEL))
def test_an_invalid_top_level_is_400(client, check_headers, world, change):
    body = {
        "subject": pu("u-admin"),
        "action": act("open"),
        "evaluations": [{"resource": domain("d-1")}],
        **change,
    }
    assert_400(post(client, check_headers, EVALUATIONS, body))


def test_1000_items_are_decided_in_order(client, check_headers, world):
    targets = ["d-1", "d-9", "d-nowhere", "d-2"] * 250
    body = {
        "subject": pu("u-admin"),
        "action": act("open"),
        "evaluations": [{"resource": domain(d)} for d in targets],
    }
    got = post(client, check_headers, EVALUATIONS, body).json["evaluations"]
    assert len(got) == 1000
    expected = {
        "d-1": {"decision": True},
        "d-9": {"decision": False, "context": {"reasons": ["not_member"]}},
        "d-nowhere": {"decision": False, "context": {"reasons": ["unknown_resource"]}},
        "d-2": {"decision": True},
    }
    assert got == [expected[d] for d in targets]


# --- Searches: required members (spec "Search APIs"; cert C.4.7) ------------------------------


SEARCH_GAPS = {
    "subject_search_without_action": (SUBJECTS, "action", None),
    "subject_search_without_subject": (SUBJECTS, "subject", None),
    "subject_search_without_resource": (SUBJECTS, "resource", None),
    "subject_search_subject_without_type": (SUBJECTS, "subject", {"id": "x"}),
    "subject_search_resource_without_id": (SUBJECTS, "resource", {"type": "Domain"}),
    "subject_search_action_without_name": (SUBJECTS, "action", {}),
    "resource_search_without_subject": (RESOURCES, "subject", None),
    "resource_search_without_action": (RESOURCES, "action", None),
    "resource_search_without_resource": (RESOURCES, "resource", None),
    "resource_search_subject_without_id": (RESOURCES, "subject", {"type": "PortalUser"}),
    "resource_search_resource_without_type": (RESOURCES, "resource", {}),
    "action_search_without_resource": (ACTIONS, "resource", None),
    "action_search_without_subject": (ACTIONS, "subject", None),
    "action_search_subject_without_id": (ACTIONS, "subject", {"type": "PortalUser"}),
    "action_search_resource_without_id": (ACTIONS, "resource", {"type": "Domain"}),
}


@pytest.mark.parametrize(("path", "key", "value"), SEARCH_GAPS.values(), ids=list(SEARCH_GAPS))
def test_a_search_missing_a_member_is_400(client, check_headers, world, path, key, value):
    body = without(VALID[path], key) if value is None else with_(VALID[path], **{key: value})
    error = assert_400(post(client, check_headers, path, body))
    assert key in error["details"]["json"]


SEARCH_WRONG_TYPES = {
    "subject_type_is_a_number": {"subject": {"type": 5}},
    "action_name_is_a_number": {"action": {"name": 5}},
    "context_is_a_string": {"context": "now"},
    "context_at_is_not_a_time": {"context": {"at": "tomorrow"}},
    "page_is_a_string": {"page": "2"},
    "page_limit_is_a_string": {"page": {"limit": "2"}},
    "page_limit_is_a_float": {"page": {"limit": 1.5}},
    "page_limit_is_a_boolean": {"page": {"limit": True}},
    "page_limit_is_negative": {"page": {"limit": -1}},
    "page_limit_is_zero": {"page": {"limit": 0}},
    "page_token_is_a_number": {"page": {"token": 12}},
}


# Action search has no `action`: one there is an unknown field, ignored.
_WRONG_TYPE_CASES = [
    pytest.param(path, change, id=f"{path.rsplit('/', 1)[1]}-{name}")
    for path in (SUBJECTS, RESOURCES, ACTIONS)
    for name, change in SEARCH_WRONG_TYPES.items()
    if not (path == ACTIONS and "action" in change)
]


@pytest.mark.parametrize(("path", "change"), _WRONG_TYPE_CASES)
def test_a_search_member_of_the_wrong_type_is_400(client, check_headers, world, path, change):
    body = with_(VALID[path], **change)
    if path != SUBJECTS and "subject" in change:
        body["subject"] = {**change["subject"], "id": "u-admin"}
    assert_400(post(client, check_headers, path, body))


def test_the_searched_for_id_is_ignored(client, check_headers, world):
    """spec: the searched entity's `id` SHOULD be omitted and MUST be ignored (cert C.4.2.3,
    C.4.3.3); ignored whatever its JSON type."""
    for path, key in ((SUBJECTS, "subject"), (RESOURCES, "resource")):
        plain = post(client, check_headers, path, VALID[path]).json
        for stray in ("u-admin", "d-1", 17, None, {"x": 1}):
            entity = {**VALID[path][key], "id": stray}
            got = post(client, check_headers, path, with_(VALID[path], **{key: entity}))
            assert got.status_code == 200, got.json
            assert got.json == plain


def test_an_action_in_an_action_search_is_ignored(client, check_headers, world):
    plain = post(client, check_headers, ACTIONS, VALID[ACTIONS]).json
    noisy = post(client, check_headers, ACTIONS, with_(VALID[ACTIONS], action=act("open"))).json
    assert noisy == plain


# --- Searches: nothing found is 200 with no results (cert C.4.6) ------------------------------


EMPTY_SEARCHES = {
    "subject_search_unknown_subject_type": (SUBJECTS, {"subject": {"type": "spaceship"}}),
    "subject_search_resource_type_as_subject_type": (SUBJECTS, {"subject": {"type": "Domain"}}),
    "subject_search_unknown_resource_id": (SUBJECTS, {"resource": domain("d-nowhere")}),
    "subject_search_unknown_resource_type": (
        SUBJECTS,
        {"resource": {"type": "record", "id": "record-1"}},
    ),
    "subject_search_unknown_action": (SUBJECTS, {"action": act("read")}),
    "subject_search_odd_resource_id": (SUBJECTS, {"resource": domain("d 1@x")}),
    "resource_search_unknown_subject_id": (RESOURCES, {"subject": pu("u-nobody")}),
    "resource_search_unknown_subject_type": (
        RESOURCES,
        {"subject": {"type": "user", "id": "alice"}},
    ),
    "resource_search_unknown_resource_type": (RESOURCES, {"resource": {"type": "record"}}),
    "resource_search_unknown_action": (RESOURCES, {"action": act("read")}),
    "resource_search_odd_subject_id": (
        RESOURCES,
        {"subject": {"type": "PortalUser", "id": "a@b.c"}},
    ),
    "action_search_unknown_subject_id": (ACTIONS, {"subject": pu("nonexistent-user")}),
    "action_search_unknown_subject_type": (ACTIONS, {"subject": {"type": "user", "id": "x"}}),
    "action_search_unknown_resource_id": (ACTIONS, {"resource": domain("d-nowhere")}),
    "action_search_unknown_resource_type": (
        ACTIONS,
        {"resource": {"type": "record", "id": "record-1"}},
    ),
    "action_search_outsider": (ACTIONS, {"subject": pu("u-other")}),
}


@pytest.mark.parametrize(("path", "change"), EMPTY_SEARCHES.values(), ids=list(EMPTY_SEARCHES))
def test_a_search_that_finds_nothing_answers_no_results(client, check_headers, world, path, change):
    response = post(client, check_headers, path, with_(VALID[path], **change))
    assert response.status_code == 200, response.json
    assert response.json == {"results": [], "page": {"next_token": ""}}


# --- Searches: pages (spec "Pagination"; cert C.4.5) ------------------------------------------


def _walk(client, headers, path, body, limit):
    pages, token = [], None
    for _ in range(100):
        page = {"limit": limit} if token is None else {"limit": limit, "token": token}
        response = post(client, headers, path, with_(body, page=page))
        assert response.status_code == 200, response.json
        assert isinstance(response.json["page"]["next_token"], str)
        pages.append(response.json["results"])
        token = response.json["page"]["next_token"]
        if token == "":
            return pages
    raise AssertionError("the pages never ended")


@pytest.mark.parametrize("path", [SUBJECTS, RESOURCES, ACTIONS])
@pytest.mark.parametrize("limit", [1, 2, 3, 1000, 10**12])
def test_pages_yield_every_result_once_and_end_with_an_empty_token(
    client, check_headers, world, path, limit
):
    whole = post(client, check_headers, path, VALID[path]).json
    assert whole["page"] == {"next_token": ""}
    assert len(whole["results"]) >= 3
    pages = _walk(client, check_headers, path, VALID[path], limit)
    assert all(len(p) <= limit for p in pages)
    assert [r for p in pages for r in p] == whole["results"]


def test_subject_search_results_are_the_requested_type(client, check_headers, world):
    for actor_type in ("PortalUser", "DomainUser"):
        body = with_(VALID[SUBJECTS], subject={"type": actor_type})
        results = post(client, check_headers, SUBJECTS, body).json["results"]
        assert results and {r["type"] for r in results} == {actor_type}


def test_an_empty_or_null_token_is_the_first_page(client, check_headers, world):
    whole = post(client, check_headers, RESOURCES, VALID[RESOURCES]).json
    for token in ("", None):
        body = with_(VALID[RESOURCES], page={"token": token})
        assert post(client, check_headers, RESOURCES, body).json == whole


def test_the_limit_may_change_between_pages(client, check_headers, world):
    """The certification harness sends the follow-up request without the first `limit`."""
    first = post(client, check_headers, SUBJECTS, with_(VALID[SUBJECTS], page={"limit": 1})).json
    token = first["page"]["next_token"]
    rest = post(client, check_headers, SUBJECTS, with_(VALID[SUBJECTS], page={"token": token})).json
    whole = post(client, check_headers, SUBJECTS, VALID[SUBJECTS]).json["results"]
    assert first["results"] + rest["results"] == whole
    assert rest["page"]["next_token"] == ""


@pytest.mark.parametrize(
    ("path", "change"),
    [
        (SUBJECTS, {"resource": domain("d-2")}),
        (SUBJECTS, {"action": act("process")}),
        (SUBJECTS, {"subject": {"type": "DomainUser"}}),
        (SUBJECTS, {"context": {"at": NOW_ISH}}),
        (RESOURCES, {"subject": pu("u-bo")}),
        (RESOURCES, {"action": act("process")}),
        (ACTIONS, {"resource": domain("d-2")}),
    ],
)
def test_a_token_replayed_with_other_entities_is_400(client, check_headers, world, path, change):
    """spec: PDPs SHOULD return an error when an entity changes mid-pagination."""
    first = post(client, check_headers, path, with_(VALID[path], page={"limit": 1})).json
    token = first["page"]["next_token"]
    assert token
    body = with_(VALID[path], page={"token": token}, **change)
    error = assert_400(post(client, check_headers, path, body))
    assert "page" in error["details"]["json"]


def test_a_token_of_another_search_endpoint_is_400(client, check_headers, world):
    first = post(client, check_headers, RESOURCES, with_(VALID[RESOURCES], page={"limit": 1})).json
    body = with_(VALID[SUBJECTS], page={"token": first["page"]["next_token"]})
    assert_400(post(client, check_headers, SUBJECTS, body))


@pytest.mark.parametrize("path", [SUBJECTS, RESOURCES, ACTIONS])
@pytest.mark.parametrize("token", ["garbage", "a.b", ".", "x" * 601, "WyJ1LWJvIl0"])
def test_a_forged_token_is_400(client, check_headers, world, path, token):
    assert_400(post(client, check_headers, path, with_(VALID[path], page={"token": token})))


def test_a_token_with_a_forged_cursor_and_a_valid_binding_is_400(client, check_headers, world):
    first = post(client, check_headers, SUBJECTS, with_(VALID[SUBJECTS], page={"limit": 1})).json
    _, _, binding = first["page"]["next_token"].rpartition(".")
    for cursor in ("!!!", "WyJ4Il0", "bm90IGpzb24"):
        body = with_(VALID[SUBJECTS], page={"token": f"{cursor}.{binding}"})
        assert_400(post(client, check_headers, SUBJECTS, body))


# --- Metadata (spec "Policy Decision Point Metadata"; cert C.6) -------------------------------


def test_metadata_lists_exactly_the_endpoints_served(client, app):
    response = client.get(WELL_KNOWN, base_url="https://pdp.example.com")
    assert response.status_code == 200
    assert response.content_type == "application/json"
    assert response.headers["X-Request-ID"]
    assert response.json == {
        "policy_decision_point": "https://pdp.example.com",
        "access_evaluation_endpoint": "https://pdp.example.com/access/v1/evaluation",
        "access_evaluations_endpoint": "https://pdp.example.com/access/v1/evaluations",
        "search_subject_endpoint": "https://pdp.example.com/access/v1/search/subject",
        "search_resource_endpoint": "https://pdp.example.com/access/v1/search/resource",
        "search_action_endpoint": "https://pdp.example.com/access/v1/search/action",
    }
    served = {rule.rule for rule in app.url_map.iter_rules() if rule.rule.startswith("/access/")}
    listed = {
        url.removeprefix("https://pdp.example.com")
        for key, url in response.json.items()
        if key.endswith("_endpoint")
    }
    assert listed == served


def test_metadata_urls_follow_the_host_the_client_used(client):
    got = client.get(WELL_KNOWN, base_url="http://authz.internal:8080").json
    assert got["policy_decision_point"] == "http://authz.internal:8080"
    assert got["access_evaluation_endpoint"] == "http://authz.internal:8080/access/v1/evaluation"


def test_metadata_needs_no_key_and_only_get(client, check_headers):
    assert client.get(WELL_KNOWN, headers=check_headers).status_code == 200
    assert client.post(WELL_KNOWN, json={}).status_code == 405


def test_openapi_documents_the_authzen_endpoints(client):
    paths = client.get("/openapi.json").json["paths"]
    for path in (EVALUATION, EVALUATIONS, SUBJECTS, RESOURCES, ACTIONS, WELL_KNOWN):
        assert path in paths
