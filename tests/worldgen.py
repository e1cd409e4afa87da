"""Seeded random worlds in the `POST /v1/import` format, and the times worth deciding them at.

The same seed always gives the same world. Ids are numbered without padding and drawn from a
sparse range, so string order ("d-10" < "d-2") differs from creation order and from portal
membership: lists and cursors cannot pass by accident.
"""

from __future__ import annotations

import datetime as dt
import random
from typing import Any
from zoneinfo import ZoneInfo

from service.vocabulary import DomainRole, Plan, PortalRole, PricingModel, Scope, StaffFunction

BRUSSELS = ZoneInfo("Europe/Brussels")
GUEST_CREATION_CLOSES = dt.datetime(2021, 9, 1, tzinfo=BRUSSELS)

PLANS = [str(p) for p in Plan]
ELIGIBLE_PLANS = {"Small", "Medium", "Large", "Unlimited"}
# Cheapest first: a downgrade goes to a plan earlier in this list.
PLAN_ORDER = ["Trial", "Minimal", "Small", "Medium", "Large", "Unlimited"]
DOMAIN_ROLES = sorted(str(r) for r in DomainRole)
FUNCTIONS = sorted(str(f) for f in StaffFunction)

# The (role, scope, converted) users every world holds: each portal gets an administrator, and the
# other kinds are dealt round the portals; random users come on top.
_ADMINISTRATOR = (PortalRole.PORTAL_ADMINISTRATOR, Scope.PORTAL, False)
_REQUIRED_USERS = [
    (PortalRole.PORTAL_BACKOFFICE, Scope.PORTAL, False),
    (PortalRole.PORTAL_BACKOFFICE, Scope.ASSIGNED, False),
    (PortalRole.PORTAL_DATA_ENTRY, Scope.PORTAL, False),
    (PortalRole.PORTAL_DATA_ENTRY, Scope.ASSIGNED, False),
    (PortalRole.PORTAL_GUEST, Scope.PORTAL, False),
    (PortalRole.PORTAL_GUEST, Scope.PORTAL, True),
]


def _iso(value: dt.datetime) -> str:
    return value.isoformat(timespec="seconds")


def _ids(rng: random.Random, prefix: str, count: int) -> list[str]:
    """Draw `count` distinct ids `prefix-N`, N unpadded and sparse, in random order."""
    return [f"{prefix}-{n}" for n in rng.sample(range(1, count * 8 + 2), count)]


def _instant(rng: random.Random, start: dt.datetime, end: dt.datetime) -> dt.datetime:
    seconds = int((end - start).total_seconds())
    return (start + dt.timedelta(seconds=rng.randrange(seconds))).replace(microsecond=0)


def _first_of_month(rng: random.Random) -> dt.date:
    return dt.date(rng.randint(2021, 2025), rng.randint(1, 12), 1)


def random_world(
    seed: int,
    *,
    portals: int = 2,
    users: tuple[int, int] = (6, 10),
    domains: tuple[int, int] = (8, 15),
    domain_users: tuple[int, int] = (1, 4),
    administrations: tuple[int, int] = (0, 3),
    prefix: str = "",
) -> dict[str, Any]:
    """Return a valid world for `seed`, in the import format.

    `users` and `domains` (per portal), `domain_users` and `administrations` (per domain) are
    inclusive (min, max) ranges. Whatever the sizes, every portal has an administrator; the world
    has a back-office and a data-entry employee of each scope, a guest and a converted guest;
    the first domain of the world has a pending downgrade that takes Back Office Access away,
    and the next ones take every plan once. `prefix` goes in front of every id, to import
    several worlds side by side.
    """
    rng = random.Random(seed)
    world: dict[str, list[dict[str, Any]]] = {
        "portals": [],
        "portal_users": [],
        "domains": [],
        "staff": [],
        "administrations": [],
        "domain_users": [],
    }
    portal_ids = [f"{prefix}p-{n}" for n in rng.sample(range(1, portals * 4 + 2), portals)]
    specs = [[_ADMINISTRATOR, *_REQUIRED_USERS[k::portals]] for k in range(portals)]
    for portal_specs in specs:
        _add_random_users(rng, portal_specs, rng.randint(*users))
        rng.shuffle(portal_specs)
    domain_counts = [rng.randint(*domains) for _ in portal_ids]
    user_ids = iter(_ids(rng, f"{prefix}u", sum(map(len, specs))))
    domain_ids = iter(_ids(rng, f"{prefix}d", sum(domain_counts)))
    adm_ids = iter(_ids(rng, f"{prefix}a", sum(domain_counts) * administrations[1]))
    du_ids = iter(_ids(rng, f"{prefix}du", sum(domain_counts) * domain_users[1]))
    plans = rng.sample(PLANS, len(PLANS))

    for pid, portal_specs, n_domains in zip(portal_ids, specs, domain_counts, strict=True):
        world["portals"].append(
            {"id": pid, "name": f"Office {pid}", "country": rng.choice(["BE", "NL", None])}
        )
        staffable = _portal_users(rng, world, pid, portal_specs, user_ids)
        for _ in range(n_domains):
            did = next(domain_ids)
            _domain(rng, world, pid, did, len(world["domains"]), plans)
            _staff(rng, world, did, staffable)
            adms = [next(adm_ids) for _ in range(rng.randint(*administrations))]
            for aid in adms:
                world["administrations"].append(
                    {"id": aid, "domain_id": did, "name": f"Administration {aid}"}
                )
            _domain_users(rng, world, did, adms, rng.randint(*domain_users), du_ids)
    _guarantee_functions(rng, world)
    return world


def _add_random_users(rng: random.Random, specs: list[Any], count: int) -> None:
    while len(specs) < count:
        role = rng.choice(list(PortalRole))
        scope = Scope.PORTAL
        if role in (PortalRole.PORTAL_BACKOFFICE, PortalRole.PORTAL_DATA_ENTRY):
            scope = rng.choice(list(Scope))
        specs.append((role, scope, role is PortalRole.PORTAL_GUEST and rng.random() < 0.4))


def _portal_users(
    rng: random.Random,
    world: dict[str, list[dict[str, Any]]],
    pid: str,
    specs: list[Any],
    ids: Any,
) -> list[dict[str, Any]]:
    made = []
    for role, scope, converted in specs:
        uid = next(ids)
        if role is PortalRole.PORTAL_GUEST:
            created = _instant(rng, dt.datetime(2019, 1, 1, tzinfo=BRUSSELS), GUEST_CREATION_CLOSES)
        else:
            created = _instant(
                rng,
                dt.datetime(2018, 1, 1, tzinfo=BRUSSELS),
                dt.datetime(2024, 1, 1, tzinfo=dt.UTC),
            )
        converted_at = None
        if converted:
            converted_at = _iso(
                _instant(
                    rng,
                    dt.datetime(2022, 1, 3, tzinfo=BRUSSELS),
                    dt.datetime(2022, 6, 30, tzinfo=BRUSSELS),
                )
            )
        record = {
            "id": uid,
            "portal_id": pid,
            "email": f"{uid}@{pid}.example.be",
            "name": f"{role.value} {uid}",
            "role": role.value,
            "scope": scope.value,
            "created_at": _iso(created),
            "converted_at": converted_at,
        }
        world["portal_users"].append(record)
        made.append(record)
    return made


def _domain(
    rng: random.Random,
    world: dict[str, list[dict[str, Any]]],
    pid: str,
    did: str,
    index: int,
    plans: list[str],
) -> None:
    # After the first, the domains of the world take every plan once, then draw at random.
    plan = plans[index - 1] if 0 < index <= len(plans) else rng.choice(plans)
    pricing = PricingModel.BUNDLE if rng.random() < 0.75 else PricingModel.LEGACY_MODULES
    pending_plan = pending_from = None
    if index == 0:
        # The first domain always loses Back Office eligibility on its pending date.
        plan, pricing = rng.choice(["Medium", "Large", "Unlimited"]), PricingModel.BUNDLE
        pending_plan = rng.choice(["Trial", "Minimal"])
        pending_from = _first_of_month(rng).isoformat()
    elif rng.random() < 0.3:
        # A downgrade, still pending or already due depending on the time of the decision.
        pending_plan = rng.choice(PLAN_ORDER[: PLAN_ORDER.index(plan)] or ["Trial"])
        pending_from = _first_of_month(rng).isoformat()
    discount = None
    if rng.random() < 0.15:
        starts = rng.choice([None, _first_of_month(rng).isoformat()])
        discount = {"percent": 50, "months": 24, "starts_on": starts}
    world["domains"].append(
        {
            "id": did,
            "portal_id": pid,
            "name": f"client-{did}",
            "plan": plan,
            "pricing_model": pricing.value,
            "shielded": rng.random() < 0.35,
            "bo_access_authorized": rng.random() < 0.6,
            "pending_plan": pending_plan,
            "pending_plan_from": pending_from,
            "guest_discount": discount,
        }
    )


def _staff(
    rng: random.Random,
    world: dict[str, list[dict[str, Any]]],
    did: str,
    staffable: list[dict[str, Any]],
) -> None:
    for function in FUNCTIONS:
        if rng.random() < 0.5:
            holder = rng.choice(staffable)
            world["staff"].append({"domain_id": did, "user_id": holder["id"], "function": function})


def _domain_users(
    rng: random.Random,
    world: dict[str, list[dict[str, Any]]],
    did: str,
    adms: list[str],
    count: int,
    ids: Any,
) -> None:
    for index in range(count):
        uid = next(ids)
        owner = index == 0
        roles = set(rng.sample(DOMAIN_ROLES, rng.randint(0, 3)))
        if owner:
            roles.add(DomainRole.MANAGEMENT.value)
        limited: list[str] = []
        if adms and rng.random() < 0.4:
            limited = sorted(rng.sample(adms, rng.randint(1, len(adms))))
        world["domain_users"].append(
            {
                "id": uid,
                "domain_id": did,
                "email": f"{uid}@{did}.example.be",
                "name": f"User {uid}",
                "roles": sorted(roles),
                "is_owner": owner,
                "administrations": limited,
            }
        )


def _guarantee_functions(rng: random.Random, world: dict[str, list[dict[str, Any]]]) -> None:
    """Make sure assigned-scope users and guests hold functions somewhere (else lists are dull)."""
    domains_of: dict[str, list[str]] = {}
    for domain in world["domains"]:
        domains_of.setdefault(domain["portal_id"], []).append(domain["id"])
    taken = {(s["domain_id"], s["function"]) for s in world["staff"]}
    for user in world["portal_users"]:
        wants = user["scope"] == Scope.ASSIGNED or user["role"] == PortalRole.PORTAL_GUEST
        holds = any(s["user_id"] == user["id"] for s in world["staff"])
        if not wants or holds:
            continue
        guest = user["role"] == PortalRole.PORTAL_GUEST
        function = "Responsible" if guest else rng.choice(FUNCTIONS)
        for did in rng.sample(domains_of[user["portal_id"]], len(domains_of[user["portal_id"]])):
            if (did, function) in taken:
                # Assigning replaces the holder (one holder per function per domain).
                slot = next(
                    s for s in world["staff"] if (s["domain_id"], s["function"]) == (did, function)
                )
                slot["user_id"] = user["id"]
            else:
                world["staff"].append(
                    {"domain_id": did, "user_id": user["id"], "function": function}
                )
                taken.add((did, function))
            break


def interesting_times(world: dict[str, Any]) -> list[dt.datetime]:
    """Return the instants at which decisions of `world` change, with one on each side, sorted.

    Around the guest-creation deadline (2021-09-01 00:00 Brussels, also written in UTC where it is
    still 31 August), and around every pending downgrade date; plus a recent ordinary day.
    """
    times = {
        dt.datetime(2021, 8, 31, 23, 59, 59, tzinfo=BRUSSELS),
        GUEST_CREATION_CLOSES,
        # 22:30 UTC on 31 August is already 1 September in Brussels.
        dt.datetime(2021, 8, 31, 22, 30, tzinfo=dt.UTC),
        dt.datetime(2026, 3, 15, 12, 0, tzinfo=dt.UTC),
    }
    for domain in world["domains"]:
        if domain.get("pending_plan_from"):
            day = dt.date.fromisoformat(domain["pending_plan_from"])
            start = dt.datetime.combine(day, dt.time(), tzinfo=BRUSSELS)
            times.add(start - dt.timedelta(seconds=1))
            times.add(start)
    return sorted(times)


def pick_times(world: dict[str, Any], seed: int, count: int = 2) -> list[dt.datetime]:
    """Pick `count` interesting times: the first two on either side of both the guest deadline
    and the first pending downgrade of the world; any further ones at random."""
    rng = random.Random(seed)
    times = interesting_times(world)
    edges = [GUEST_CREATION_CLOSES]
    pending = [d["pending_plan_from"] for d in world["domains"] if d.get("pending_plan_from")]
    if pending:
        day = dt.date.fromisoformat(pending[0])
        edges.append(dt.datetime.combine(day, dt.time(), tzinfo=BRUSSELS))
    picked = [
        rng.choice([t for t in times if t < min(edges)]),
        rng.choice([t for t in times if t >= max(edges)]),
    ]
    while len(picked) < count and len(picked) < len(times):
        candidate = rng.choice(times)
        if candidate not in picked:
            picked.append(candidate)
    return picked[:count]


def ids_of(world: dict[str, Any]) -> dict[str, list[str]]:
    """Return the ids of each resource type of `world` (the types of the policy's vocabulary)."""
    return {
        "Portal": [r["id"] for r in world["portals"]],
        "PortalUser": [r["id"] for r in world["portal_users"]],
        "Domain": [r["id"] for r in world["domains"]],
        "Administration": [r["id"] for r in world["administrations"]],
        "DomainUser": [r["id"] for r in world["domain_users"]],
    }


def portal_of(world: dict[str, Any]) -> dict[tuple[str, str], str]:
    """Map every (type, id) of `world` to the id of its portal."""
    domain_portal = {d["id"]: d["portal_id"] for d in world["domains"]}
    found: dict[tuple[str, str], str] = {("Portal", p["id"]): p["id"] for p in world["portals"]}
    found.update({("PortalUser", u["id"]): u["portal_id"] for u in world["portal_users"]})
    found.update({("Domain", d["id"]): d["portal_id"] for d in world["domains"]})
    found.update(
        {
            ("Administration", a["id"]): domain_portal[a["domain_id"]]
            for a in world["administrations"]
        }
    )
    found.update(
        {("DomainUser", u["id"]): domain_portal[u["domain_id"]] for u in world["domain_users"]}
    )
    return found
