"""The reads memo: a decision is reused where the facts agree with what the policy read."""

from __future__ import annotations

from typing import Any

from service.authz import facts
from service.authz.engine import Decision
from service.authz.reads import ReadsMemo


def domain(did: str, portal: str = "p-1", plan: str = "Medium", staff: Any = ()) -> facts.Domain:
    return facts.Domain(did, portal, plan, "bundle", False, True, staff=list(staff))


def user(uid: str, portal: str = "p-1", role: str = "PortalBackoffice") -> facts.PortalUser:
    return facts.PortalUser(uid, portal, role, "portal")


class Policy:
    """A stand-in policy: same portal, and a plan other than Minimal; counts its runs."""

    def __init__(self) -> None:
        self.runs = 0

    def decide(self, actor: Any, action: str, resource: Any, ctx: dict[str, Any]) -> Decision:
        self.runs += 1
        if actor.portal_id != resource.portal_id:
            return Decision(False, ("not_member",))
        if resource.plan == "Minimal":
            return Decision(False, ("plan_not_eligible",))
        return Decision(True)


def test_facts_that_agree_where_the_policy_looked_reuse_the_decision():
    memo, policy = ReadsMemo(100), Policy()
    first, hit = memo.decide(policy.decide, user("u-1"), "open", domain("d-1"), "2026-12-04")
    assert first.allowed and not hit
    # Other ids, other staff, other pricing: never read, so the same decision, without a run.
    other = domain("d-2", staff=[{"user_id": "u-9", "function": "Responsible"}])
    again, hit = memo.decide(policy.decide, user("u-2"), "open", other, "2026-12-04")
    assert again == first and hit and policy.runs == 1


def test_a_difference_where_the_policy_looked_runs_the_policy():
    memo, policy = ReadsMemo(100), Policy()
    memo.decide(policy.decide, user("u-1"), "open", domain("d-1"), "2026-12-04")
    minimal, hit = memo.decide(
        policy.decide, user("u-1"), "open", domain("d-1", plan="Minimal"), "2026-12-04"
    )
    assert not hit and minimal.reasons == ("plan_not_eligible",)
    # Ids are renamed, not ignored: the equality of the two portal ids is part of the key.
    elsewhere, hit = memo.decide(
        policy.decide, user("u-1", portal="p-2"), "open", domain("d-1"), "2026-12-04"
    )
    assert not hit and elsewhere.reasons == ("not_member",)
    # Another action is another question.
    _, hit = memo.decide(policy.decide, user("u-1"), "view", domain("d-1"), "2026-12-04")
    assert not hit
    assert policy.runs == 4


class DatedPolicy(Policy):
    """Reads the date only for domains with a pending plan, as `plan_in_force` does."""

    def decide(self, actor: Any, action: str, resource: Any, ctx: Any) -> Decision:
        self.runs += 1
        if resource.pending_plan is not None and resource.pending_plan_from <= ctx.date:
            return Decision(False, ("plan_not_eligible",))
        return Decision(True)


def test_the_date_is_part_of_the_key_only_where_the_policy_read_it():
    memo, policy = ReadsMemo(100), DatedPolicy()
    plain = domain("d-1")
    memo.decide(policy.decide, user("u-1"), "open", plain, "2026-12-04")
    # The date was never read: another date reuses the decision.
    again, hit = memo.decide(policy.decide, user("u-1"), "open", plain, "2031-01-01")
    assert hit and again.allowed and policy.runs == 1
    pending = domain("d-2")
    pending.pending_plan, pending.pending_plan_from = "Minimal", "2027-01-01"
    before, hit = memo.decide(policy.decide, user("u-1"), "open", pending, "2026-12-31")
    assert not hit and before.allowed
    # Read here: a date on the other side of the downgrade runs the policy again...
    after, hit = memo.decide(policy.decide, user("u-1"), "open", pending, "2027-01-01")
    assert not hit and not after.allowed
    # ...and the same date is answered from memory.
    same, hit = memo.decide(policy.decide, user("u-1"), "open", pending, "2027-01-01")
    assert hit and same == after and policy.runs == 3


def test_the_policy_sees_objects_of_its_own_classes():
    seen: list[Any] = []

    def decide(actor: Any, action: str, resource: Any, ctx: dict[str, Any]) -> Decision:
        seen.extend([actor, resource])
        return Decision(True)

    adm = facts.Administration("a-1", "d-1", domain("d-1"))
    ReadsMemo(10).decide(decide, user("u-1"), "access", adm, "2026-12-04")
    assert isinstance(seen[0], facts.PortalUser) and isinstance(seen[1], facts.Administration)
    assert type(seen[1]).__name__ == "Administration"
    assert isinstance(seen[1].domain, facts.Domain)


def test_the_memo_is_bounded():
    memo, policy = ReadsMemo(3), Policy()
    for n in range(10):
        memo.decide(policy.decide, user("u-1"), "open", domain("d-1", plan=f"P{n}"), "2026-12-04")
    assert memo.entries <= 3


def test_a_nested_fact_read_twice_is_the_same_object():
    seen: list[Any] = []

    def decide(actor: Any, action: str, resource: Any, ctx: dict[str, Any]) -> Decision:
        seen.extend([resource.domain, resource.domain])
        return Decision(True)

    adm = facts.Administration("a-1", "d-1", domain("d-1"))
    ReadsMemo(10).decide(decide, user("u-1"), "access", adm, "2026-12-04")
    assert seen[0] is seen[1]


class BranchingPolicy(Policy):
    """Reads the portals only when the plan is not Minimal: two paths through the reads."""

    def decide(self, actor: Any, action: str, resource: Any, ctx: Any) -> Decision:
        self.runs += 1
        if resource.plan == "Minimal":
            return Decision(False, ("plan_not_eligible",))
        if actor.portal_id != resource.portal_id:
            return Decision(False, ("not_member",))
        return Decision(True)


def test_each_path_of_reads_is_remembered_and_found_in_one_walk():
    memo, policy = ReadsMemo(100), BranchingPolicy()
    day = "2026-12-04"
    asks = [
        (user("u-1"), domain("d-1", plan="Minimal"), False, ("plan_not_eligible",)),
        (user("u-1"), domain("d-2"), False, ()),
        # The Minimal path never read the portals: another portal changes nothing.
        (user("u-2", portal="p-9"), domain("d-3", plan="Minimal"), True, ("plan_not_eligible",)),
        (user("u-3"), domain("d-4"), True, ()),
        (user("u-3", portal="p-2"), domain("d-4"), False, ("not_member",)),
        (user("u-4", portal="p-3"), domain("d-5", portal="p-4"), True, ("not_member",)),
    ]
    for actor, resource, expect_hit, reasons in asks:
        decision, hit = memo.decide(policy.decide, actor, "open", resource, day)
        assert hit is expect_hit, (actor, resource)
        assert decision.reasons == reasons and decision.allowed is (not reasons)
    assert policy.runs == 3


def test_a_policy_that_reads_differently_on_the_same_facts_is_not_remembered():
    class Fickle(Policy):
        def decide(self, actor: Any, action: str, resource: Any, ctx: Any) -> Decision:
            self.runs += 1
            _ = resource.plan if self.runs % 2 else resource.portal_id
            return Decision(self.runs % 2 == 1)

    memo, policy = ReadsMemo(100), Fickle()
    first, _ = memo.decide(policy.decide, user("u-1"), "open", domain("d-1"), "2026-12-04")
    assert first.allowed and memo.entries == 1
    # Kept: the plan read. Asked about the same plan, the memo answers; a new plan runs the
    # stand-in, which now reads another field first: that path contradicts the tree, so it is
    # answered (as computed) but not kept.
    other, hit = memo.decide(policy.decide, user("u-1"), "open", domain("d-1", plan="Large"), "x")
    assert not hit and not other.allowed and memo.entries == 1
