"""Every single decision of a random world at one time, computed once for all property tests.

The matrix holds every (actor, action, resource) the vocabulary concerns (the policy's `concerns`
table: which actor type an action is for, domain.md section 2). Other combinations are denied
`action_not_applicable` whatever the data: `test_invariants` proves it on every actor, and the
list tests expect them to list nothing. The matrix is a pure function of the world (fixed by its
seed and size), the time and the policy, so it is cached under exactly those: the list and
invariant tests pay for it once.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator
from typing import Any

from sqlalchemy.orm import Session

from service.authz import Authorizer, Check, Decision, Ref
from service.vocabulary import ACTIONS_BY_RESOURCE, ActorType
from tests.worldgen import ids_of, pick_times, random_world

# Small worlds: every actor against every resource for every action is ~1500 single checks.
WORLD_SIZE: dict[str, Any] = {
    "portals": 2,
    "users": (4, 4),
    "domains": (2, 3),
    "domain_users": (1, 2),
    "administrations": (0, 2),
}
TIMES_PER_WORLD = 2


def _seeds(default: tuple[int, ...]) -> tuple[int, ...]:
    """Return the seeds: YUKI_PROPERTY_SEEDS="7,8" names them, "40" asks for 40 seeds 0..39."""
    raw = os.environ.get("YUKI_PROPERTY_SEEDS", "").strip()
    if not raw:
        return default
    if "," in raw:
        return tuple(int(part) for part in raw.split(",") if part.strip())
    return tuple(range(int(raw)))


# Three worlds at two times each keep a file under a minute on SQLite; ask for more when hunting.
SEEDS = _seeds((3, 17, 2024))

Triple = tuple[Ref, str, Ref]

_CACHE: dict[tuple[int, str, str], dict[Triple, Decision]] = {}


def world_for(seed: int) -> dict[str, Any]:
    return random_world(seed, **WORLD_SIZE)


def times_for(world: dict[str, Any], seed: int) -> list[dt.datetime]:
    return pick_times(world, seed, TIMES_PER_WORLD)


def actors_of(world: dict[str, Any]) -> list[Ref]:
    ids = ids_of(world)
    return [Ref(str(t), i) for t in sorted(ActorType) for i in sorted(ids[str(t)])]


def resources_of(world: dict[str, Any], resource_type: str) -> list[Ref]:
    return [Ref(resource_type, i) for i in sorted(ids_of(world)[resource_type])]


def vocabulary() -> Iterator[tuple[str, str]]:
    """Yield every (resource type, action) of the vocabulary, in a stable order."""
    for resource_type, actions in sorted(ACTIONS_BY_RESOURCE.items()):
        for action in sorted(actions):
            yield str(resource_type), str(action)


def concerned(authz: Authorizer) -> frozenset[tuple[str, str, str]]:
    """Return the vocabulary's (actor type, action, resource type) triples, from the policy."""
    return frozenset(authz.engine.concerned_actions())


def concerned_triples(authz: Authorizer, world: dict[str, Any]) -> list[Triple]:
    vocabulary_triples = concerned(authz)
    actors = actors_of(world)
    return [
        (actor, action, resource)
        for resource_type, action in vocabulary()
        for resource in resources_of(world, resource_type)
        for actor in actors
        if (actor.type, action, resource_type) in vocabulary_triples
    ]


def decide_all(
    authz: Authorizer,
    session: Session,
    seed: int,
    world: dict[str, Any],
    at: dt.datetime,
) -> dict[Triple, Decision]:
    """Decide every concerned (actor, action, resource) of the imported `world` at `at`."""
    key = (seed, at.isoformat(), authz.policy_version)
    if key not in _CACHE:
        triples = concerned_triples(authz, world)
        decisions = authz.authorize_many(
            session, [Check(actor, action, resource, at) for actor, action, resource in triples]
        )
        _CACHE[key] = dict(zip(triples, decisions, strict=True))
    return _CACHE[key]


def show(ref: Ref) -> str:
    return f"{ref.type}:{ref.id}"
