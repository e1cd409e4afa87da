"""Realistic authorize bodies over a generated world: Zipf-distributed domains and office staff.

The mix (by weight) mirrors who asks the service what: mostly entrepreneur-side users on their own
domain, office employees on domains, administrations and the portal, plus a few outsiders,
unknown ids and inapplicable actions. About 10% of the bodies carry an explicit `context.at`.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable
from typing import Any

from .world import PORTAL_ID, World

ZIPF_S = 1.1

DU_DOMAIN_ACTIONS = {
    "process": 25,
    "open": 20,
    "data_entry": 10,
    "use_sales": 8,
    "use_purchase": 8,
    "use_finance": 6,
    "use_hrm": 3,
    "manage_users": 5,
    "add_extra_user": 3,
    "grant_backoffice": 4,
    "change_plan": 3,
    "view_subscription": 5,
}
PU_DOMAIN_ACTIONS = {
    "open": 30,
    "process": 35,
    "data_entry": 15,
    "view_settings": 10,
    "manage_settings": 3,
    "assign_staff": 3,
    "authorize_bo_access": 2,
    "revoke_bo_access": 2,
}
PU_PORTAL_ACTIONS = {
    "view": 50,
    "list_users": 30,
    "create_domain": 10,
    "create_user": 7,
    "create_guest": 3,
}

# (kind, weight in percent)
MIX = (
    ("domain_user_on_domain", 40),
    ("domain_user_on_administration", 10),
    ("domain_user_on_domain_user", 4),
    ("portal_user_on_domain", 27),
    ("portal_user_on_administration", 8),
    ("portal_user_on_portal", 5),
    ("portal_user_on_portal_user", 2),
    ("outsider_domain_user", 2),
    ("unknown_id", 1),
    ("action_not_applicable", 1),
)


class _Zipf:
    """Draw indexes 0..n-1 with P(rank k) ~ 1/k^s, ranks shuffled once over the indexes."""

    def __init__(self, n: int, rng: random.Random, s: float = ZIPF_S) -> None:
        import numpy as np

        self._np_rng = np.random.default_rng(rng.randrange(2**32))
        weights = 1.0 / np.arange(1, n + 1) ** s
        self._cdf = np.cumsum(weights / weights.sum())
        self._perm = np.array(rng.sample(range(n), n))

    def draw(self, k: int) -> list[int]:
        import numpy as np

        ranks = np.searchsorted(self._cdf, self._np_rng.random(k), side="right")
        ranks = np.minimum(ranks, len(self._perm) - 1)
        return [int(i) for i in self._perm[ranks]]


def _pick(rng: random.Random, weighted: dict[str, int]) -> str:
    return rng.choices(list(weighted), weights=list(weighted.values()))[0]


def make_bodies(world: World, count: int, seed: int = 7) -> list[dict[str, Any]]:
    """Return `count` authorize bodies (the JSON of POST /v1/authorize) drawn from the mix."""
    rng = random.Random(seed)
    n = world.n_domains
    domains = _Zipf(n, rng).draw(count * 2)
    office = [
        u
        for key in ("admin", "backoffice", "dataentry", "subcontractor", "guest")
        for u in world.portal_users[key]
    ]
    office_zipf = _Zipf(len(office), rng)
    office_draws = office_zipf.draw(count)
    kinds = rng.choices([k for k, _ in MIX], weights=[w for _, w in MIX], k=count)

    def ref(type_: str, oid: str) -> dict[str, str]:
        return {"type": type_, "id": oid}

    def body(actor: dict[str, str], action: str, resource: dict[str, str]) -> dict[str, Any]:
        out: dict[str, Any] = {"actor": actor, "action": action, "resource": resource}
        if rng.random() < 0.10:
            at = dt.datetime(2021, 1, 1, 9, tzinfo=dt.UTC) + dt.timedelta(
                days=rng.randrange(6 * 365), hours=rng.randrange(12)
            )
            out["context"] = {"at": at.isoformat()}
        return out

    def domain_of_office(user: str, i: int) -> int:
        mine = world.staff_of.get(user)
        if mine and rng.random() < 0.5:
            return rng.choice(mine)
        return i

    def du_on_domain(i: int, _u: int) -> dict[str, Any]:
        du = rng.choice(world.users_by_domain[i])
        return body(
            ref("DomainUser", du), _pick(rng, DU_DOMAIN_ACTIONS), ref("Domain", world.domain_ids[i])
        )

    makers: dict[str, Callable[[int, int], dict[str, Any]]] = {
        "domain_user_on_domain": du_on_domain,
        "domain_user_on_administration": lambda i, _u: body(
            ref("DomainUser", rng.choice(world.users_by_domain[i])),
            "access",
            ref("Administration", rng.choice(world.adms_by_domain[i])),
        ),
        "domain_user_on_domain_user": lambda i, _u: body(
            ref("DomainUser", rng.choice(world.users_by_domain[i])),
            rng.choice(("delete", "grant_role")),
            ref("DomainUser", rng.choice(world.users_by_domain[i])),
        ),
        "portal_user_on_domain": lambda i, u: body(
            ref("PortalUser", office[u]),
            _pick(rng, PU_DOMAIN_ACTIONS),
            ref("Domain", world.domain_ids[domain_of_office(office[u], i)]),
        ),
        "portal_user_on_administration": lambda i, u: body(
            ref("PortalUser", office[u]),
            "access",
            ref("Administration", rng.choice(world.adms_by_domain[domain_of_office(office[u], i)])),
        ),
        "portal_user_on_portal": lambda _i, u: body(
            ref("PortalUser", office[u]), _pick(rng, PU_PORTAL_ACTIONS), ref("Portal", PORTAL_ID)
        ),
        "portal_user_on_portal_user": lambda _i, u: body(
            ref("PortalUser", office[u]),
            rng.choice(("delete", "change_role")),
            ref("PortalUser", rng.choice(office)),
        ),
        "outsider_domain_user": lambda i, _u: body(
            ref(
                "DomainUser",
                rng.choice(
                    world.users_by_domain[(i + 1 + rng.randrange(n - 1)) % n]
                    if n > 1
                    else world.users_by_domain[i]
                ),
            ),
            _pick(rng, DU_DOMAIN_ACTIONS),
            ref("Domain", world.domain_ids[i]),
        ),
        "unknown_id": lambda i, _u: (
            body(
                ref("DomainUser", f"du-missing-{rng.randrange(10**6)}"),
                "process",
                ref("Domain", world.domain_ids[i]),
            )
            if rng.random() < 0.5
            else body(
                ref("PortalUser", office[_u]),
                "open",
                ref("Domain", f"d-missing-{rng.randrange(10**6)}"),
            )
        ),
        "action_not_applicable": lambda i, _u: body(
            ref("DomainUser", rng.choice(world.users_by_domain[i])),
            "view",
            ref("Portal", PORTAL_ID),
        ),
    }
    return [makers[kind](domains[k], office_draws[k]) for k, kind in enumerate(kinds)]


def kinds_share() -> dict[str, int]:
    return dict(MIX)
