"""The reads beside the governed operations: portal, domain, users, billing; their errors."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.integration.support import ADMIN, assert_error, base_world, get, load


@pytest.fixture
def world(client, clean_db):
    load(client, base_world())


def test_portal_read_lists_its_users_in_the_import_format(client, world):
    body = get(client, "/v1/portals/p-1")
    assert body["portal"] == {"id": "p-1", "name": "Fiduciaire Dupont", "country": "BE"}
    ids = [u["id"] for u in body["users"]]
    assert ids == sorted(ids) and "x-admin" not in ids
    assert set(body["users"][0]) == {
        "id",
        "portal_id",
        "email",
        "name",
        "role",
        "scope",
        "created_at",
        "converted_at",
    }


def test_domain_read_has_the_import_fields_staff_and_administrations(client, world):
    body = get(client, "/v1/domains/d-1")
    assert {
        "id",
        "portal_id",
        "name",
        "plan",
        "pricing_model",
        "shielded",
        "bo_access_authorized",
        "pending_plan",
        "pending_plan_from",
        "guest_discount",
    } <= set(body)
    assert body["staff"] == [{"domain_id": "d-1", "user_id": "u-bo", "function": "Responsible"}]
    assert body["administrations"] == [
        {"id": "a-1", "domain_id": "d-1", "name": "Bakkerij Peeters BV"}
    ]


def test_domain_users_read_is_the_import_format(client, world):
    users = get(client, "/v1/domains/d-1/users")["users"]
    assert [u["id"] for u in users] == ["du-ann", "du-boss"]
    assert users[1] == {
        "id": "du-boss",
        "domain_id": "d-1",
        "email": "du-boss@client.example",
        "name": "Du-Boss",
        "roles": ["Management"],
        "is_owner": True,
        "administrations": [],
    }


def test_billing_defaults_to_now(client, world):
    before = dt.datetime.now(dt.UTC)
    body = get(client, "/v1/domains/d-1/billing")
    assert before <= dt.datetime.fromisoformat(body["at"]) <= dt.datetime.now(dt.UTC)
    assert body["total"] == "57.50"  # Medium 50.00 + one extra user 7.50


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/v1/portals/p-9", 404),
        ("/v1/portals/p!9", 400),
        ("/v1/domains/d-9", 404),
        ("/v1/domains/d!9", 400),
        ("/v1/domains/d-9/users", 404),
        ("/v1/domains/d-9/ledger", 404),
        ("/v1/domains/d-9/billing", 404),
        ("/v1/portals/p-9/guest-report", 404),
        ("/v1/portals/p!9/guest-report", 400),
        ("/v1/domains/d-1%0A", 400),  # an id ends where its characters do: not before a newline
        ("/v1/portals/p-1%0A/guest-report", 400),
    ],
)
def test_reads_of_unknown_or_malformed_ids(client, world, path, status):
    code = "not_found" if status == 404 else "invalid_request"
    assert_error(client.get(path, headers=ADMIN), status, code)


@pytest.mark.parametrize(
    "path", ["/v1/domains/d-1/billing?at=", "/v1/audit?since=", "/v1/audit?until="]
)
@pytest.mark.parametrize(
    "at", ["9999-12-31T23:59:59-23:59", "0001-01-01T00:30:00%2B01:00"], ids=["late", "early"]
)
def test_times_at_the_edge_of_the_calendar_are_not_a_500(client, world, path, at):
    response = client.get(path + at, headers=ADMIN)
    assert response.status_code in (200, 400), response.json


def test_billing_in_the_last_half_hour_of_year_9999_utc_is_not_a_500(client, world):
    response = client.get(
        "/v1/domains/d-1/billing", query_string={"at": "9999-12-31T23:30:00+00:00"}, headers=ADMIN
    )
    assert response.status_code in (200, 400), response.json
