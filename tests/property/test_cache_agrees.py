"""On random worlds, the decision cache (decisions, facts, shapes) answers as the bare policy does.

The reads memo relies on the policy treating ids as opaque (tests/policy/test_policy_text.py);
here every concerned check of each world is decided twice, cold and warm, by an authorizer with
the cache and once by one without, and the three must agree.
"""

from __future__ import annotations

import pytest

from service.authz import Authorizer, Check, build_authorizer
from tests.property.decisions import SEEDS, concerned_triples, times_for

POLICY = "policies/access.polar"


@pytest.fixture(scope="module")
def bare() -> Authorizer:
    authz = build_authorizer([POLICY])
    assert authz.cache is None
    return authz


@pytest.mark.parametrize("seed", SEEDS)
def test_cached_decisions_equal_the_policy_on_random_worlds(
    seed, seeded_world, authz, bare, db_session
):
    assert authz.cache is not None
    world = seeded_world(seed)
    remembered_before, decided = authz.cache.read_hits, 0
    for at in times_for(world, seed):
        triples = concerned_triples(authz, world)
        checks = [Check(actor, action, resource, at) for actor, action, resource in triples]
        decided += len(checks)
        cold = authz.authorize_many(db_session, checks)
        db_session.rollback()
        warm = authz.authorize_many(db_session, checks)
        db_session.rollback()
        truth = bare.authorize_many(db_session, checks)
        db_session.rollback()
        wrong = [
            f"{c.actor.id} {c.action} {c.resource.type}:{c.resource.id} at {at:%Y-%m-%d}: "
            f"cold {d1} warm {d2} policy {t}"
            for c, d1, d2, t in zip(checks, cold, warm, truth, strict=True)
            if not d1 == d2 == t
        ]
        assert not wrong, "\n".join(wrong[:20])
    # Not vacuous: some cold checks were answered by the reads memo, without the policy.
    assert 0 < authz.cache.read_hits - remembered_before < decided
