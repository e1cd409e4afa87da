"""The decision cache is never stale: write through one app ("worker"), check through another.

Two apps on the same database stand for two gunicorn workers: each has its own policy engine and
its own decision cache, and they share only the database and the revision board file. After every
kind of write, the second app's answers (cache warm from before the write) must equal those of an
authorizer that has no cache at all. The bench does the same across real gunicorn workers.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import delete, update

from service import models
from service.authz import Authorizer, Check, Ref, build_authorizer
from service.db import db
from service.vocabulary import Action
from tests.integration.support import act, base_world, load, statements_run

ADMIN = "PortalUser:u-admin"
BOSS = "DomainUser:du-boss"
NOW = dt.datetime(2026, 12, 4, 12, 0, tzinfo=dt.UTC)

# Pairs that read every kind of fact: staff lists, plans, roles, administrations, portal users.
PAIRS = [
    (Ref("PortalUser", "u-sub"), Ref("Domain", "d-1")),
    (Ref("PortalUser", "u-sub"), Ref("Administration", "a-1")),
    (Ref("PortalUser", "u-bo"), Ref("Domain", "d-2")),
    (Ref("PortalUser", "u-de"), Ref("Domain", "d-1")),
    (Ref("PortalUser", "u-admin"), Ref("PortalUser", "u-de")),
    (Ref("PortalUser", "u-admin"), Ref("Portal", "p-1")),
    (Ref("DomainUser", "du-ann"), Ref("Domain", "d-1")),
    (Ref("DomainUser", "du-ann"), Ref("Administration", "a-1")),
    (Ref("DomainUser", "du-boss"), Ref("DomainUser", "du-ann")),
    (Ref("DomainUser", "du-s"), Ref("Domain", "d-2")),
    (Ref("DomainUser", "du-new"), Ref("Domain", "d-1")),  # created by a write below
]
CHECKS = [
    Check(actor, action.value, resource, NOW) for actor, resource in PAIRS for action in Action
]


@pytest.fixture
def world(client: Any, clean_db: None) -> None:
    load(client, base_world())


@pytest.fixture(scope="module")
def worker_b(make_app: Any) -> Flask:
    """A second app on the same database: another worker, with its own cache."""
    return make_app()


@pytest.fixture(scope="module")
def truth() -> Authorizer:
    """The same policy without any cache: what every answer must be."""
    authz = build_authorizer(["policies/access.polar"])
    assert authz.cache is None
    return authz


def decide(app: Flask, authorizer: Authorizer, checks: list[Check] = CHECKS) -> list[Any]:
    with app.app_context():
        try:
            return authorizer.authorize_many(db.session(), checks)
        finally:
            db.session.remove()


def answers(app: Flask, authorizer: Authorizer) -> list[tuple[bool, tuple[str, ...]]]:
    return [(d.allowed, d.reasons) for d in decide(app, authorizer)]


@pytest.fixture
def compare(app: Flask, worker_b: Flask, truth: Authorizer) -> Iterator[Any]:
    """Return a function that asserts worker B agrees with the uncached truth; count its hits."""
    cached: Authorizer = worker_b.extensions["authz"]
    assert cached.cache is not None
    hits_before = cached.cache.hits

    def check(step: str) -> list[tuple[bool, tuple[str, ...]]]:
        expected = answers(app, truth)
        got = answers(worker_b, cached)
        stale = [
            f"{c.actor.id} {c.action} {c.resource.type}:{c.resource.id}: cached {g} truth {e}"
            for c, g, e in zip(CHECKS, got, expected, strict=True)
            if g != e
        ]
        assert not stale, f"after {step}, worker B answered stale:\n" + "\n".join(stale)
        return got

    check.hits = lambda: cached.cache.hits - hits_before  # type: ignore[attr-defined]
    yield check


def test_every_kind_of_write_through_one_app_is_seen_by_the_other(
    app: Flask, client: Any, world: None, compare: Any
) -> None:
    first = compare("the import")
    compare("nothing (warm cache)")
    writes = [
        ("PUT", "/v1/domains/d-1/staff/Controller", ADMIN, {"user_id": "u-sub"}),
        ("PUT", "/v1/domains/d-2/bo-access", ADMIN, {"authorized": True}),
        ("PUT", "/v1/domains/d-1/users/du-ann/roles/Backoffice", BOSS, None),
        ("PUT", "/v1/domains/d-1/shielded", ADMIN, {"shielded": True}),
        ("PUT", "/v1/portals/p-1/users/u-de/role", ADMIN, {"role": "PortalBackoffice"}),
        ("DELETE", "/v1/domains/d-1/staff/Controller", ADMIN, None),
        ("DELETE", "/v1/domains/d-1/users/du-ann/roles/Backoffice", BOSS, None),
        ("DELETE", "/v1/portals/p-1/users/u-sub", ADMIN, None),
        ("DELETE", "/v1/domains/d-1/users/du-ann", BOSS, None),
    ]
    changed = 0
    before = first
    for method, path, actor, body in writes:
        response = act(client, method, path, actor, body)
        assert response.status_code in (200, 201, 204), (path, response.json)
        after = compare(f"{method} {path}")
        changed += after != before
        before = after
    assert changed >= len(writes) - 2, "the writes were meant to change the answers"
    # Not vacuous: a write retires only its entities' decisions; B answered the rest from cache.
    assert compare.hits() > len(CHECKS) * len(writes) // 2, "worker B hardly used its cache"


def test_a_write_outside_the_orm_is_seen_too(app: Flask, world: None, compare: Any) -> None:
    before = compare("the import")
    with app.app_context(), db.engine.begin() as connection:  # Core, no session, no flush
        connection.execute(delete(models.StaffAssignment))
        connection.execute(update(models.Domain).values(plan="Minimal"))
    assert compare("a Core delete and update") != before


def test_an_entity_created_after_its_unknown_id_was_cached(
    client: Any, world: None, compare: Any
) -> None:
    before = compare("the import")  # du-new is unknown: cached as such
    response = act(
        client,
        "POST",
        "/v1/domains/d-1/users",
        BOSS,
        {"id": "du-new", "email": "nieuw@example.be", "name": "Nieuw", "roles": ["Sales"]},
    )
    assert response.status_code in (200, 201), response.json
    assert compare("du-new's creation") != before


def test_an_uncommitted_write_is_neither_seen_nor_cached_and_its_commit_is(
    app: Flask, world: None, worker_b: Flask, compare: Any
) -> None:
    cached: Authorizer = worker_b.extensions["authz"]
    before = compare("the import")
    with app.app_context():
        session = db.session()
        try:
            domain = session.get(models.Domain, "d-1")
            domain.plan = "Minimal"
            session.flush()  # written, not committed: the slot is in flight
            size = len(cached.cache.entries)
            assert compare("an uncommitted flush") == before
            touched = [c for c in CHECKS if c.resource.id in ("d-1", "a-1")]
            misses = cached.cache.misses
            decide(worker_b, cached, touched)
            assert cached.cache.misses - misses == len(touched), "a slot in flight was trusted"
            assert len(cached.cache.entries) <= size + len(CHECKS) - len(touched)
            session.commit()
        finally:
            db.session.remove()
    assert compare("its commit") != before


def test_a_rolled_back_write_leaves_the_cache_working(
    app: Flask, world: None, worker_b: Flask, compare: Any
) -> None:
    board = worker_b.extensions["revision_board"]
    before = compare("the import")
    with app.app_context():
        session = db.session()
        try:
            session.get(models.Domain, "d-1").plan = "Minimal"
            session.flush()
            assert board.in_flight() > 0
            session.rollback()
        finally:
            db.session.remove()
    assert board.in_flight() == 0
    assert compare("the rollback") == before


def test_a_cached_decision_runs_no_sql(app: Flask, world: None, worker_b: Flask) -> None:
    cached: Authorizer = worker_b.extensions["authz"]
    decide(worker_b, cached)  # warm
    with statements_run(worker_b) as statements:
        hits = cached.cache.hits
        decide(worker_b, cached)
    assert cached.cache.hits - hits == len(CHECKS)
    assert statements == []


def test_a_replaced_board_file_turns_the_cache_off_not_stale(
    app: Flask, world: None, make_app: Any, tmp_path: Any
) -> None:
    """A writer mapping a new board file (the old one deleted) is unseen: so nothing is cached."""
    board_path = tmp_path / "board"
    worker = make_app(DECISION_CACHE_BOARD=str(board_path))
    cached: Authorizer = worker.extensions["authz"]
    decide(worker, cached)
    board_path.unlink()
    writer = make_app(DECISION_CACHE_BOARD=str(board_path), LOAD_POLICY=False)  # a new file
    with writer.app_context(), db.engine.begin() as connection:
        connection.execute(delete(models.StaffAssignment))
    hits = cached.cache.hits
    got = decide(worker, cached)
    assert cached.cache.hits == hits
    assert cached.cache.detached >= len(CHECKS)
    with app.app_context():
        truth = build_authorizer(["policies/access.polar"])
        assert got == decide(app, truth)


def test_a_new_question_about_known_objects_runs_no_sql(
    app: Flask, world: None, worker_b: Flask, truth: Authorizer
) -> None:
    """The facts of an actor and a resource are cached too: another action on them needs no SQL."""
    cached: Authorizer = worker_b.extensions["authz"]
    first, *others = [c for c in CHECKS if c.actor.id == "du-ann" and c.resource.id == "d-1"]
    decide(worker_b, cached, [first])
    with statements_run(worker_b) as statements:
        misses = cached.cache.misses
        got = decide(worker_b, cached, others)
    assert cached.cache.misses - misses == len(others)  # new decisions...
    assert statements == []  # ...from cached facts
    assert got == decide(app, truth, others)


def test_kept_list_filters_follow_every_write(app: Flask, client: Any, world: None) -> None:
    """List filters are kept per (known object's facts, action, type, date): never stale."""
    from tests.integration.support import CHECK

    def listed(actor: str) -> list[str]:
        body = {
            "actor": {"type": "PortalUser", "id": actor},
            "action": "process",
            "resource_type": "Domain",
        }
        response = client.post("/v1/list-resources", json=body, headers=CHECK)
        assert response.status_code == 200, response.json
        return response.json["ids"]

    def allowed(actor: str) -> list[str]:
        checks = [
            Check(Ref("PortalUser", actor), "process", Ref("Domain", d), NOW)
            for d in ("d-1", "d-2", "d-min", "d-leg", "d-x")
        ]
        with app.app_context():
            truth = build_authorizer(["policies/access.polar"])
        decisions = decide(app, truth, checks)
        return [c.resource.id for c, d in zip(checks, decisions, strict=True) if d.allowed]

    assert listed("u-bo") == listed("u-bo") == sorted(allowed("u-bo"))
    assert "d-2" in listed("u-bo")
    # The resource side changes, the actor's facts do not: same kept filter, new rows.
    assert (
        act(client, "PUT", "/v1/domains/d-2/shielded", ADMIN, {"shielded": True}).status_code == 200
    )
    assert listed("u-bo") == sorted(allowed("u-bo")) and "d-2" not in listed("u-bo")
    # The actor's facts change: another filter.
    response = act(
        client, "PUT", "/v1/portals/p-1/users/u-bo/role", ADMIN, {"role": "PortalDataEntry"}
    )
    assert response.status_code == 200, response.json
    assert listed("u-bo") == sorted(allowed("u-bo"))


def test_a_reloaded_policy_starts_a_cache_of_its_own(
    make_app: Any, world: None, truth: Authorizer
) -> None:
    worker = make_app()
    cached: Authorizer = worker.extensions["authz"]
    decide(worker, cached)
    old = cached.cache
    counted: list[int] = []
    assert old is not None
    old.on_count = lambda hits, misses, detached: counted.append(hits + misses)
    cached.reload()
    new = cached.cache
    assert new is not None and new is not old and new.engine is cached.engine
    assert new.on_count is old.on_count  # the metrics follow the new cache
    got = decide(worker, cached)
    assert new.misses == len(CHECKS) and new.hits == 0  # nothing carried over from the old policy
    assert counted == [len(CHECKS)]
    with worker.app_context():
        assert got == decide(worker, truth)
