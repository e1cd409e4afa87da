"""Invariants of every decision on random worlds: explained denies, known reasons, sealed portals.

The seeded tests go through every concerned (actor, action, resource) of each world at a couple of
interesting times (the matrix the list tests use, cached); the hypothesis test draws worlds,
instants in any UTC offset and (actor, resource) pairs, and checks every action of the pair.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service.authz import Check, Ref
from service.imports import import_world
from service.vocabulary import ACTIONS_BY_RESOURCE, Reason
from tests.property.decisions import (
    SEEDS,
    WORLD_SIZE,
    actors_of,
    concerned,
    decide_all,
    resources_of,
    show,
    times_for,
)
from tests.worldgen import BRUSSELS, ids_of, portal_of, random_world

REASONS = frozenset(str(r) for r in Reason)
RESOURCE_TYPES = sorted(str(t) for t in ACTIONS_BY_RESOURCE)


def converted_guests(world):
    return {
        Ref("PortalUser", u["id"])
        for u in world["portal_users"]
        if u["role"] == "PortalGuest" and u["converted_at"] is not None
    }


def all_resources(world):
    return [r for resource_type in RESOURCE_TYPES for r in resources_of(world, resource_type)]


def explained(decision) -> str | None:
    """Return what is wrong with the reasons of one decision, or None."""
    if decision.allowed and decision.reasons:
        return f"allowed with reasons {decision.reasons}"
    if not decision.allowed and not decision.reasons:
        return "denied without a reason"
    unknown = set(decision.reasons) - REASONS
    if unknown:
        return f"reasons outside the vocabulary: {sorted(unknown)}"
    return None


def report(problems: list[str]) -> str:
    shown = "\n".join(problems[:25])
    more = f"\n... and {len(problems) - 25} more" if len(problems) > 25 else ""
    return f"{len(problems)} violations:\n{shown}{more}"


def line(actor, action, resource, at, decision) -> str:
    return (
        f"{show(actor)} {action} {show(resource)} at {at.isoformat()}: "
        f"allowed={decision.allowed} reasons={list(decision.reasons)}"
    )


# -- the vocabulary ---------------------------------------------------------------------------


def test_every_action_of_the_vocabulary_concerns_some_actor_type(authz):
    triples = concerned(authz)
    missing = [
        (str(resource_type), str(action))
        for resource_type, actions in ACTIONS_BY_RESOURCE.items()
        for action in actions
        if not any(t[1:] == (action, resource_type) for t in triples)
    ]
    assert not missing, f"actions no actor type may ever take: {missing}"
    stray = {
        (rt, action)
        for _, action, rt in triples
        if action not in {str(a) for a in ACTIONS_BY_RESOURCE.get(rt, ())}
    }
    assert not stray, f"the policy concerns actions ACTIONS_BY_RESOURCE does not list: {stray}"


# -- seeded worlds, every concerned decision --------------------------------------------------


@pytest.mark.parametrize("seed", SEEDS)
def test_every_deny_has_reasons_and_every_allow_none(seed, seeded_world, authz, db_session):
    world = seeded_world(seed)
    problems = []
    for at in times_for(world, seed):
        for (actor, action, resource), decision in decide_all(
            authz, db_session, seed, world, at
        ).items():
            wrong = explained(decision)
            if wrong:
                problems.append(f"{line(actor, action, resource, at, decision)}: {wrong}")
    assert not problems, report(problems)


@pytest.mark.parametrize("seed", SEEDS)
def test_what_the_vocabulary_does_not_concern_is_not_applicable(
    seed, seeded_world, authz, db_session
):
    """Every actor, every action its type is not concerned by, in and out of its portal."""
    world = seeded_world(seed)
    at = times_for(world, seed)[0]
    triples = concerned(authz)
    portals = portal_of(world)
    checks = []
    for actor in actors_of(world):
        for resource_type in RESOURCE_TYPES:
            # One resource of the actor's own portal and one of another portal, when there are.
            by_portal = {}
            for resource in resources_of(world, resource_type):
                by_portal.setdefault(portals[resource] == portals[actor], resource)
            for action in sorted(ACTIONS_BY_RESOURCE[resource_type]):
                if (actor.type, action, resource_type) in triples:
                    continue
                checks += [Check(actor, action, r, at) for r in by_portal.values()]
    assert len(checks) > 100
    problems = []
    for check, decision in zip(checks, authz.authorize_many(db_session, checks), strict=True):
        text = line(check.actor, check.action, check.resource, at, decision)
        if decision.allowed or "action_not_applicable" not in decision.reasons:
            problems.append(f"{text}: not denied as action_not_applicable")
        elif explained(decision):
            problems.append(f"{text}: {explained(decision)}")
    assert not problems, report(problems)


@pytest.mark.parametrize("seed", SEEDS)
def test_nothing_crosses_portals(seed, seeded_world, authz, db_session):
    world = seeded_world(seed)
    portals = portal_of(world)
    problems, crossing = [], 0
    for at in times_for(world, seed):
        for (actor, action, resource), decision in decide_all(
            authz, db_session, seed, world, at
        ).items():
            if portals[actor] == portals[resource]:
                continue
            crossing += 1
            if decision.allowed or "not_member" not in decision.reasons:
                problems.append(
                    f"{line(actor, action, resource, at, decision)}: "
                    f"actor of {portals[actor]}, resource of {portals[resource]}"
                )
    assert crossing > 100, "the world has too few decisions across portals to prove anything"
    assert not problems, report(problems)


@pytest.mark.parametrize("seed", SEEDS)
def test_actions_equal_the_actions_single_checks_allow(seed, seeded_world, authz, db_session):
    world = seeded_world(seed)
    problems = []
    for at in times_for(world, seed):
        decisions = decide_all(authz, db_session, seed, world, at)
        allowed: dict[tuple[Ref, Ref], set[str]] = {}
        for (actor, action, resource), decision in decisions.items():
            if decision.allowed:
                allowed.setdefault((actor, resource), set()).add(action)
        for actor in actors_of(world):
            for resource in all_resources(world):
                found = authz.actions(db_session, actor, resource, at)
                expected = allowed.get((actor, resource), set())
                if found != sorted(set(found)):
                    problems.append(f"actions {show(actor)} {show(resource)}: unsorted {found}")
                if set(found) != expected:
                    problems.append(
                        f"actions({show(actor)}, {show(resource)}, at={at.isoformat()}) = "
                        f"{found}; single checks allow {sorted(expected)}"
                    )
    assert not problems, report(problems)


@pytest.mark.parametrize("seed", SEEDS)
def test_a_converted_guest_is_allowed_nothing(seed, seeded_world, authz, db_session):
    world = seeded_world(seed)
    guests = converted_guests(world)
    assert guests, "every world has a converted guest"
    portals = portal_of(world)
    problems, seen = [], 0
    for at in times_for(world, seed):
        for (actor, action, resource), decision in decide_all(
            authz, db_session, seed, world, at
        ).items():
            if actor not in guests:
                continue
            seen += 1
            expected = "guest_converted" if portals[actor] == portals[resource] else "not_member"
            if decision.allowed or expected not in decision.reasons:
                problems.append(f"{line(actor, action, resource, at, decision)}: want {expected}")
    assert seen
    assert not problems, report(problems)


# -- any world, any instant -------------------------------------------------------------------

OFFSETS = st.sampled_from(
    [
        dt.UTC,
        BRUSSELS,
        ZoneInfo("Pacific/Kiritimati"),  # UTC+14: already tomorrow in Brussels' eyes
        ZoneInfo("Pacific/Pago_Pago"),  # UTC-11
        dt.timezone(dt.timedelta(hours=5, minutes=45)),
    ]
)
INSTANTS = st.datetimes(
    min_value=dt.datetime(2019, 1, 1),
    max_value=dt.datetime(2027, 12, 31),
    timezones=OFFSETS,
).map(lambda t: t.replace(microsecond=0))


def _decide_pairs(authz, session, pairs, at):
    checks = [
        Check(actor, str(action), resource, at)
        for actor, resource in pairs
        for action in sorted(ACTIONS_BY_RESOURCE[resource.type])
    ]
    return checks, authz.authorize_many(session, checks)


@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(seed=st.integers(0, 10_000), at=INSTANTS, data=st.data())
def test_invariants_hold_for_any_world_at_any_instant(seed, at, data, authz, db_session, clean_db):
    """(a)-(e) on drawn pairs; and decisions depend on the Brussels date only, not the offset."""
    # A prefix per seed: the worlds of all examples sit side by side, and a replay is idempotent.
    world = random_world(seed, prefix=f"h{seed}.", **WORLD_SIZE)
    import_world(db_session, world)
    db_session.commit()
    actors, resources = actors_of(world), all_resources(world)
    pairs = data.draw(
        st.lists(
            st.tuples(st.sampled_from(actors), st.sampled_from(resources)),
            min_size=5,
            max_size=12,
            unique=True,
        ),
        label="pairs",
    )
    portals, guests = portal_of(world), converted_guests(world)
    checks, decisions = _decide_pairs(authz, db_session, pairs, at)
    allowed: dict[tuple[Ref, Ref], set[str]] = {}
    for check, decision in zip(checks, decisions, strict=True):
        text = line(check.actor, check.action, check.resource, at, decision)
        assert explained(decision) is None, f"{text}: {explained(decision)}"
        if portals[check.actor] != portals[check.resource]:
            assert not decision.allowed, f"{text}: crosses portals"
            assert {"not_member", "action_not_applicable"} & set(decision.reasons), text
        if check.actor in guests:
            assert not decision.allowed, f"{text}: a converted guest"
        if decision.allowed:
            allowed.setdefault((check.actor, check.resource), set()).add(check.action)
    for actor, resource in pairs:
        found = authz.actions(db_session, actor, resource, at)
        assert found == sorted(allowed.get((actor, resource), set())), (
            f"actions({show(actor)}, {show(resource)}, at={at.isoformat()}) = {found}"
        )

    # The same instant written with another offset, and the first second of its Brussels day,
    # decide exactly the same: the policy's clock is the Brussels date.
    local = at.astimezone(BRUSSELS)
    for same_day in (at.astimezone(dt.UTC), local.replace(hour=0, minute=0, second=0)):
        _, again = _decide_pairs(authz, db_session, pairs, same_day)
        assert again == decisions, f"{at.isoformat()} and {same_day.isoformat()} disagree"


def test_worlds_hold_every_kind_of_id():
    """Guard the generators: the sized-down worlds still hold every type the tests walk."""
    for seed in SEEDS:
        ids = ids_of(random_world(seed, **WORLD_SIZE))
        assert all(ids[t] for t in ("Portal", "PortalUser", "Domain", "DomainUser")), seed
