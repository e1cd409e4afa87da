"""Realistic authorize bodies over a generated world: Zipf-distributed domains and office staff.

The mix (by weight) mirrors who asks the service what: mostly entrepreneur-side users on their own
domain, office employees on domains, administrations and the portal, plus a few outsiders,
unknown ids and inapplicable actions. About 10% of the bodies carry an explicit `context.at`.

`make_bodies` gives checks for the in-process measurements; `make_stream` the lines wrk sends
(authorize bodies with a share of governed writes interleaved, see bench/wrk.lua), and
`make_batches` bodies of POST /v1/authorize/batch. Which domains are popular is a property of the
world, so all of them ask about the same hot domains.
"""

from __future__ import annotations

import datetime as dt
import json
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
    """Draw indexes 0..n-1 with P(rank k) ~ 1/k^s; `rank_seed` fixes which index has which rank.

    The ranks belong to the world (the same domains are popular in every stream over it); the
    draws come from `rng`, so streams with different seeds differ but share the popular set.
    """

    def __init__(self, n: int, rng: random.Random, rank_seed: int, s: float = ZIPF_S) -> None:
        import numpy as np

        self._np_rng = np.random.default_rng(rng.randrange(2**32))
        weights = 1.0 / np.arange(1, n + 1) ** s
        self._cdf = np.cumsum(weights / weights.sum())
        self._perm = np.array(random.Random(rank_seed).sample(range(n), n))

    def draw(self, k: int) -> list[int]:
        import numpy as np

        ranks = np.searchsorted(self._cdf, self._np_rng.random(k), side="right")
        ranks = np.minimum(ranks, len(self._perm) - 1)
        return [int(i) for i in self._perm[ranks]]


def _pick(rng: random.Random, weighted: dict[str, int]) -> str:
    return rng.choices(list(weighted), weights=list(weighted.values()))[0]


class Mix:
    """Draws of the mix over one world: authorize bodies, and the domains governed writes hit.

    Domains and office staff follow Zipf laws whose popular members depend on the world's seed
    only, so every stream drawn over a world (whatever its own seed) asks about the same hot
    domains, and its writes fall on them too.
    """

    def __init__(self, world: World, seed: int = 7) -> None:
        self.world = world
        self.rng = random.Random(seed)
        self.office = [
            u
            for key in ("admin", "backoffice", "dataentry", "subcontractor", "guest")
            for u in world.portal_users[key]
        ]
        self.domains = _Zipf(world.n_domains, self.rng, rank_seed=world.seed + 1)
        self.office_zipf = _Zipf(len(self.office), self.rng, rank_seed=world.seed + 2)

    def bodies(self, count: int) -> list[dict[str, Any]]:
        """Return `count` authorize bodies (the JSON of POST /v1/authorize) drawn from the mix."""
        world, rng, office = self.world, self.rng, self.office
        n = world.n_domains
        domains = self.domains.draw(count)
        office_draws = self.office_zipf.draw(count)
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
                ref("DomainUser", du),
                _pick(rng, DU_DOMAIN_ACTIONS),
                ref("Domain", world.domain_ids[i]),
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
                ref(
                    "Administration",
                    rng.choice(world.adms_by_domain[domain_of_office(office[u], i)]),
                ),
            ),
            "portal_user_on_portal": lambda _i, u: body(
                ref("PortalUser", office[u]),
                _pick(rng, PU_PORTAL_ACTIONS),
                ref("Portal", PORTAL_ID),
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

    def shield_writes(self, pairs: int) -> list[str]:
        """Governed writes as wrk stream lines: `pairs` pairs of PUT .../shielded on Zipf domains.

        Each pair flips a domain's shield and then puts it back (so the world keeps its shape
        however long the run), acting as one of the portal's administrators.
        """
        world, admins = self.world, self.world.portal_users["admin"]
        lines = []
        for k, i in enumerate(self.domains.draw(pairs)):
            did, shielded = world.domain_ids[i], world.shielded[i]
            acting = f"PortalUser:{admins[k % len(admins)]}"
            for value in (not shielded, shielded):
                lines.append(
                    write_line("PUT", f"/v1/domains/{did}/shielded", acting, {"shielded": value})
                )
        return lines


WRITE_PREFIX = "!"


def write_line(method: str, path: str, acting_user: str, body: dict[str, Any]) -> str:
    """A line of a wrk stream that bench/wrk.lua sends as a governed write (admin key)."""
    return f"{WRITE_PREFIX}{method} {path} {acting_user} {_dumps(body)}"


def _dumps(body: Any) -> str:
    return json.dumps(body, separators=(",", ":"))


def make_bodies(world: World, count: int, seed: int = 7) -> list[dict[str, Any]]:
    """Return `count` authorize bodies (the JSON of POST /v1/authorize) drawn from the mix."""
    return Mix(world, seed).bodies(count)


def make_stream(
    world: World, count: int, seed: int, write_share: float = 0.0
) -> tuple[list[str], dict[str, int]]:
    """Return `count` lines for wrk: authorize bodies, with a `write_share` of governed writes.

    The writes (pairs of shield flips, see `Mix.shield_writes`) sit at random places; the lines
    are consumed in order, each wrk run continuing where the previous one stopped.
    """
    mix = Mix(world, seed)
    pairs = round(count * write_share / 2)
    writes = mix.shield_writes(pairs)
    reads = [_dumps(b) for b in mix.bodies(count - len(writes))]
    slots = set(mix.rng.sample(range(count), len(writes)))
    lines: list[str] = []
    r = w = 0
    for position in range(count):
        if position in slots:
            lines.append(writes[w])
            w += 1
        else:
            lines.append(reads[r])
            r += 1
    return lines, {"lines": count, "authorize": len(reads), "writes": len(writes)}


def make_batches(world: World, batches: int, size: int, seed: int) -> list[str]:
    """Return `batches` distinct bodies of POST /v1/authorize/batch of `size` checks each."""
    bodies = Mix(world, seed).bodies(batches * size)
    return [_dumps({"checks": bodies[k * size : (k + 1) * size]}) for k in range(batches)]


def kinds_share() -> dict[str, int]:
    return dict(MIX)
