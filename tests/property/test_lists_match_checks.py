"""Lists agree with single checks on random worlds: all listed ids are allowed, all allowed listed.

For each seed the world is imported, then at a couple of interesting times, for every
(resource type, action) of the vocabulary and every actor of both types, `list_resources` is walked
page by page with a small limit (so the cursor is used) and compared with the single checks; and
for every resource and action, so is `list_actors` for each actor type filter. Where the
vocabulary does not concern the actor type, nothing may be listed (`test_invariants` proves the
single checks deny those).
"""

from __future__ import annotations

import datetime as dt

import pytest

from service.authz import Authorizer, Decision, Ref
from tests.property.decisions import (
    SEEDS,
    Triple,
    actors_of,
    decide_all,
    resources_of,
    show,
    times_for,
    vocabulary,
)

PAGE = 3
# A list longer than every world holds means the cursor went round in circles.
MAX_PAGES = 200


def walk_resources(authz, session, actor, action, resource_type, at):
    """Follow next_cursor from the first page to the last; return the pages."""
    pages, cursor = [], None
    for _ in range(MAX_PAGES):
        ids, cursor = authz.list_resources(session, actor, action, resource_type, at, PAGE, cursor)
        pages.append(ids)
        if cursor is None:
            return pages
    raise AssertionError(f"list_resources never ended for {show(actor)} {action} {resource_type}")


def walk_actors(authz, session, action, resource, actor_type, at):
    pages, cursor = [], None
    for _ in range(MAX_PAGES):
        actors, cursor = authz.list_actors(session, action, resource, actor_type, at, PAGE, cursor)
        pages.append(actors)
        if cursor is None:
            return pages
    raise AssertionError(f"list_actors never ended for {action} {show(resource)} {actor_type}")


def allowed_in(decisions: dict[Triple, Decision], actor: Ref, action: str, resource: Ref) -> bool:
    """Return the single check's answer; what the vocabulary does not concern is never allowed."""
    decision = decisions.get((actor, action, resource))
    return decision is not None and decision.allowed


def check_pages(pages, what):
    """Every page but the last is full, the last is not over-full; return the concatenation."""
    assert all(len(page) == PAGE for page in pages[:-1]), f"{what}: short page before the end"
    assert len(pages[-1]) <= PAGE, f"{what}: page longer than the limit"
    return [item for page in pages for item in page]


def resource_mismatches(
    authz: Authorizer,
    session,
    world,
    decisions: dict[Triple, Decision],
    at: dt.datetime,
) -> list[str]:
    problems = []
    for resource_type, action in vocabulary():
        resources = resources_of(world, resource_type)
        for actor in actors_of(world):
            what = f"list_resources({show(actor)}, {action}, {resource_type}, at={at.isoformat()})"
            listed = check_pages(
                walk_resources(authz, session, actor, action, resource_type, at), what
            )
            allowed = [r.id for r in resources if allowed_in(decisions, actor, action, r)]
            if listed != sorted(set(listed)):
                problems.append(f"{what} not ascending or repeats: {listed}")
            if set(listed) != set(allowed):
                problems.append(
                    f"{what}: listed but denied {sorted(set(listed) - set(allowed))}, "
                    f"allowed but not listed {sorted(set(allowed) - set(listed))}"
                )
    return problems


def actor_mismatches(
    authz: Authorizer,
    session,
    world,
    decisions: dict[Triple, Decision],
    at: dt.datetime,
) -> list[str]:
    problems = []
    actors = actors_of(world)  # sorted by (type, id)
    for resource_type, action in vocabulary():
        for resource in resources_of(world, resource_type):
            allowed = [a for a in actors if allowed_in(decisions, a, action, resource)]
            for actor_type in (None, "DomainUser", "PortalUser"):
                what = (
                    f"list_actors({action}, {show(resource)}, actor_type={actor_type}, "
                    f"at={at.isoformat()})"
                )
                listed = check_pages(
                    walk_actors(authz, session, action, resource, actor_type, at), what
                )
                expected = [a for a in allowed if actor_type in (None, a.type)]
                listed_refs = [Ref(a.type, a.id) for a in listed]
                if listed_refs != sorted(set(listed_refs)):
                    problems.append(f"{what} not sorted by (type, id) or repeats: {listed_refs}")
                if set(listed_refs) != set(expected):
                    problems.append(
                        f"{what}: listed but denied "
                        f"{sorted(map(show, set(listed_refs) - set(expected)))}, allowed but not "
                        f"listed {sorted(map(show, set(expected) - set(listed_refs)))}"
                    )
    return problems


def report(problems: list[str]) -> str:
    shown = "\n".join(problems[:25])
    more = f"\n... and {len(problems) - 25} more" if len(problems) > 25 else ""
    return f"{len(problems)} disagreements between lists and single checks:\n{shown}{more}"


@pytest.mark.parametrize("seed", SEEDS)
def test_list_resources_matches_single_checks(seed, seeded_world, authz, db_session):
    world = seeded_world(seed)
    problems = []
    for at in times_for(world, seed):
        decisions = decide_all(authz, db_session, seed, world, at)
        problems += resource_mismatches(authz, db_session, world, decisions, at)
    assert not problems, report(problems)


@pytest.mark.parametrize("seed", SEEDS)
def test_list_actors_matches_single_checks(seed, seeded_world, authz, db_session):
    world = seeded_world(seed)
    problems = []
    for at in times_for(world, seed):
        decisions = decide_all(authz, db_session, seed, world, at)
        problems += actor_mismatches(authz, db_session, world, decisions, at)
    assert not problems, report(problems)


def test_the_worlds_allow_something_of_every_kind(seeded_world, authz, db_session):
    """Guard the guard: the random worlds must allow actions on every type, for both actor types."""
    seed = SEEDS[0]
    world = seeded_world(seed)
    seen = set()
    for at in times_for(world, seed):
        for (actor, _action, resource), decision in decide_all(
            authz, db_session, seed, world, at
        ).items():
            if decision.allowed:
                seen.add((actor.type, resource.type))
    assert seen >= {
        ("PortalUser", "Portal"),
        ("PortalUser", "PortalUser"),
        ("PortalUser", "Domain"),
        ("PortalUser", "Administration"),
        ("DomainUser", "Domain"),
        ("DomainUser", "Administration"),
        ("DomainUser", "DomainUser"),
    }
