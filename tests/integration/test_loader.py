"""Facts are loaded in one statement, which reads one snapshot: in the caller's transaction when
it has one, else on its own (on PostgreSQL in autocommit mode, with no BEGIN and no ROLLBACK)."""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

import pytest
from flask import Flask

from service import models
from service.authz import Authorizer, Ref, build_authorizer, loader
from service.db import db
from tests.integration.support import base_world, load, statements_run

NOW = dt.datetime(2026, 12, 4, 12, 0, tzinfo=dt.UTC)
# Every type, with ids that exist (with and without relations) and one that does not.
IDS = {
    "Portal": ["p-1", "p-2", "p-none"],
    "PortalUser": ["u-admin", "u-sub", "u-guest", "x-admin", "u-none"],
    "Domain": ["d-1", "d-2", "d-leg", "d-none"],
    "Administration": ["a-1", "a-x", "a-none"],
    "DomainUser": ["du-boss", "du-ann", "du-s", "du-none"],
}


@pytest.fixture
def world(client: Any, clean_db: None) -> None:
    load(client, base_world())


@pytest.fixture(scope="module")
def uncached() -> Authorizer:
    return build_authorizer(["policies/access.polar"])


def canonical(obj: Any) -> tuple[Any, ...]:
    """A fact object's content, its lists as sorted tuples (row order is the database's)."""
    values: list[Any] = [type(obj).__name__]
    for name in obj.__slots__:
        value = getattr(obj, name)
        if isinstance(value, list):
            value = tuple(sorted(tuple(sorted(item.items())) for item in value))
        elif hasattr(value, "__slots__"):
            value = canonical(value)
        values.append(value)
    return tuple(values)


def test_one_statement_loads_what_one_statement_per_type_loads(app: Flask, world: None) -> None:
    names = sorted(IDS)
    compared = 0
    with app.app_context():
        session = db.session()
        try:
            for size in range(1, len(names) + 1):
                for types in itertools.combinations(names, size):
                    for pick in (1, 2, None):  # one id (`= :id`), two, all (`IN`)
                        wanted = {t: set(IDS[t][:pick]) for t in types}
                        together = loader.load_refs(session.connection(), wanted)
                        for t in types:
                            alone = loader.load(session, t, wanted[t])
                            assert together.get(t, {}).keys() == alone.keys(), (t, wanted)
                            for oid, obj in alone.items():
                                assert canonical(together[t][oid]) == canonical(obj)
                                compared += 1
        finally:
            db.session.remove()
    assert compared > 300  # every type set, with objects found in each (464 on the base world)


def test_an_uncached_check_reads_its_facts_in_one_statement_outside_a_transaction(
    app: Flask, world: None, uncached: Authorizer, db_kind: str
) -> None:
    with statements_run(app) as seen, app.app_context():
        try:
            decision = uncached.authorize(
                db.session, Ref("DomainUser", "du-ann"), "use_sales", Ref("Domain", "d-1"), NOW
            )
        finally:
            db.session.remove()
    assert decision.allowed
    assert len(seen) == 1
    if db_kind == "postgresql":
        assert seen[0][1] is True  # autocommit: no BEGIN, no ROLLBACK around it


def test_a_check_inside_a_transaction_reads_that_transaction(
    app: Flask, world: None, uncached: Authorizer, db_kind: str
) -> None:
    """A governed operation checks what it is about to write: its own uncommitted rows."""
    check = (Ref("PortalUser", "u-bo"), "open", Ref("Domain", "d-2"), NOW)
    with app.app_context():
        session = db.session()
        try:
            session.get(models.Domain, "d-2").shielded = True
            session.flush()
            with statements_run(app) as seen:
                inside = uncached.authorize(session, *check)
        finally:
            session.rollback()
            db.session.remove()
    assert not inside.allowed and inside.reasons == ("domain_shielded",)
    assert len(seen) == 1
    if db_kind == "postgresql":
        assert seen[0][1] is False  # in the operation's transaction
    with app.app_context():
        try:
            outside = uncached.authorize(db.session, *check)  # the write was rolled back
        finally:
            db.session.remove()
    assert outside.allowed


def test_a_batch_reads_one_snapshot(
    app: Flask, world: None, uncached: Authorizer, db_kind: str
) -> None:
    """More than one check's objects: SQLite still takes one statement; PostgreSQL one per type,
    all in one transaction (which it runs faster than their union)."""
    refs = [Ref("DomainUser", "du-ann"), Ref("Domain", "d-1"), Ref("Administration", "a-1")]
    refs += [Ref("PortalUser", "u-bo"), Ref("Domain", "d-2")]
    with statements_run(app) as seen, app.app_context():
        try:
            session = db.session()
            loaded = uncached._load_refs(session, refs)
            in_transaction = session.in_transaction()
        finally:
            db.session.remove()
    assert sorted(loaded) == sorted(refs)
    assert loaded[Ref("Domain", "d-1")].staff == [{"user_id": "u-bo", "function": "Responsible"}]
    assert loaded[Ref("Administration", "a-1")].domain.id == "d-1"
    if db_kind == "postgresql":
        assert len(seen) == 4  # one per type
        assert in_transaction and not any(autocommit for _, autocommit in seen)
    else:
        assert len(seen) == 1
