"""Concurrent mixes of governed operations: the ledger still adds up, conversion runs once."""

from __future__ import annotations

import random
from collections import Counter
from decimal import Decimal

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

USERS = 24


def acting(actor: str) -> dict[str, str]:
    return {**ADMIN, "X-Acting-User": actor}


def test_grants_deletions_and_access_toggles_at_once_keep_the_ledger_exact(app, client, clean_db):
    load(
        client,
        {
            "portals": [{"id": "p-1", "name": "Fiduciaire Dupont"}],
            "portal_users": [portal_user("u-admin", "p-1", "PortalAdministrator")],
            "domains": [domain("d-1", "p-1", "Large", authorized=True)],
            "domain_users": [domain_user("du-boss", "d-1", ["Management"], owner=True)]
            + [domain_user(f"du-{n:02d}", "d-1", []) for n in range(USERS)],
        },
    )
    initial = Decimal(get(client, "/v1/domains/d-1/billing")["total"])
    boss, admin = acting("DomainUser:du-boss"), acting("PortalUser:u-admin")
    requests = [
        ("PUT", f"/v1/domains/d-1/users/du-{n:02d}/roles/Backoffice", boss) for n in range(USERS)
    ]
    requests += [("DELETE", f"/v1/domains/d-1/users/du-{n:02d}", boss) for n in range(0, 6, 2)]
    requests += [("PUT", "/v1/domains/d-1/bo-access", admin)] * 6
    random.Random(7).shuffle(requests)
    # The access toggles alternate revoke / authorize, in the shuffled order.
    toggles = iter([False, True] * 3)
    sent = [
        (m, p, h, {"authorized": next(toggles)} if p.endswith("/bo-access") else None)
        for m, p, h in requests
    ]
    results = at_once(app, sent)

    statuses = Counter(r if isinstance(r, BaseException) else r[0] for r in results)
    # A grant to a user deleted first is a 404, a grant while access is revoked a 403 (the
    # policy's deny); nothing fails.
    assert set(statuses) <= {200, 403, 404}, statuses
    assert statuses[404] <= 3
    denials = [r[1] for r in results if not isinstance(r, BaseException) and r[0] == 403]
    assert all(d["error"]["details"]["reasons"] == ["bo_access_not_authorized"] for d in denials)
    answers = [r[1] for r in results if not isinstance(r, BaseException) and r[0] == 200]
    entries = ledger(app, "d-1")
    booked = sum((Decimal(e["amount"]) for e in entries), Decimal("0.00"))
    final = Decimal(get(client, "/v1/domains/d-1/billing")["total"])
    assert booked == final - initial
    answered = sum(
        (Decimal(a["run_rate_change"]["amount"]) for a in answers if "run_rate_change" in a),
        Decimal("0.00"),
    )
    assert answered == booked
    assert verify_chain(app).ok
    assert len(audit_events(app)) == len(answers) + len(denials)


def test_simultaneous_conversions_convert_each_guest_once(app, client, clean_db):
    load(
        client,
        {
            "portals": [{"id": "p-1", "name": "Fiduciaire Dupont"}],
            "portal_users": [
                portal_user("u-admin", "p-1", "PortalAdministrator"),
                portal_user("u-admin2", "p-1", "PortalAdministrator"),
            ]
            + [portal_user(f"g-{n}", "p-1", "PortalGuest") for n in range(4)],
            "domains": [domain(f"d-{n}", "p-1", "Minimal", authorized=False) for n in range(4)],
            "staff": [
                {"domain_id": f"d-{n}", "user_id": f"g-{n}", "function": "Responsible"}
                for n in range(4)
            ],
            "domain_users": [
                domain_user(f"du-{n}", f"d-{n}", ["Management"], owner=True) for n in range(4)
            ],
        },
    )
    actors = ["PortalUser:u-admin", "PortalUser:u-admin2"] * 4
    results = at_once(
        app,
        [
            ("POST", "/v1/portals/p-1/guest-conversion", acting(a), {"dry_run": False})
            for a in actors
        ],
    )
    failures = [r for r in results if isinstance(r, BaseException) or r[0] != 200]
    assert failures == [], failures[:3]
    converted = sorted(body["converted"] for _, body in results)
    assert converted == [0] * (len(actors) - 1) + [4]
    for n in range(4):
        users = get(client, f"/v1/domains/d-{n}/users")["users"]
        assert len(users) == 2  # the owner and one user made from the guest, not more
        assert [(e["item"], e["amount"]) for e in ledger(app, f"d-{n}")] == [("extra_user", "7.50")]
    assert len(audit_events(app)) == len(actors)
    assert verify_chain(app).ok
