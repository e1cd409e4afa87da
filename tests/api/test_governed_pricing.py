"""The FAQ's prices through the API: answers, the ledger and the billing read agree.

FAQ (seed/faq-acces-back-office-fr.txt) Q3-Q5 and Q9; domain.md section 3.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from service import pricing
from tests.integration.support import (
    BRUSSELS,
    act,
    assert_denied,
    base_world,
    domain,
    domain_user,
    get,
    load,
    money_change,
    portal_user,
    today_brussels,
)

ADMIN = "PortalUser:u-admin"
BOSS = "DomainUser:du-boss"


@pytest.fixture
def world(client, clean_db):
    load(client, base_world())


@pytest.fixture
def holders_world(client, clean_db):
    """d-1 (Medium, authorized): du-ann and du-bob hold Backoffice, one seat billed."""
    world = base_world()
    world["domain_users"][1]["roles"] = ["Backoffice", "Sales"]
    world["domain_users"].append(domain_user("du-bob", "d-1", ["Backoffice"]))
    load(client, world)


def billing(client, domain_id, at=None):
    query = {} if at is None else {"at": at.isoformat()}
    return get(client, f"/v1/domains/{domain_id}/billing", **query)


def ledger_entries(client, domain_id):
    return get(client, f"/v1/domains/{domain_id}/ledger")["entries"]


def midnight(day: dt.date) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, tzinfo=BRUSSELS)


# --- Back Office seats (Q4, Q5) --------------------------------------------------------------


def test_faq_first_backoffice_user_is_included(client, world):
    response = act(client, "PUT", "/v1/domains/d-1/users/du-boss/roles/Backoffice", BOSS)
    assert response.status_code == 200, response.json
    assert response.json["run_rate_change"] == {
        "amount": "0.00",
        "currency": "EUR",
        "per": "month",
        "items": [{"item": "backoffice_seat_included", "amount": "0.00"}],
    }
    [entry] = ledger_entries(client, "d-1")
    assert (entry["item"], entry["amount"], entry["currency"], entry["actor"]) == (
        "backoffice_seat_included",
        "0.00",
        "EUR",
        BOSS,
    )
    assert entry["audit_event_id"] == response.json["audit_event_id"]
    assert billing(client, "d-1")["backoffice_seats"] == {
        "holders": 1,
        "included": 1,
        "billed": 0,
        "amount": "0.00",
    }


def test_faq_second_backoffice_user_costs_25_a_month(client, world):
    act(client, "PUT", "/v1/domains/d-1/users/du-boss/roles/Backoffice", BOSS)
    response = act(client, "PUT", "/v1/domains/d-1/users/du-ann/roles/Backoffice", BOSS)
    assert response.status_code == 200, response.json
    assert response.json["run_rate_change"] == money_change("25.00", ("backoffice_seat", "25.00"))
    entries = ledger_entries(client, "d-1")
    assert [(e["item"], e["amount"]) for e in entries] == [
        ("backoffice_seat_included", "0.00"),
        ("backoffice_seat", "25.00"),
    ]
    assert billing(client, "d-1") | {"at": None} == {
        "at": None,
        "domain_id": "d-1",
        "plan": "Medium",
        "currency": "EUR",
        "base": {"list": "50.00", "discount_percent": 0, "amount": "50.00"},
        "backoffice_seats": {"holders": 2, "included": 1, "billed": 1, "amount": "25.00"},
        "extra_users": {"users": 2, "included": 1, "billed": 1, "amount": "7.50"},
        "total": "82.50",
    }


def test_a_third_backoffice_user_costs_another_25(client, holders_world):
    response = act(client, "PUT", "/v1/domains/d-1/users/du-boss/roles/Backoffice", BOSS)
    assert response.json["run_rate_change"] == money_change("25.00", ("backoffice_seat", "25.00"))
    assert billing(client, "d-1")["backoffice_seats"]["amount"] == "50.00"


# --- extra users (Q9) ------------------------------------------------------------------------


def test_faq_extra_user_on_medium_costs_7_50_a_month(client, world):
    body = {"id": "du-new", "email": "e@client.example", "name": "Eva", "roles": ["Sales"]}
    response = act(client, "POST", "/v1/domains/d-1/users", BOSS, body)
    assert response.status_code == 201, response.json
    assert response.json["run_rate_change"] == money_change("7.50", ("extra_user", "7.50"))
    assert [(e["item"], e["amount"]) for e in ledger_entries(client, "d-1")] == [
        ("extra_user", "7.50")
    ]
    assert billing(client, "d-1")["extra_users"] == {
        "users": 3,
        "included": 1,
        "billed": 2,
        "amount": "15.00",
    }


@pytest.mark.parametrize("plan", ["Trial", "Minimal", "Small"])
def test_faq_no_extra_user_below_medium(client, clean_db, plan):
    world = base_world()
    world["domains"][1]["plan"] = plan  # d-2, whose only user is du-s
    load(client, world)
    before = billing(client, "d-2")
    body = {"id": "du-new", "email": "e@client.example", "name": "Eva"}
    response = act(client, "POST", "/v1/domains/d-2/users", "DomainUser:du-s", body)
    assert_denied(response, ["extra_users_not_in_plan"])
    assert ledger_entries(client, "d-2") == []
    assert billing(client, "d-2") | {"at": None} == before | {"at": None}


# --- dormant roles (Decision, domain.md section 2) -------------------------------------------


def test_revoking_back_office_access_makes_roles_dormant_and_free(client, holders_world):
    assert billing(client, "d-1")["backoffice_seats"]["billed"] == 1
    response = act(client, "PUT", "/v1/domains/d-1/bo-access", ADMIN, {"authorized": False})
    assert response.status_code == 200, response.json
    change = response.json["run_rate_change"]
    assert Decimal(change["amount"]) < 0
    assert change == money_change("-25.00", ("backoffice_seat", "-25.00"))
    assert billing(client, "d-1")["backoffice_seats"] == {
        "holders": 0,
        "included": 0,
        "billed": 0,
        "amount": "0.00",
    }
    # The roles stay assigned (dormant) ...
    users = get(client, "/v1/domains/d-1/users")["users"]
    assert sum("Backoffice" in u["roles"] for u in users) == 2
    [entry] = ledger_entries(client, "d-1")
    assert (entry["item"], entry["amount"], entry["actor"], entry["operation"]) == (
        "backoffice_seat",
        "-25.00",
        ADMIN,
        "revoke_bo_access",
    )
    # ... and cost again once authorized again.
    response = act(client, "PUT", "/v1/domains/d-1/bo-access", ADMIN, {"authorized": True})
    assert response.json["run_rate_change"] == money_change("25.00", ("backoffice_seat", "25.00"))
    assert billing(client, "d-1")["backoffice_seats"]["holders"] == 2


def test_holders_on_a_minimal_plan_are_dormant(client, clean_db):
    world = base_world()
    world["domains"][2]["bo_access_authorized"] = True  # d-min, Minimal
    world["domain_users"][3]["roles"] = ["Backoffice", "Management"]  # du-m, its owner
    world["domain_users"].append(domain_user("du-m2", "d-min", ["Backoffice"]))
    load(client, world)
    seats = billing(client, "d-min")["backoffice_seats"]
    assert (seats["holders"], seats["billed"], seats["amount"]) == (0, 0, "0.00")


def test_a_downgrade_to_minimal_makes_holders_dormant_from_its_date(client, holders_world):
    response = act(client, "PUT", "/v1/domains/d-1/plan", BOSS, {"plan": "Minimal"})
    assert response.status_code == 200, response.json
    first = pricing.first_of_next_month(today_brussels())
    assert response.json["effective_on"] == first.isoformat()
    # From that date: no base price, and the two holders dormant (the billed seat goes).
    assert response.json["run_rate_change"] == {
        **money_change("-75.00", ("base", "-50.00"), ("backoffice_seat", "-25.00")),
        "effective_on": first.isoformat(),
    }
    before = billing(client, "d-1", midnight(first) - dt.timedelta(seconds=1))
    after = billing(client, "d-1", midnight(first))
    assert (before["plan"], before["base"]["amount"], before["backoffice_seats"]["holders"]) == (
        "Medium",
        "50.00",
        2,
    )
    assert (after["plan"], after["base"]["amount"], after["backoffice_seats"]["holders"]) == (
        "Minimal",
        "0.00",
        0,
    )
    assert after["total"] == after["extra_users"]["amount"] == "15.00"  # 3 users, 2 extra


# --- downgrades (D10) ------------------------------------------------------------------------


def test_a_downgrade_takes_effect_on_the_first_of_next_month_in_brussels(client, world):
    response = act(client, "PUT", "/v1/domains/d-1/plan", BOSS, {"plan": "Small"})
    first = pricing.first_of_next_month(today_brussels())
    assert response.json["effective_on"] == first.isoformat()
    start = midnight(first)
    assert billing(client, "d-1")["plan"] == "Medium"
    assert billing(client, "d-1", start - dt.timedelta(seconds=1))["base"]["amount"] == "50.00"
    assert billing(client, "d-1", start)["base"]["amount"] == "30.00"
    # The same instants in UTC: the Brussels date decides, not the UTC one.
    utc = start.astimezone(dt.UTC)
    assert utc.date() < first
    assert billing(client, "d-1", utc)["plan"] == "Small"


def test_billing_needs_a_time_with_an_offset(client, world):
    for bad in ["2024-05-01T00:00:00", "yesterday", "2024-13-01T00:00:00+02:00"]:
        response = client.get(
            "/v1/domains/d-1/billing",
            query_string={"at": bad},
            headers={"Authorization": "Bearer admin-secret"},
        )
        assert response.status_code == 400, bad
        assert "at" in response.json["error"]["details"]["query"]
    response = client.get(
        "/v1/domains/d-9/billing", headers={"Authorization": "Bearer admin-secret"}
    )
    assert response.status_code == 404


# --- the converted guest's discount (Q3, R5, R7) ---------------------------------------------


@pytest.fixture
def guest_world(client, clean_db):
    """A legacy guest Responsible on d-g, a Minimal domain whose owner is du-g."""
    load(
        client,
        {
            "portals": [{"id": "p-1", "name": "Fiduciaire Dupont"}],
            "portal_users": [
                portal_user("u-admin", "p-1", "PortalAdministrator"),
                portal_user("u-guest", "p-1", "PortalGuest"),
            ],
            "domains": [domain("d-g", "p-1", "Minimal", authorized=False)],
            "staff": [{"domain_id": "d-g", "user_id": "u-guest", "function": "Responsible"}],
            "domain_users": [domain_user("du-g", "d-g", ["Management"], owner=True)],
        },
    )


def test_faq_converted_guest_discount_is_on_the_base_price_only(client, guest_world):
    converted = act(client, "POST", "/v1/portals/p-1/guest-conversion", ADMIN, {"dry_run": False})
    assert converted.status_code == 200, converted.json
    entitlement = get(client, "/v1/domains/d-g")["guest_discount"]
    assert entitlement == {"percent": 50, "months": 24, "starts_on": None}

    # The entrepreneur activates Medium: the discount starts today, on the base only.
    response = act(client, "PUT", "/v1/domains/d-g/plan", "DomainUser:du-g", {"plan": "Medium"})
    assert response.status_code == 200, response.json
    today = today_brussels()
    assert response.json["domain"]["guest_discount"]["starts_on"] == today.isoformat()
    change = dict(response.json["run_rate_change"])
    # The discount's end, 24 months on, is already scheduled: the base goes to full price then.
    ends = pricing.add_months(today, 24).isoformat()
    assert change.pop("then") == [
        {**money_change("25.00", ("base", "25.00")), "effective_on": ends}
    ]
    assert change == money_change("25.00", ("base", "25.00"), ("backoffice_seat_included", "0.00"))
    # A second Back Office user and the extra users stay at full price.
    response = act(client, "PUT", "/v1/domains/d-g/users/du-g/roles/Backoffice", "DomainUser:du-g")
    assert response.json["run_rate_change"] == money_change("25.00", ("backoffice_seat", "25.00"))
    now = billing(client, "d-g")
    assert now["base"] == {"list": "50.00", "discount_percent": 50, "amount": "25.00"}
    assert now["backoffice_seats"] == {"holders": 2, "included": 1, "billed": 1, "amount": "25.00"}
    assert now["extra_users"] == {"users": 2, "included": 1, "billed": 1, "amount": "7.50"}
    assert now["total"] == "57.50"


def test_faq_converted_guest_discount_ends_after_24_months(client, guest_world):
    act(client, "POST", "/v1/portals/p-1/guest-conversion", ADMIN, {"dry_run": False})
    act(client, "PUT", "/v1/domains/d-g/plan", "DomainUser:du-g", {"plan": "Small"})
    starts_on = dt.date.fromisoformat(get(client, "/v1/domains/d-g")["guest_discount"]["starts_on"])
    end = midnight(pricing.add_months(starts_on, 24))
    last = billing(client, "d-g", end - dt.timedelta(seconds=1))
    over = billing(client, "d-g", end)
    assert last["base"] == {"list": "30.00", "discount_percent": 50, "amount": "15.00"}
    assert over["base"] == {"list": "30.00", "discount_percent": 0, "amount": "30.00"}
    assert Decimal(over["total"]) - Decimal(last["total"]) == Decimal("15.00")
    before_start = billing(client, "d-g", midnight(starts_on) - dt.timedelta(seconds=1))
    assert before_start["base"]["discount_percent"] == 0  # Minimal then, and not started


def test_no_discount_when_the_guests_domain_already_has_an_eligible_plan(client, world):
    response = act(client, "POST", "/v1/portals/p-1/guest-conversion", ADMIN, {"dry_run": False})
    assert response.status_code == 200, response.json
    assert get(client, "/v1/domains/d-2")["guest_discount"] is None  # d-2 is Small


# --- the ledger adds up ----------------------------------------------------------------------


def test_the_ledger_sums_to_the_run_rate_change_and_names_who_and_when(client, world):
    initial = Decimal(billing(client, "d-1")["total"])
    steps = [
        ("PUT", "/v1/domains/d-1/users/du-boss/roles/Backoffice", BOSS, None),
        ("PUT", "/v1/domains/d-1/users/du-ann/roles/Backoffice", BOSS, None),
        (
            "POST",
            "/v1/domains/d-1/users",
            BOSS,
            {"id": "du-c", "email": "c@c.be", "name": "C", "roles": ["Backoffice"]},
        ),
        ("PUT", "/v1/domains/d-1/plan", BOSS, {"plan": "Unlimited"}),
        ("PUT", "/v1/domains/d-1/bo-access", ADMIN, {"authorized": False}),
        ("PUT", "/v1/domains/d-1/bo-access", ADMIN, {"authorized": True}),
        ("DELETE", "/v1/domains/d-1/users/du-ann", BOSS, None),
        ("DELETE", "/v1/domains/d-1/users/du-c/roles/Backoffice", BOSS, None),
    ]
    answered = Decimal("0.00")
    started = dt.datetime.now(dt.UTC)
    for method, path, actor, body in steps:
        response = act(client, method, path, actor, body)
        assert response.status_code in (200, 201), (path, response.json)
        change = response.json["run_rate_change"]
        assert set(change) == {"amount", "currency", "per", "items"}
        assert Decimal(change["amount"]) == sum(Decimal(i["amount"]) for i in change["items"])
        answered += Decimal(change["amount"])
    entries = ledger_entries(client, "d-1")
    final = Decimal(billing(client, "d-1")["total"])
    assert sum(Decimal(e["amount"]) for e in entries) == answered == final - initial
    for entry in entries:
        assert entry["domain_id"] == "d-1" and entry["currency"] == "EUR"
        assert entry["actor"] in {BOSS, ADMIN}
        at = dt.datetime.fromisoformat(entry["at"])
        assert at.tzinfo is not None and started <= at <= dt.datetime.now(dt.UTC)
        assert isinstance(entry["audit_event_id"], int)


def test_the_ledger_pages_until_next_cursor_is_null(client, world):
    for n in range(5):
        body = {"id": f"du-{n}", "email": f"{n}@c.be", "name": f"N{n}"}
        assert act(client, "POST", "/v1/domains/d-1/users", BOSS, body).status_code == 201
    seen, cursor = [], None
    while True:
        query = {"limit": 2} if cursor is None else {"limit": 2, "cursor": cursor}
        page = get(client, "/v1/domains/d-1/ledger", **query)
        seen += [e["id"] for e in page["entries"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 5 and seen == sorted(seen)


def test_a_downgrade_is_in_the_ledger_for_its_date(client, world):
    """Regression: a downgrade was neither answered nor ledgered (it was priced at `now`)."""
    initial = Decimal(billing(client, "d-1")["total"])
    response = act(client, "PUT", "/v1/domains/d-1/plan", BOSS, {"plan": "Small"})
    assert response.status_code == 200
    first = pricing.first_of_next_month(today_brussels())
    later = Decimal(billing(client, "d-1", midnight(first))["total"])
    assert later - initial == Decimal("-20.00")
    booked = sum(Decimal(e["amount"]) for e in ledger_entries(client, "d-1"))
    assert booked == later - initial


@pytest.mark.parametrize(
    "plans",
    [
        ["Small"],
        ["Large"],
        ["Large", "Small"],
        ["Small", "Minimal"],
        ["Small", "Medium"],  # an upgrade replaces the pending downgrade
        ["Small", "Large"],
        ["Minimal", "Unlimited"],
    ],
    ids="-".join,
)
def test_the_ledger_up_to_any_date_adds_up_to_the_billing_at_that_date(
    client, holders_world, plans
):
    """Read up to a date, the ledger is what the plan changes did to the run-rate by then."""
    soon = dt.datetime.now(BRUSSELS) + dt.timedelta(minutes=1)  # after the changes below
    first = midnight(pricing.first_of_next_month(today_brussels()))
    dates = [first - dt.timedelta(seconds=1), first, first + dt.timedelta(days=40)]
    if soon < dates[0]:
        dates.insert(0, soon)
    initial = {d: Decimal(billing(client, "d-1", d)["total"]) for d in dates}
    for plan in plans:
        response = act(client, "PUT", "/v1/domains/d-1/plan", BOSS, {"plan": plan})
        assert response.status_code == 200, response.json
    entries = ledger_entries(client, "d-1")
    for day in dates:
        booked = sum(
            (Decimal(e["amount"]) for e in entries if dt.datetime.fromisoformat(e["at"]) <= day),
            Decimal("0.00"),
        )
        assert booked == Decimal(billing(client, "d-1", day)["total"]) - initial[day], day


def test_the_ledger_adds_up_at_every_date_through_a_converted_guests_discount(client, guest_world):
    """After each step, up to any date (discount start, downgrade, discount end, later), the
    ledger is exactly what the governed changes did to that date's run-rate."""
    today = today_brussels()
    first = midnight(pricing.first_of_next_month(today))
    end = midnight(pricing.add_months(today, 24))
    dates = [
        first - dt.timedelta(seconds=1),
        first,
        end - dt.timedelta(seconds=1),
        end,
        end + dt.timedelta(days=40),
    ]
    soon = dt.datetime.now(BRUSSELS) + dt.timedelta(minutes=2)
    if soon < dates[0]:
        dates.insert(0, soon)
    initial = {d: Decimal(billing(client, "d-g", d)["total"]) for d in dates}
    g, admin = "DomainUser:du-g", ADMIN
    extra = {"id": "du-extra", "email": "x@client.example", "name": "X"}
    steps = [
        ("POST", "/v1/portals/p-1/guest-conversion", admin, {"dry_run": False}),
        ("PUT", "/v1/domains/d-g/plan", g, {"plan": "Medium"}),  # the discount starts
        ("PUT", "/v1/domains/d-g/users/du-g/roles/Backoffice", g, None),
        ("PUT", "/v1/domains/d-g/plan", g, {"plan": "Large"}),  # upgrade inside the discount
        ("POST", "/v1/domains/d-g/users", g, extra),
        ("PUT", "/v1/domains/d-g/plan", g, {"plan": "Small"}),  # downgrade next month
        ("PUT", "/v1/domains/d-g/bo-access", admin, {"authorized": False}),
        ("DELETE", "/v1/domains/d-g/users/du-extra", g, None),
        ("PUT", "/v1/domains/d-g/bo-access", admin, {"authorized": True}),
        ("PUT", "/v1/domains/d-g/plan", g, {"plan": "Unlimited"}),  # replaces the downgrade
    ]
    for method, path, actor, body in steps:
        response = act(client, method, path, actor, body)
        assert response.status_code in (200, 201), (path, response.json)
        entries = ledger_entries(client, "d-g")
        for day in dates:
            booked = sum(
                (
                    Decimal(e["amount"])
                    for e in entries
                    if dt.datetime.fromisoformat(e["at"]) <= day
                ),
                Decimal("0.00"),
            )
            expected = Decimal(billing(client, "d-g", day)["total"]) - initial[day]
            assert booked == expected, (path, body, day.isoformat())
