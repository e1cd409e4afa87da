"""Governed grants, in a child process of the bench: `python -m bench.governed URL OUT [N]`.

A domain of its own is added to the bench world through the import (an eligible plan, Back Office
Access authorized, a Management owner and N users), then the owner grants Backoffice to each user
in turn through `PUT /v1/domains/{did}/users/{uid}/roles/Backoffice` on the app's test client:
one request is one transaction (write gate, policy check, role, pricing, ledger, audit). The
ledger is then checked: one included seat and N-1 paid ones, exactly.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

KEY = "bench-admin:admin:governed-bench-secret"
HEADERS = {"Authorization": "Bearer governed-bench-secret"}
DOMAIN = "bench-grants"


def _world(n: int) -> dict[str, Any]:
    owner = {
        "id": "bg-owner",
        "domain_id": DOMAIN,
        "email": "owner@bench.be",
        "name": "Owner",
        "roles": ["Management"],
        "is_owner": True,
    }
    users = [
        {"id": f"bg-{i:04d}", "domain_id": DOMAIN, "email": f"u{i}@bench.be", "name": f"U{i}"}
        for i in range(n)
    ]
    return {
        "domains": [
            {
                "id": DOMAIN,
                "portal_id": "p-1",
                "name": "Governed grants",
                "plan": "Medium",
                "pricing_model": "bundle",
                "bo_access_authorized": True,
            }
        ],
        "domain_users": [owner, *users],
    }


def measure(url: str, n: int) -> dict[str, Any]:
    from service import create_app

    app = create_app({"DATABASE_URL": url, "AUTHZ_API_KEYS": KEY, "DECISION_LOG": "off"})
    client = app.test_client()
    loaded = client.post("/v1/import", json=_world(n), headers=HEADERS)
    if loaded.status_code != 200:
        raise RuntimeError(f"import failed: {loaded.status_code} {loaded.json}")
    acting = {**HEADERS, "X-Acting-User": "DomainUser:bg-owner"}
    times: list[float] = []
    statuses: dict[int, int] = {}
    for i in range(n):
        started = time.perf_counter()
        response = client.put(
            f"/v1/domains/{DOMAIN}/users/bg-{i:04d}/roles/Backoffice", headers=acting
        )
        times.append(time.perf_counter() - started)
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
    ledger = client.get(f"/v1/domains/{DOMAIN}/ledger?limit=1000", headers=HEADERS).json
    items: dict[str, int] = {}
    for entry in ledger["entries"]:
        items[entry["item"]] = items.get(entry["item"], 0) + 1
    ms = sorted(t * 1000 for t in times)
    return {
        "grants": n,
        "statuses": statuses,
        "median_ms": statistics.median(ms),
        "p90_ms": ms[int(0.9 * (len(ms) - 1))],
        "p99_ms": ms[int(0.99 * (len(ms) - 1))],
        "ledger_items": items,
        "exact": items == {"backoffice_seat_included": 1, "backoffice_seat": n - 1},
    }


def main(argv: list[str]) -> None:
    url, out = argv[0], Path(argv[1])
    n = int(argv[2]) if len(argv) > 2 else 200
    out.write_text(json.dumps(measure(url, n)))


if __name__ == "__main__":
    main(sys.argv[1:])
