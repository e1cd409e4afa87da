"""Freshness across workers (target 3): write through one gunicorn worker, check through another.

Against the bench's running server (its workers share a revision board, see
service/authz/board.py). Each round takes a check whose answer a governed write flips:

- Back Office Access: a domain's owner who holds the Backoffice role on an eligible domain, actions
  `process` and `data_entry` on the domain; the write is `PUT /v1/domains/{did}/bo-access`
  `{"authorized": ...}` by a PortalAdministrator (the role stays, effective access comes and goes);
- shielding: a PortalBackoffice with the whole portal in scope and no staff function on the domain,
  `open` on the domain and `access` on its first administration (an administration's facts hold
  its domain's); the write is `PUT /v1/domains/{did}/shielded` `{"shielded": ...}`.

A round asks the checks several times at once on new connections (gunicorn's sync workers answer
one request each, so both take some) to fill both workers' caches, does the write, then at once
asks them again the same way, and the same questions on a date never asked before (new
decisions about objects whose facts the workers hold), and compares every answer with an
uncached decision computed in this process after the write (`DECISION_CACHE` off). Which worker
answered what comes from the per-worker files behind /metrics. Every candidate is flipped an even
number of times, so the world ends as it began.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from .http import Server, counter_delta
from .world import ELIGIBLE, World

CHECK_KEY = "bench-truth:check:freshness-truth-only"


@dataclass
class Candidate:
    kind: str  # "bo_access" or "shielded"
    domain: str
    path: str
    field: str  # in the write's body
    state_field: str  # in the domain's state (the write's answer)
    state: bool  # the field's value now
    checks: list[dict[str, Any]]


def candidates(world: World, count: int, seed: int = 13) -> list[Candidate]:
    """Half Back Office Access flips, half shield flips, on distinct random domains."""
    rng = random.Random(seed)
    cols = world.columns["domains"]
    domains = [dict(zip(cols, row, strict=True)) for row in world.rows["domains"]]
    backoffice_holders = {
        uid for uid, role in world.rows["domain_user_roles"] if role == "Backoffice"
    }
    employee = world.portal_users["backoffice"][1]
    staffed = set(world.staff_of.get(employee, ()))
    order = rng.sample(range(world.n_domains), world.n_domains)
    bo: list[Candidate] = []
    shield: list[Candidate] = []
    want_bo = count // 2
    for i in order:
        d = domains[i]
        owner = world.users_by_domain[i][0]  # the first user of a domain is its owner
        if (
            len(bo) < want_bo
            and d["pricing_model"] == "bundle"
            and d["plan"] in ELIGIBLE
            and d["pending_plan"] is None
            and owner in backoffice_holders
        ):
            checks = [
                _body("DomainUser", owner, action, "Domain", d["id"])
                for action in ("process", "data_entry")
            ]
            bo.append(
                Candidate(
                    "bo_access",
                    d["id"],
                    f"/v1/domains/{d['id']}/bo-access",
                    "authorized",
                    "bo_access_authorized",
                    bool(d["bo_access_authorized"]),
                    checks,
                )
            )
        elif len(shield) < count - want_bo and i not in staffed:
            adm = world.adms_by_domain[i][0]
            shield.append(
                Candidate(
                    "shielded",
                    d["id"],
                    f"/v1/domains/{d['id']}/shielded",
                    "shielded",
                    "shielded",
                    bool(d["shielded"]),
                    [
                        _body("PortalUser", employee, "open", "Domain", d["id"]),
                        _body("PortalUser", employee, "access", "Administration", adm),
                    ],
                )
            )
        if len(bo) == want_bo and len(shield) == count - want_bo:
            break
    # Alternate the kinds.
    out: list[Candidate] = []
    for k in range(max(len(bo), len(shield))):
        out.extend(c[k] for c in (bo, shield) if k < len(c))
    return out


def _body(atype: str, aid: str, action: str, rtype: str, rid: str) -> dict[str, Any]:
    return {
        "actor": {"type": atype, "id": aid},
        "action": action,
        "resource": {"type": rtype, "id": rid},
    }


class Truth:
    """Uncached decisions, in this process, on the same database (the cache is off here)."""

    def __init__(self, url: str) -> None:
        from service import create_app
        from service.authz import Ref
        from service.db import db

        self.Ref, self.db = Ref, db
        self.app = create_app(
            {
                "DATABASE_URL": url,
                "AUTHZ_API_KEYS": CHECK_KEY,
                "DECISION_CACHE": False,
                "DECISION_LOG": "off",
            }
        )
        self.az = self.app.extensions["authz"]
        assert self.az.cache is None, "the truth must not come from a cache"

    def __call__(self, body: dict[str, Any]) -> bool:
        at = (body.get("context") or {}).get("at")
        with self.app.app_context():
            try:
                return bool(
                    self.az.authorize(
                        self.db.session,
                        self.Ref(**body["actor"]),
                        body["action"],
                        self.Ref(**body["resource"]),
                        dt.datetime.fromisoformat(at) if at else dt.datetime.now(dt.UTC),
                    ).allowed
                )
            finally:
                self.db.session.remove()

    def close(self) -> None:
        from service.db import dispose_engines

        dispose_engines(self.app)


def _per_worker(
    after: dict[int, Counter[tuple[str, ...]]], before: dict[int, Counter[tuple[str, ...]]]
) -> dict[int, Counter[tuple[str, ...]]]:
    return {pid: counter_delta(c, before.get(pid, Counter())) for pid, c in after.items()}


def _sum(per: dict[int, Counter[tuple[str, ...]]], key: tuple[str, ...]) -> int:
    return int(sum(c.get(key, 0) for c in per.values()))


AUTHORIZE_200 = ("http", "POST", "/v1/authorize", "200")


def _novel_date(round_: int) -> str:
    """A business date no other check of the bench uses (one per round)."""
    day = dt.datetime(2031, 1, 1, 9, tzinfo=dt.UTC) + dt.timedelta(days=round_)
    return day.isoformat()


def run(
    server: Server, world: World, url: str, writes: int, asks: int = 6, warm_waves: int = 2
) -> dict[str, Any]:
    """`writes` rounds of warm / write / check; count the answers that differ from the truth."""
    started = time.perf_counter()
    count = max(2, min(20, writes // 2))
    cands = candidates(world, count)
    writes -= writes % (2 * len(cands))  # an even number of flips per candidate
    admin = f"PortalUser:{world.portal_users['admin'][0]}"
    for cand in cands:  # the load rounds' writes may have left a domain flipped: ask
        status, state = server.request("GET", f"/v1/domains/{cand.domain}", None, admin=True)
        if status != 200:
            raise RuntimeError(f"GET /v1/domains/{cand.domain} answered {status}: {state!r}")
        cand.state = bool(state[cand.state_field])
    truth = Truth(url)
    pool = ThreadPoolExecutor(max_workers=asks * 2)

    def ask(body: dict[str, Any]) -> bool | None:
        status, answer = server.request("POST", "/v1/authorize", json.dumps(body).encode())
        return bool(answer["allowed"]) if status == 200 else None

    def ask_all(checks: list[dict[str, Any]]) -> list[tuple[int, bool | None]]:
        jobs = [(k, pool.submit(ask, c)) for k, c in enumerate(checks) for _ in range(asks)]
        return [(k, job.result()) for k, job in jobs]

    totals: Counter[str] = Counter()
    write_statuses: Counter[int] = Counter()
    errors: list[str] = []
    metrics_before = server.scrape()
    try:
        for i in range(writes):
            cand = cands[i % len(cands)]
            before = [truth(c) for c in cand.checks]
            w0 = server.scrape_workers()
            for _ in range(warm_waves):
                for k, answer in ask_all(cand.checks):
                    totals["checks_before"] += 1
                    if answer is None:
                        totals["errors"] += 1
                    elif answer != before[k]:
                        totals["wrong_before"] += 1
            w1 = server.scrape_workers()
            warm = _per_worker(w1, w0)
            totals["hits_before"] += _sum(warm, ("cache", "hit"))
            if len(warm) >= server.workers and all(c[("cache", "hit")] > 0 for c in warm.values()):
                totals["rounds_every_worker_hit_before"] += 1
            value = not cand.state
            status, answer = server.request(
                "PUT",
                cand.path,
                json.dumps({cand.field: value}).encode(),
                admin=True,
                headers={"X-Acting-User": admin},
            )
            write_statuses[status] += 1
            if status != 200 or answer["domain"][cand.state_field] != value:
                errors.append(f"{cand.path} {cand.field}={value}: {status} {answer!r}"[:300])
                continue
            cand.state = value
            w2 = server.scrape_workers()
            wrote = _per_worker(w2, w1)
            write_key = ("http", "PUT", f"/v1/domains/<did>/{cand.path.rsplit('/', 1)[1]}", "200")
            writer = next((pid for pid, c in wrote.items() if c.get(write_key)), None)
            after = [truth(c) for c in cand.checks]
            totals["flips_expected"] += len(after)
            totals["flips_seen"] += sum(a != b for a, b in zip(after, before, strict=True))
            # The same questions on a date never asked before: new decisions (cache misses)
            # about objects whose facts the workers may hold from before the write.
            novel = [{**c, "context": {"at": _novel_date(i)}} for c in cand.checks]
            after += [truth(c) for c in novel]
            for k, answer in ask_all(cand.checks + novel):
                totals["checks_after"] += 1
                fresh_question = k >= len(cand.checks)
                totals["new_questions_after"] += fresh_question
                if answer is None:
                    totals["errors"] += 1
                elif answer != after[k]:
                    totals["stale_after"] += 1
                    totals["stale_new_questions_after"] += fresh_question
            w3 = server.scrape_workers()
            checked = _per_worker(w3, w2)
            totals["hits_after"] += _sum(checked, ("cache", "hit"))
            totals["misses_after"] += _sum(checked, ("cache", "miss"))
            other = sum(int(c.get(AUTHORIZE_200, 0)) for pid, c in checked.items() if pid != writer)
            totals["checks_after_by_other_worker"] += other
            if writer is not None and other:
                totals["rounds_checked_by_other_worker"] += 1
            if writer is not None:
                totals["writes_attributed"] += 1
    finally:
        pool.shutdown()
        truth.close()
    metrics = counter_delta(server.scrape(), metrics_before)
    return {
        "candidates": [
            {"kind": c.kind, "domain": c.domain, "checks": [b["action"] for b in c.checks]}
            for c in cands
        ],
        "writes": writes,
        "write_statuses": {str(k): v for k, v in sorted(write_statuses.items())},
        "asks_per_check": asks,
        "warm_waves": warm_waves,
        "workers": server.workers,
        **{k: int(v) for k, v in totals.items()},
        "metrics_cache": {key[1]: int(v) for key, v in metrics.items() if key[0] == "cache"},
        "errors_sample": errors[:5],
        "seconds": round(time.perf_counter() - started, 1),
    }
