"""Really concurrent grants: 50 threads grant Backoffice at once; seats are counted exactly.

Each thread has its own test client (so its own app context and database session) and waits at a
barrier, so the requests reach the service together. The write gate must serialize them: exactly
one grant gets the included seat (when none was held), every other one pays 25.00.
"""

from __future__ import annotations

import time
from collections import Counter
from decimal import Decimal
from typing import Any

import pytest

from service.operations import base as operations_base
from tests.integration.support import (
    ADMIN,
    at_once,
    audit_events,
    domain,
    domain_user,
    get,
    ledger,
    load,
    portal_user,
    verify_chain,
)

USERS = 50
TIMEOUT = 60  # seconds for all the threads together (support.at_once's limit too)


def world(*, holder_before: bool) -> dict[str, Any]:
    boss_roles = ["Backoffice", "Management"] if holder_before else ["Management"]
    return {
        "portals": [{"id": "p-1", "name": "Fiduciaire Dupont"}],
        "portal_users": [portal_user("u-admin", "p-1", "PortalAdministrator")],
        "domains": [domain("d-1", "p-1", "Medium", authorized=True)],
        "domain_users": [domain_user("du-boss", "d-1", boss_roles, owner=True)]
        + [domain_user(f"du-{n:02d}", "d-1", []) for n in range(USERS)],
    }


def grant_headers(key: str | None = None) -> dict[str, str]:
    headers = {**ADMIN, "X-Acting-User": "DomainUser:du-boss"}
    if key is not None:
        headers["Idempotency-Key"] = key
    return headers


@pytest.mark.parametrize(
    ("holder_before", "paid", "included"),
    [(False, USERS - 1, 1), (True, USERS, 0)],
    ids=["first-seat-free", "seat-held-before"],
)
def test_fifty_simultaneous_grants_bill_every_seat_but_the_included_one(
    app, client, clean_db, holder_before, paid, included
):
    load(client, world(holder_before=holder_before))
    started = time.monotonic()
    results = at_once(
        app,
        [
            ("PUT", f"/v1/domains/d-1/users/du-{n:02d}/roles/Backoffice", grant_headers())
            for n in range(USERS)
        ],
    )
    elapsed = time.monotonic() - started

    failures = [r for r in results if isinstance(r, BaseException) or r[0] != 200]
    assert failures == [], failures[:3]
    answers = [body for _, body in results]

    # Each answer names its own audit event, and its own price.
    assert len({a["audit_event_id"] for a in answers}) == USERS
    changes = Counter(
        tuple((i["item"], i["amount"]) for i in a["run_rate_change"]["items"]) for a in answers
    )
    expected = Counter({(("backoffice_seat", "25.00"),): paid})
    if included:
        expected[(("backoffice_seat_included", "0.00"),)] = included
    assert changes == expected

    # The ledger: one entry per grant, 25.00 each but the included one.
    entries = ledger(app, "d-1")
    assert Counter((e["item"], e["amount"]) for e in entries) == Counter(
        {("backoffice_seat", "25.00"): paid, ("backoffice_seat_included", "0.00"): included}
        if included
        else {("backoffice_seat", "25.00"): paid}
    )
    assert sum(Decimal(e["amount"]) for e in entries) == Decimal("25.00") * paid

    # Billing agrees with the ledger.
    seats = get(client, "/v1/domains/d-1/billing")["backoffice_seats"]
    holders = USERS + (1 if holder_before else 0)
    assert seats == {
        "holders": holders,
        "included": 1,
        "billed": holders - 1,
        "amount": str(Decimal("25.00") * (holders - 1)),
    }
    assert holders - 1 == paid

    # Every role was granted, every grant audited once, and the chain holds.
    users = get(client, "/v1/domains/d-1/users")["users"]
    assert sum("Backoffice" in u["roles"] for u in users) == holders
    events = audit_events(app)
    assert len(events) == USERS and {e["outcome"] for e in events} == {"allowed"}
    assert verify_chain(app).ok
    assert elapsed < TIMEOUT


def test_simultaneous_repeats_of_one_key_run_once(app, client, clean_db):
    load(client, world(holder_before=True))
    path = "/v1/domains/d-1/users/du-00/roles/Backoffice"
    results = at_once(app, [("PUT", path, grant_headers(key="once")) for _ in range(10)])
    failures = [r for r in results if isinstance(r, BaseException) or r[0] != 200]
    assert failures == [], failures[:3]
    assert all(body == results[0][1] for _, body in results)
    assert [(e["item"], e["amount"]) for e in ledger(app, "d-1")] == [("backoffice_seat", "25.00")]
    assert len(audit_events(app)) == 1
    assert verify_chain(app).ok


SLOW_USERS = 20
HOLD = 0.35  # seconds each operation keeps the write gate: 20 x 0.35 s = 7 s of queue


def test_writers_wait_for_the_gate_however_long_the_queue(app, client, clean_db, monkeypatch):
    """A queue longer than any lock timeout must still be served (no 500 for a busy database)."""
    load(client, world(holder_before=True))
    real_replay = operations_base.replay

    def slow_replay(ctx):  # runs right after the gate is taken: hold it a while
        time.sleep(HOLD)
        return real_replay(ctx)

    monkeypatch.setattr(operations_base, "replay", slow_replay)
    results = at_once(
        app,
        [
            ("PUT", f"/v1/domains/d-1/users/du-{n:02d}/roles/Backoffice", grant_headers())
            for n in range(SLOW_USERS)
        ],
    )
    statuses = Counter(r if isinstance(r, BaseException) else r[0] for r in results)
    assert statuses == Counter({200: SLOW_USERS})
    assert len(ledger(app, "d-1")) == SLOW_USERS
