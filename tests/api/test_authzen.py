"""AuthZEN over this domain: the certification scenario's cases, and parity with /v1.

1. The certification scenario (openid/authzen certification/authorization-api-1_0-scenario.md)
   in this domain's vocabulary. Its fixture maps to a small world of ours:

   | scenario            | here                                                              |
   |---------------------|-------------------------------------------------------------------|
   | user `alice`        | PortalUser `u-alice`, PortalBackoffice, scope portal              |
   | user `bob`          | PortalUser `u-bob`, PortalDataEntry, scope portal                 |
   | `bob` role "admin"  | PortalUser `u-boss`, PortalAdministrator (our data, not properties)|
   | record `record-1`   | Domain `d-rec1`, unshielded                                       |
   | record-2 "archived" | Domain `d-rec2`, shielded, no staff function for alice            |
   | action `read`       | `open`                                                            |
   | action `write`      | `process`                                                         |

   Rules 1-4 hold as written. Rules 5-6 ("Properties") hold on our data: the service decides on
   what it stores, never on request `properties` (accepted and ignored), so the "admin" subject
   is its own id. Rules 7-8 (delete with `properties.soft`) cannot be expressed: no action of
   domain.md depends on a request property (see README, AuthZEN).

2. Parity: every case of tests/policy/cases.yaml on tests/policy/world.yaml, asked through
   /v1/authorize, /v1/authorize/batch, /access/v1/evaluation and /access/v1/evaluations, gives
   the same allowed and reasons; the searches list what /v1's lists list.
"""

from __future__ import annotations

import copy
import io
import json
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from service.decisionlog import DecisionLog
from service.vocabulary import Action
from tests.conftest import ADMIN_SECRET, CHECK_SECRET, delete_all_rows
from tests.policy.test_decision_tables import CASES, TABLES, _instant
from tests.policy.test_decision_tables import WORLD as POLICY_WORLD

EVALUATION = "/access/v1/evaluation"
EVALUATIONS = "/access/v1/evaluations"
SUBJECTS = "/access/v1/search/subject"
RESOURCES = "/access/v1/search/resource"
ACTIONS = "/access/v1/search/action"

CHECK = {"Authorization": f"Bearer {CHECK_SECRET}"}
ADMIN = {"Authorization": f"Bearer {ADMIN_SECRET}"}

SCENARIO_WORLD = {
    "portals": [{"id": "p-rec", "name": "Records Office", "country": "BE"}],
    "portal_users": [
        {"id": "u-alice", "portal_id": "p-rec", "email": "alice@rec.example", "name": "Alice",
         "role": "PortalBackoffice", "scope": "portal"},
        {"id": "u-bob", "portal_id": "p-rec", "email": "bob@rec.example", "name": "Bob",
         "role": "PortalDataEntry", "scope": "portal"},
        {"id": "u-boss", "portal_id": "p-rec", "email": "boss@rec.example", "name": "Boss",
         "role": "PortalAdministrator", "scope": "portal"},
    ],
    "domains": [
        {"id": "d-rec1", "portal_id": "p-rec", "name": "record-1", "plan": "Medium",
         "pricing_model": "bundle", "shielded": False},
        {"id": "d-rec2", "portal_id": "p-rec", "name": "record-2", "plan": "Medium",
         "pricing_model": "bundle", "shielded": True},
    ],
}  # fmt: skip

ALICE = {"type": "PortalUser", "id": "u-alice"}
BOB = {"type": "PortalUser", "id": "u-bob"}
ADMIN_BOB = {"type": "PortalUser", "id": "u-boss"}
RECORD_1 = {"type": "Domain", "id": "d-rec1"}
ARCHIVED_RECORD_2 = {"type": "Domain", "id": "d-rec2"}
READ = {"name": "open"}
WRITE = {"name": "process"}


def post(client: FlaskClient, path: str, body: Any) -> Any:
    response = client.post(path, json=body, headers=CHECK)
    assert response.status_code == 200, response.json
    assert response.content_type == "application/json"
    return response.json


def decision(client: FlaskClient, subject: Any, action: Any, resource: Any) -> bool:
    answer = post(client, EVALUATION, {"subject": subject, "action": action, "resource": resource})
    assert isinstance(answer["decision"], bool)
    return bool(answer["decision"])


# --- 1. the certification scenario -----------------------------------------------------------


@pytest.fixture
def scenario(client: FlaskClient, clean_db: None) -> None:
    response = client.post("/v1/import", json=SCENARIO_WORLD, headers=ADMIN)
    assert response.status_code == 200, response.json


@pytest.mark.parametrize(
    ("rule", "subject", "action", "resource", "expected"),
    [
        ("1 alice reads record-1", ALICE, READ, RECORD_1, True),
        ("2 alice writes record-1", ALICE, WRITE, RECORD_1, True),
        ("3 bob reads record-1", BOB, READ, RECORD_1, True),
        ("4 bob writes record-1", BOB, WRITE, RECORD_1, False),
        ("5 alice writes archived record-2", ALICE, WRITE, ARCHIVED_RECORD_2, False),
        ("6 admin bob writes archived record-2", ADMIN_BOB, WRITE, ARCHIVED_RECORD_2, True),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_fixture_decisions(client, scenario, rule, subject, action, resource, expected):
    """cert C.1.4 rules 1-6 (C.2.2.1, C.2.2.2, C.2.2.4, C.2.2.5 in our vocabulary)."""
    assert decision(client, subject, action, resource) is expected


def test_context_and_properties_do_not_change_a_fixture_decision(client, scenario):
    """cert C.2.2.3 (optional context), C.2.2.8 (additional properties), C.2.2.9 (unknown)."""
    with_context = {
        "subject": ALICE, "action": READ, "resource": RECORD_1,
        "context": {"time": "2025-06-27T18:03-07:00", "ip": "192.168.1.1"},
    }  # fmt: skip
    assert post(client, EVALUATION, with_context) == {"decision": True}
    with_properties = {
        "subject": {**ALICE, "properties": {"department": "Sales", "role": "manager"}},
        "action": {**READ, "properties": {"method": "GET"}},
        "resource": {**RECORD_1, "properties": {"status": "active", "owner": "bob"}},
    }
    assert post(client, EVALUATION, with_properties) == {"decision": True}
    unknown = {**with_context, "foo": "bar", "futureField": {"nested": True}}
    assert post(client, EVALUATION, unknown) == {"decision": True}
    # Properties never decide here: "bob with role admin" is still bob (rule 4 holds).
    claimed = {"subject": {**BOB, "properties": {"role": "admin"}}, "action": WRITE,
               "resource": RECORD_1}  # fmt: skip
    assert post(client, EVALUATION, claimed)["decision"] is False


def test_batch_with_defaults(client, scenario):
    """cert C.3.2.1 (structure), C.3.2.2 (values and order)."""
    got = post(client, EVALUATIONS, {
        "subject": ALICE, "action": READ,
        "evaluations": [{"resource": RECORD_1}, {"resource": ARCHIVED_RECORD_2}],
    })["evaluations"]  # fmt: skip
    assert len(got) == 2 and all(isinstance(g["decision"], bool) for g in got)
    got = post(client, EVALUATIONS, {
        "subject": BOB, "resource": RECORD_1,
        "evaluations": [{"action": READ}, {"action": WRITE}],
    })["evaluations"]  # fmt: skip
    assert [g["decision"] for g in got] == [True, False]


def test_batch_per_item_resources_and_subjects(client, scenario):
    """cert C.3.2.3, C.3.2.4 (in our data instead of properties)."""
    got = post(client, EVALUATIONS, {
        "subject": ALICE, "action": WRITE,
        "evaluations": [{"resource": RECORD_1}, {"resource": ARCHIVED_RECORD_2}],
    })["evaluations"]  # fmt: skip
    assert [g["decision"] for g in got] == [True, False]
    got = post(client, EVALUATIONS, {
        "action": WRITE, "resource": ARCHIVED_RECORD_2,
        "evaluations": [{"subject": ALICE}, {"subject": ADMIN_BOB}],
    })["evaluations"]  # fmt: skip
    assert [g["decision"] for g in got] == [False, True]


def test_batch_without_defaults_and_with_context_inheritance(client, scenario):
    """cert C.3.2.5, C.3.2.6."""
    got = post(client, EVALUATIONS, {"evaluations": [
        {"subject": ALICE, "action": READ, "resource": RECORD_1},
        {"subject": BOB, "action": WRITE, "resource": RECORD_1},
    ]})["evaluations"]  # fmt: skip
    assert [g["decision"] for g in got] == [True, False]
    got = post(client, EVALUATIONS, {
        "subject": ALICE, "action": READ, "context": {"time": "2025-06-27T18:03-07:00"},
        "evaluations": [
            {"resource": RECORD_1},
            {"resource": ARCHIVED_RECORD_2,
             "context": {"time": "2025-06-27T19:00-07:00", "source": "batch-override"}},
        ],
    })["evaluations"]  # fmt: skip
    assert len(got) == 2 and all(isinstance(g["decision"], bool) for g in got)


def test_batch_whole_object_default_inheritance(client, scenario):
    """cert C.3.2.7: `{}` inherits everything; a given key replaces the default whole."""
    got = post(client, EVALUATIONS, {
        "subject": ALICE, "action": WRITE,
        "resource": {**RECORD_1, "properties": {"status": "active"}},
        "evaluations": [{}, {"resource": {**ARCHIVED_RECORD_2,
                                          "properties": {"status": "archived"}}}],
    })["evaluations"]  # fmt: skip
    assert [g["decision"] for g in got] == [True, False]


def test_batch_errors_and_backwards_compatibility(client, scenario):
    """cert C.3.4.1 (per-item error), C.3.4.2 (no evaluations), C.3.4.3 (empty evaluations),
    C.3.3.1-4 (cardinality, order, decision in each, no top-level decision)."""
    answer = post(client, EVALUATIONS, {
        "subject": ALICE, "action": READ, "options": {"evaluations_semantic": "execute_all"},
        "evaluations": [{"resource": RECORD_1}, {}],
    })  # fmt: skip
    assert "decision" not in answer
    first, second = answer["evaluations"]
    assert first == {"decision": True}
    assert second["decision"] is False and second["context"]["error"]["status"] == 400
    single = {"subject": ALICE, "action": READ, "resource": RECORD_1}
    assert post(client, EVALUATIONS, single) == {"decision": True}
    assert post(client, EVALUATIONS, {**single, "evaluations": []}) == {"decision": True}


def _ids(results: list[dict[str, Any]]) -> set[str]:
    return {r["id"] for r in results}


def test_searches(client, scenario):
    """cert C.1.5 S1-S3 (C.4.2.1-3, C.4.3.1-3, C.4.4.1-2) and S4-S6 on our data (C.4.2.4,
    C.4.3.4, C.4.4.3)."""
    context = {"time": "2025-06-27T18:03-07:00", "ip": "192.168.1.1"}
    s1 = {"subject": {"type": "PortalUser"}, "action": READ, "resource": RECORD_1}
    for body in (s1, {**s1, "context": context}, {**s1, "subject": ALICE}):
        results = post(client, SUBJECTS, body)["results"]
        assert {r["type"] for r in results} == {"PortalUser"}
        assert {"u-alice", "u-bob"} <= _ids(results)
    s2 = {"subject": ALICE, "action": READ, "resource": {"type": "Domain"}}
    for body in (s2, {**s2, "context": context}, {**s2, "resource": RECORD_1}):
        results = post(client, RESOURCES, body)["results"]
        assert {r["type"] for r in results} == {"Domain"}
        assert "d-rec1" in _ids(results)
    s3 = {"subject": ALICE, "resource": RECORD_1}
    for body in (s3, {**s3, "context": context}):
        names = {r["name"] for r in post(client, ACTIONS, body)["results"]}
        assert {"open", "process"} <= names
    s4 = {"subject": {"type": "PortalUser"}, "action": WRITE, "resource": ARCHIVED_RECORD_2}
    assert "u-boss" in _ids(post(client, SUBJECTS, s4)["results"])
    s5 = {"subject": ADMIN_BOB, "action": WRITE, "resource": {"type": "Domain"}}
    assert "d-rec2" in _ids(post(client, RESOURCES, s5)["results"])
    s6 = {"subject": ADMIN_BOB, "resource": ARCHIVED_RECORD_2}
    assert "process" in {r["name"] for r in post(client, ACTIONS, s6)["results"]}


def test_search_pages_and_empty_results(client, scenario):
    """cert C.4.5.1-3 (limit, token, format) and C.4.6.1-2 (unknown id or type: no results)."""
    body = {"subject": {"type": "PortalUser"}, "action": READ, "resource": RECORD_1}
    first = post(client, SUBJECTS, {**body, "page": {"limit": 1}})
    assert len(first["results"]) == 1 and first["page"]["next_token"]
    rest = post(client, SUBJECTS, {**body, "page": {"token": first["page"]["next_token"]}})
    assert isinstance(rest["page"]["next_token"], str) and rest["page"]["next_token"] == ""
    assert _ids(first["results"] + rest["results"]) == _ids(post(client, SUBJECTS, body)["results"])
    unknown_id = {"subject": {"type": "PortalUser", "id": "nonexistent-user"},
                  "resource": RECORD_1}  # fmt: skip
    assert post(client, ACTIONS, unknown_id)["results"] == []
    unknown_type = {**body, "subject": {"type": "spaceship"}}
    assert post(client, SUBJECTS, unknown_type)["results"] == []


def test_discovery(client):
    """cert C.6.2-5: every endpoint listed, the identifier is the base URL used."""
    got = client.get("/.well-known/authzen-configuration", base_url="https://pdp.example.com")
    assert got.status_code == 200 and got.content_type == "application/json"
    assert got.json["policy_decision_point"] == "https://pdp.example.com"
    assert got.json["access_evaluation_endpoint"] == "https://pdp.example.com/access/v1/evaluation"


# --- 2. parity with /v1 over the decision tables ---------------------------------------------


@pytest.fixture(scope="module")
def policy_world(app: Flask) -> Iterator[FlaskClient]:
    """world.yaml, imported once through POST /v1/import; empty tables after the module."""
    delete_all_rows(app)
    client = app.test_client()
    response = client.post("/v1/import", json=copy.deepcopy(POLICY_WORLD), headers=ADMIN)
    assert response.status_code == 200, response.json
    yield client
    delete_all_rows(app)


def _ref(ref: Any) -> dict[str, str]:
    return {"type": ref.type, "id": ref.id}


def _v1_body(case: Any) -> dict[str, Any]:
    return {"actor": _ref(case.who), "action": case.action, "resource": _ref(case.what),
            "context": {"at": case.at.isoformat()}}  # fmt: skip


def _authzen_body(case: Any) -> dict[str, Any]:
    return {"subject": _ref(case.who), "action": {"name": case.action},
            "resource": _ref(case.what), "context": {"at": case.at.isoformat()}}  # fmt: skip


def _authzen_verdict(answer: dict[str, Any]) -> tuple[bool, list[str]]:
    if answer["decision"]:
        assert "context" not in answer, "an allow carries no context"
        return True, []
    return False, answer["context"]["reasons"]


# /v1 refuses an action outside the vocabulary (400, api.md); AuthZEN takes any action name and
# the engine denies it (`action_not_applicable`, or the unknown ids): those cases are compared
# with the tables' expectation instead.
IN_VOCABULARY = [c for c in CASES if c.action in {a.value for a in Action}]
OUTSIDE_VOCABULARY = [c for c in CASES if c not in IN_VOCABULARY]


def test_every_decision_table_case_decides_the_same_through_authzen_and_v1(policy_world):
    client = policy_world
    assert len(IN_VOCABULARY) > 200
    mismatches = []
    v1_batch = post(client, "/v1/authorize/batch", {"checks": [_v1_body(c) for c in IN_VOCABULARY]})
    az_batch = post(client, EVALUATIONS, {"evaluations": [_authzen_body(c) for c in IN_VOCABULARY]})
    for case, v1_b, az_b in zip(
        IN_VOCABULARY, v1_batch["results"], az_batch["evaluations"], strict=True
    ):
        v1 = post(client, "/v1/authorize", _v1_body(case))
        az = post(client, EVALUATION, _authzen_body(case))
        verdicts = {
            "/v1/authorize": (v1["allowed"], v1["reasons"]),
            "/v1/authorize/batch": (v1_b["allowed"], v1_b["reasons"]),
            "/access/v1/evaluation": _authzen_verdict(az),
            "/access/v1/evaluations": _authzen_verdict(az_b),
        }
        if len({repr(v) for v in verdicts.values()}) != 1:
            mismatches.append(f"{case.describe()}: {verdicts}")
    assert not mismatches, "AuthZEN and /v1 disagree:\n" + "\n".join(mismatches)


def test_an_action_outside_the_vocabulary_is_a_400_in_v1_and_the_tables_deny_in_authzen(
    policy_world,
):
    client = policy_world
    assert OUTSIDE_VOCABULARY
    for case in OUTSIDE_VOCABULARY:
        v1 = client.post("/v1/authorize", json=_v1_body(case), headers=CHECK)
        assert v1.status_code == 400
        az = _authzen_verdict(post(client, EVALUATION, _authzen_body(case)))
        assert az == (case.allowed, case.reasons), case.describe()


def test_the_default_context_of_a_batch_decides_like_v1(policy_world):
    """The tables' default time given once at the top level, items without context."""
    client = policy_world
    default_at = _instant(TABLES["default_at"])
    default = [c for c in IN_VOCABULARY if c.at == default_at]
    assert len(default) > 100
    body = {
        "context": {"at": TABLES["default_at"]},
        "evaluations": [
            {"subject": _ref(c.who), "action": {"name": c.action}, "resource": _ref(c.what)}
            for c in default
        ],
    }
    az = [_authzen_verdict(a) for a in post(client, EVALUATIONS, body)["evaluations"]]
    v1 = post(client, "/v1/authorize/batch", {"checks": [_v1_body(c) for c in default]})
    assert az == [(r["allowed"], r["reasons"]) for r in v1["results"]]


def _walk(client: FlaskClient, path: str, body: dict[str, Any], limit: int) -> list[Any]:
    results, token = [], ""
    while True:
        page = {"limit": limit, "token": token} if token else {"limit": limit}
        answer = post(client, path, {**body, "page": page})
        results.extend(answer["results"])
        token = answer["page"]["next_token"]
        if not token:
            return results


def _v1_walk(client: FlaskClient, path: str, body: dict[str, Any], key: str) -> list[Any]:
    results, cursor = [], None
    while True:
        answer = post(client, path, {**body, "limit": 2, "cursor": cursor})
        results.extend(answer[key])
        cursor = answer["next_cursor"]
        if cursor is None:
            return results


# (actor, action, resource type) and (action, resource) pairs over the tables' world.
SEARCH_ACTORS = ["PortalUser:u-alice", "PortalUser:u-bob", "PortalUser:u-sam",
                 "PortalUser:u-olga", "DomainUser:du-olivier"]  # fmt: skip


def _split(text: str) -> dict[str, str]:
    type_name, _, oid = text.partition(":")
    return {"type": type_name, "id": oid}


@pytest.mark.parametrize("actor", SEARCH_ACTORS)
@pytest.mark.parametrize(
    ("action", "resource_type"),
    [("open", "Domain"), ("process", "Domain"), ("access", "Administration"), ("view", "Portal")],
)
def test_resource_search_lists_what_v1_lists(policy_world, actor, action, resource_type):
    at = {"at": TABLES["default_at"]}
    az = _walk(policy_world, RESOURCES, {"subject": _split(actor), "action": {"name": action},
               "resource": {"type": resource_type}, "context": at}, 2)  # fmt: skip
    v1 = _v1_walk(policy_world, "/v1/list-resources", {"actor": _split(actor), "action": action,
                  "resource_type": resource_type, "context": at}, "ids")  # fmt: skip
    assert [r["id"] for r in az] == v1
    assert all(r["type"] == resource_type for r in az)


@pytest.mark.parametrize("resource", ["Domain:d-peeters", "Portal:p-dupont", "Domain:d-janssens"])
@pytest.mark.parametrize("action", ["open", "process", "view", "manage_users"])
@pytest.mark.parametrize("actor_type", ["PortalUser", "DomainUser"])
def test_subject_search_lists_what_v1_lists(policy_world, resource, action, actor_type):
    at = {"at": TABLES["default_at"]}
    body = {"subject": {"type": actor_type}, "action": {"name": action},
            "resource": _split(resource), "context": at}  # fmt: skip
    az = _walk(policy_world, SUBJECTS, body, 2)
    v1 = _v1_walk(policy_world, "/v1/list-actors", {"action": action, "resource": _split(resource),
                  "actor_type": actor_type, "context": at}, "actors")  # fmt: skip
    assert az == v1


@pytest.mark.parametrize("actor", SEARCH_ACTORS)
@pytest.mark.parametrize("resource", ["Domain:d-peeters", "Portal:p-dupont", "Domain:d-janssens"])
def test_action_search_lists_what_v1_lists(policy_world, actor, resource):
    at = {"at": TABLES["default_at"]}
    body = {"subject": _split(actor), "resource": _split(resource), "context": at}
    az = _walk(policy_world, ACTIONS, body, 2)
    v1 = post(policy_world, "/v1/actions", {"actor": _split(actor), "resource": _split(resource),
              "context": at})["actions"]  # fmt: skip
    assert [r["name"] for r in az] == v1


# --- 3. the decision log sees AuthZEN decisions as it sees /v1's ------------------------------


def test_authzen_decisions_and_searches_go_to_the_decision_log(client, scenario, app, monkeypatch):
    buffer = io.StringIO()
    monkeypatch.setitem(app.extensions, "decision_log", DecisionLog("all", buffer))
    post(client, EVALUATION, {"subject": BOB, "action": WRITE, "resource": RECORD_1})
    items = [{"resource": RECORD_1}, {"resource": {"type": "record", "id": "record-9"}}, {}]
    post(client, EVALUATIONS, {"subject": ALICE, "action": READ, "evaluations": items})
    post(client, RESOURCES, {"subject": ALICE, "action": READ, "resource": {"type": "Domain"}})
    lines = [json.loads(line) for line in buffer.getvalue().splitlines()]
    decisions = [line for line in lines if line["kind"] == "decision"]
    assert [(d["endpoint"], d["allowed"], d["reasons"]) for d in decisions] == [
        ("authzen/evaluation", False, ["role_missing"]),
        ("authzen/evaluations", True, []),
        ("authzen/evaluations", False, ["unknown_resource"]),
    ]
    assert decisions[0]["actor"] == BOB and decisions[0]["caller"] == "checker"
    [listing] = [line for line in lines if line["kind"] == "list"]
    assert listing["endpoint"] == "authzen/search/resource" and listing["count"] == 1
