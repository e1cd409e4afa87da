"""service/audit.py: the hash chain verifies, and any edit, deletion or forged row breaks it.

Also the read `GET /v1/audit`: filters (portal, domain, actor, since, until) and pagination.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
from decimal import Decimal

import pytest
from sqlalchemy import func, select, text

from service import audit, models
from service.authz import encode_cursor
from tests.integration.support import (
    act,
    assert_error,
    base_world,
    frozen_now,
    get,
    load,
)

ADMIN = "PortalUser:u-admin"
BOSS = "DomainUser:du-boss"

# Allowed and denied operations across two portals and several domains.
SCRIPT = [
    ("PUT", "/v1/domains/d-1/users/du-boss/roles/Backoffice", BOSS, None),
    ("PUT", "/v1/domains/d-1/users/du-ann/roles/Backoffice", BOSS, None),
    ("PUT", "/v1/domains/d-1/users/du-ann/roles/Backoffice", "DomainUser:du-ann", None),  # denied
    ("PUT", "/v1/domains/d-2/bo-access", ADMIN, {"authorized": True}),
    ("PUT", "/v1/domains/d-1/shielded", ADMIN, {"shielded": True}),
    ("PUT", "/v1/domains/d-x/shielded", "PortalUser:x-admin", {"shielded": True}),
    ("PUT", "/v1/domains/d-1/plan", BOSS, {"plan": "Large"}),
    ("PUT", "/v1/domains/d-1/staff/Backup", ADMIN, {"user_id": "u-de"}),
    ("POST", "/v1/domains/d-1/users", BOSS, {"id": "du-n", "email": "n@c.be", "name": "N"}),
    ("DELETE", "/v1/portals/p-1/users/u-admin", ADMIN, None),  # denied: self_target
]


@pytest.fixture
def world(client, clean_db):
    load(client, base_world())


@pytest.fixture
def events(client, world):
    """Run the script; return the audit event ids it wrote, in order."""
    ids = []
    for method, path, actor, body in SCRIPT:
        response = act(client, method, path, actor, body)
        assert response.status_code in (200, 201, 403), response.json
        if response.status_code == 403:
            ids.append(response.json["error"]["details"]["audit_event_id"])
        else:
            ids.append(response.json["audit_event_id"])
    return ids


def fresh(session):
    session.rollback()
    session.expire_all()
    return session


def event_ids(session):
    return list(session.scalars(select(models.AuditEvent.id).order_by(models.AuditEvent.id)))


# --- the chain -------------------------------------------------------------------------------


def test_the_chain_verifies_after_several_operations(db_session, events):
    result = audit.verify(fresh(db_session))
    assert result.ok, result
    assert result.checked == len(SCRIPT) == len(events)
    assert result.first_broken_id is None
    assert event_ids(db_session) == sorted(events)


def test_an_empty_chain_verifies(db_session, clean_db):
    assert audit.verify(db_session) == audit.Verification(True, 0)


def test_each_event_links_to_the_one_before(db_session, events):
    rows = list(fresh(db_session).scalars(select(models.AuditEvent).order_by(models.AuditEvent.id)))
    assert rows[0].prev_hash == audit.GENESIS
    for previous, event in itertools.pairwise(rows):
        assert event.prev_hash == previous.hash
        assert event.hash == audit.event_hash(previous.hash, event)


TAMPERED = [
    ("actor", "'PortalUser:mallory'"),
    ("api_key", "'someone-else'"),
    ("operation", "'set_shielded'"),
    ("outcome", "'denied'"),
    ("reasons", "'[\"not_member\"]'"),
    ("target_type", "'Portal'"),
    ("target_id", "'d-2'"),
    ("portal_id", "'p-2'"),
    ("domain_id", "'d-2'"),
    ("domain_id", "NULL"),
    ("before", "'null'"),
    ("after", "'{}'"),
    ("run_rate_change", "'null'"),
    ("request_id", "'forged'"),
    ("hash", "'" + "f" * 64 + "'"),
]


@pytest.mark.parametrize(("column", "value"), TAMPERED, ids=[f"{c}={v}" for c, v in TAMPERED])
def test_changing_any_column_breaks_the_chain_at_that_event(db_session, events, column, value):
    target = events[1]  # the second grant: it has a domain, a before, an after and a price
    session = fresh(db_session)
    session.execute(
        text(f"UPDATE audit_events SET {column} = {value} WHERE id = :id"), {"id": target}
    )
    session.commit()
    result = audit.verify(session)
    assert not result.ok
    assert result.first_broken_id == target
    assert result.checked == events.index(target)


def test_changing_the_time_breaks_the_chain(db_session, events):
    target = events[3]
    session = fresh(db_session)
    event = session.get(models.AuditEvent, target)
    event.at = event.at + dt.timedelta(microseconds=1)
    session.commit()
    result = audit.verify(fresh(session))
    assert (result.ok, result.first_broken_id) == (False, target)
    assert result.problem == "contents do not match the hash"


def test_relinking_an_event_breaks_the_chain_at_that_event(db_session, events):
    target = events[4]
    session = fresh(db_session)
    session.execute(
        text("UPDATE audit_events SET prev_hash = :h WHERE id = :id"),
        {"h": audit.GENESIS, "id": target},
    )
    session.commit()
    result = audit.verify(session)
    assert (result.ok, result.first_broken_id) == (False, target)
    assert result.problem == "previous-hash link broken"


def test_deleting_a_middle_event_breaks_the_chain_at_the_next_one(db_session, events):
    session = fresh(db_session)
    session.execute(text("DELETE FROM audit_events WHERE id = :id"), {"id": events[5]})
    session.commit()
    result = audit.verify(session)
    assert (result.ok, result.first_broken_id) == (False, events[6])
    assert result.problem == "previous-hash link broken"


def test_deleting_the_first_event_breaks_the_chain_at_the_next_one(db_session, events):
    session = fresh(db_session)
    session.execute(text("DELETE FROM audit_events WHERE id = :id"), {"id": events[0]})
    session.commit()
    assert audit.verify(session).first_broken_id == events[1]


def _forge(session, copy_of: int, new_id: int, prev_hash: str, *, rehash: bool) -> None:
    original = session.get(models.AuditEvent, copy_of)
    forged = models.AuditEvent(
        id=new_id,
        at=original.at,
        actor="PortalUser:mallory",
        api_key=original.api_key,
        operation="set_shielded",
        outcome="allowed",
        reasons="[]",
        target_type="Domain",
        target_id="d-1",
        portal_id="p-1",
        domain_id="d-1",
        before="null",
        after='{"domain":{"shielded":false}}',
        run_rate_change="null",
        request_id="forged",
        prev_hash=prev_hash,
        hash="0" * 63 + "1",
    )
    if rehash:
        forged.hash = audit.event_hash(prev_hash, forged)
    session.add(forged)
    session.commit()


def test_a_forged_event_appended_with_a_made_up_hash_is_named(db_session, events):
    session = fresh(db_session)
    last = session.get(models.AuditEvent, events[-1])
    forged_id = events[-1] + 1
    _forge(session, events[-1], forged_id, last.hash, rehash=False)
    result = audit.verify(fresh(session))
    assert (result.ok, result.first_broken_id) == (False, forged_id)


def test_a_forged_event_claiming_an_older_link_is_named(db_session, events):
    session = fresh(db_session)
    older = session.get(models.AuditEvent, events[2])
    forged_id = events[-1] + 1
    _forge(session, events[2], forged_id, older.hash, rehash=True)
    result = audit.verify(fresh(session))
    assert (result.ok, result.first_broken_id) == (False, forged_id)
    assert result.problem == "previous-hash link broken"


def test_a_correctly_hashed_event_slipped_into_the_middle_breaks_the_next_link(db_session, events):
    session = fresh(db_session)
    cut = events[3]
    # Make room after `cut`, then slip a well-formed event in, chained to `cut`.
    session.execute(text("UPDATE audit_events SET id = id + 1000 WHERE id > :cut"), {"cut": cut})
    session.commit()
    previous = session.get(models.AuditEvent, cut)
    _forge(session, cut, cut + 1, previous.hash, rehash=True)
    result = audit.verify(fresh(session))
    assert not result.ok
    assert result.first_broken_id == events[4] + 1000  # the forged event itself links fine
    assert result.checked == events.index(cut) + 2


# --- append and the canonical form -----------------------------------------------------------


def test_append_chains_in_the_callers_transaction(db_session, clean_db):
    at = dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    first = audit.append(
        db_session,
        actor="PortalUser:u-1",
        operation="op",
        outcome="allowed",
        target_type="Portal",
        target_id="p-1",
        at=at,
        run_rate_change={"amount": Decimal("25.00")},
        after={"b": 1, "a": [2, 1]},
    )
    second = audit.append(
        db_session,
        actor="PortalUser:u-1",
        operation="op",
        outcome="denied",
        reasons=["not_member"],
        target_type="Portal",
        target_id="p-1",
        at=at,
    )
    assert first.prev_hash == audit.GENESIS and second.prev_hash == first.hash
    assert first.at == at and first.at.utcoffset() == dt.timedelta(0)
    assert first.run_rate_change == '{"amount":"25.00"}'
    assert first.after == '{"a":[2,1],"b":1}'
    db_session.rollback()  # nothing was committed: the caller's transaction holds it all
    assert db_session.scalar(select(func.count()).select_from(models.AuditEvent)) == 0


def test_the_hash_does_not_depend_on_the_time_zone_the_time_was_given_in(db_session, clean_db):
    utc = dt.datetime(2024, 5, 1, 10, 0, tzinfo=dt.UTC)
    kwargs = {
        "actor": "a",
        "operation": "o",
        "outcome": "allowed",
        "target_type": "Portal",
        "target_id": "p",
    }
    one = audit.append(db_session, at=utc, **kwargs)
    db_session.rollback()
    other = audit.append(
        db_session, at=utc.astimezone(dt.timezone(dt.timedelta(hours=-5))), **kwargs
    )
    db_session.rollback()
    assert one.hash == other.hash


def test_canonical_json_is_sorted_compact_and_exact():
    value = {"b": Decimal("7.50"), "a": {"z": None, "y": [dt.date(2024, 1, 31)]}, "é": "ü"}
    assert audit.canonical(value) == '{"a":{"y":["2024-01-31"],"z":null},"b":"7.50","é":"ü"}'


# --- GET /v1/audit ---------------------------------------------------------------------------


def audit_page(client, **query):
    return get(client, "/v1/audit", **query)


def all_events(client, **query):
    seen, cursor = [], None
    pages = 0
    while True:
        page = audit_page(client, **query, **({"cursor": cursor} if cursor else {}))
        seen += page["events"]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            return seen, pages


def test_audit_read_answers_every_event_once_in_order(client, events):
    everything = audit_page(client)["events"]
    assert [e["id"] for e in everything] == events
    paged, pages = all_events(client, limit=3)
    assert [e["id"] for e in paged] == events
    assert pages == 4  # 3 + 3 + 3 + 1
    one_by_one, pages = all_events(client, limit=1)
    assert [e["id"] for e in one_by_one] == events and pages == len(events)
    exact, pages = all_events(client, limit=len(events))
    assert [e["id"] for e in exact] == events and pages == 1


def test_audit_events_carry_the_chain_and_the_decision(client, events):
    denied = [e for e in audit_page(client)["events"] if e["outcome"] == "denied"]
    assert [(e["actor"], e["reasons"]) for e in denied] == [
        ("DomainUser:du-ann", ["not_management"]),
        (ADMIN, ["self_target"]),
    ]
    for event in audit_page(client)["events"]:
        assert len(event["hash"]) == len(event["prev_hash"]) == 64
        assert dt.datetime.fromisoformat(event["at"]).tzinfo is not None
        assert event["api_key"] == "admin"


def test_audit_filtered_by_portal(client, events):
    p1, _ = all_events(client, portal_id="p-1", limit=2)
    p2, _ = all_events(client, portal_id="p-2", limit=2)
    assert {e["portal_id"] for e in p1} == {"p-1"} and len(p1) == len(events) - 1
    assert [e["target"] for e in p2] == [{"type": "Domain", "id": "d-x"}]
    assert audit_page(client, portal_id="p-9")["events"] == []


def test_audit_filtered_by_actor(client, events):
    boss, _ = all_events(client, actor=BOSS, limit=2)
    assert [e["operation"] for e in boss] == [
        "grant_role",
        "grant_role",
        "change_plan",
        "add_domain_user",
    ]
    assert {e["actor"] for e in boss} == {BOSS}


def test_audit_filtered_by_domain_names_priced_operations(client, events):
    d1 = [e["operation"] for e in all_events(client, domain_id="d-1", limit=2)[0]]
    assert {"grant_role", "change_plan", "add_domain_user"} <= set(d1)
    d2 = [e["operation"] for e in audit_page(client, domain_id="d-2")["events"]]
    assert d2 == ["authorize_bo_access"]


def test_audit_filtered_by_domain_finds_every_operation_on_it(client, events):
    """Regression: staff and shielding events were filed with domain_id NULL."""
    d1 = [e["operation"] for e in all_events(client, domain_id="d-1", limit=2)[0]]
    assert "set_shielded" in d1
    assert "assign_staff" in d1


def test_audit_filtered_by_time(client, world, monkeypatch):
    times = [
        dt.datetime(2024, 1, 10, 9, 0, tzinfo=dt.UTC),
        dt.datetime(2024, 2, 1, 0, 0, tzinfo=dt.UTC),
        dt.datetime(2024, 3, 1, 0, 0, tzinfo=dt.UTC),
    ]
    ids = []
    for n, when in enumerate(times):
        with frozen_now(monkeypatch, when):
            response = act(client, "PUT", "/v1/domains/d-1/shielded", ADMIN, {"shielded": n != 1})
        ids.append(response.json["audit_event_id"])

    def between(**query):
        return [e["id"] for e in all_events(client, limit=1, **query)[0]]

    assert between(since="2024-02-01T00:00:00+00:00") == ids[1:]  # since is inclusive
    assert between(since="2024-02-01T01:00:00+01:00") == ids[1:]  # the same instant
    assert between(since="2024-02-01T00:00:00.000001+00:00") == ids[2:]
    assert between(until="2024-03-01T00:00:00+00:00") == ids[:2]  # until is exclusive
    assert between(since="2024-01-31T19:00:00-05:00", until="2024-02-29T00:00:00+01:00") == [ids[1]]
    assert between(since="2024-02-01T00:00:00+00:00", actor=ADMIN) == ids[1:]  # filters combine
    assert between(since="2024-02-01T00:00:00+00:00", actor=BOSS) == []
    assert between(until="2024-01-01T00:00:00+00:00") == []
    event = audit_page(client)["events"][0]
    assert dt.datetime.fromisoformat(event["at"]) == times[0]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "1001"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"limit": "\u00b2"}, "limit"),  # "²" is a digit to str.isdigit, not to int()
        ({"limit": "\u0665"}, "limit"),  # an Arabic-Indic five: int() takes it, we do not
        ({"cursor": "not-a-cursor"}, "cursor"),
        ({"cursor": encode_cursor("99999999999999999999999")}, "cursor"),  # past any BIGINT
        ({"cursor": encode_cursor("9223372036854775808")}, "cursor"),  # 2**63
        ({"cursor": encode_cursor("ab")}, "cursor"),
        ({"since": "2024-01-01T00:00:00"}, "since"),
        ({"until": "tomorrow"}, "until"),
        ({"actor": "\x00"}, "actor"),  # PostgreSQL refuses NUL in text: not a 500
        ({"actor": "PortalUser"}, "actor"),
        ({"actor": "Robot:u-1"}, "actor"),
        ({"actor": "PortalUser:u-1\n"}, "actor"),
    ],
)
def test_invalid_audit_queries_are_400(client, world, query, field):
    response = client.get(
        "/v1/audit", query_string=query, headers={"Authorization": "Bearer admin-secret"}
    )
    error = assert_error(response, 400, "invalid_request")
    assert field in json.dumps(error["details"])
