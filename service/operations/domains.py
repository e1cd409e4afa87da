"""Governed operations on a domain: staff functions, shielding, Back Office Access, plan."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from service import models, pricing
from service.authz import Ref
from service.vocabulary import Plan

from . import states
from .base import (
    NotFound,
    Operation,
    OperationContext,
    Result,
    invalid,
    run,
    start_of_day,
)

# Plans from the smallest up: moving up is an upgrade (now), down a downgrade (1st of next month).
PLAN_ORDER = [Plan.TRIAL, Plan.MINIMAL, Plan.SMALL, Plan.MEDIUM, Plan.LARGE, Plan.UNLIMITED]


def load_domain(ctx: OperationContext, domain_id: str) -> models.Domain:
    domain = ctx.session.get(models.Domain, domain_id)
    ctx.held.append(domain)
    if domain is None:
        raise NotFound(f"No domain {domain_id!r}.")
    return domain


def _snapshot(ctx: OperationContext, domain: models.Domain) -> dict[str, Any]:
    return {"domain": states.domain(domain), "staff": states.staff(ctx.session, domain.id)}


def _staff_change(
    ctx: OperationContext, domain_id: str, function: str, user_id: str | None
) -> Result:
    """Give a staff function to `user_id`, or take it off the domain when `user_id` is None."""

    def prepare() -> Operation:
        domain = load_domain(ctx, domain_id)
        slot = ctx.session.get(models.StaffAssignment, (domain_id, function))
        if user_id is None and slot is None:
            raise NotFound(f"Domain {domain_id!r} has no {function}.")
        if user_id is not None:
            user = ctx.session.get(models.PortalUser, user_id)
            if user is None:
                raise invalid("user_id", f"no portal user {user_id!r}")
            if user.portal_id != domain.portal_id:
                raise invalid("user_id", "the user belongs to another portal")
        before = _snapshot(ctx, domain)

        def apply() -> dict[str, Any]:
            if user_id is None:
                ctx.session.delete(slot)
            elif slot is None:
                ctx.session.add(
                    models.StaffAssignment(domain_id=domain_id, function=function, user_id=user_id)
                )
            else:
                slot.user_id = user_id
            ctx.session.flush()
            return _snapshot(ctx, domain)

        return Operation(
            "remove_staff" if user_id is None else "assign_staff",
            Ref("Domain", domain_id),
            [("assign_staff", Ref("Domain", domain_id))],
            apply,
            portal_id=domain.portal_id,
            domain_id=domain_id,
            before=lambda: before,
        )

    return run(ctx, prepare)


def assign_staff(ctx: OperationContext, domain_id: str, function: str, user_id: str) -> Result:
    """Give a staff function on the domain to an employee of its portal (one holder each, D8)."""
    return _staff_change(ctx, domain_id, function, user_id)


def remove_staff(ctx: OperationContext, domain_id: str, function: str) -> Result:
    """Take a staff function off the domain."""
    return _staff_change(ctx, domain_id, function, None)


def _setting(
    ctx: OperationContext,
    domain_id: str,
    operation: str,
    action: str,
    change: Callable[[models.Domain], None],
    *,
    priced: bool,
) -> Result:
    """Change one setting of the domain, checked as `action`."""

    def prepare() -> Operation:
        domain = load_domain(ctx, domain_id)
        before = states.domain(domain)

        def apply() -> dict[str, Any]:
            change(domain)
            return {"domain": states.domain(domain)}

        return Operation(
            operation,
            Ref("Domain", domain_id),
            [(action, Ref("Domain", domain_id))],
            apply,
            portal_id=domain.portal_id,
            domain_id=domain_id,
            priced=priced,
            before=lambda: {"domain": before},
        )

    return run(ctx, prepare)


def set_shielded(ctx: OperationContext, domain_id: str, shielded: bool) -> Result:
    """Shield the domain (only staff assigned to it reach it, D7), or lift the shield."""

    def change(domain: models.Domain) -> None:
        domain.shielded = shielded

    return _setting(ctx, domain_id, "set_shielded", "manage_settings", change, priced=False)


def set_bo_access(ctx: OperationContext, domain_id: str, authorized: bool) -> Result:
    """Authorize Back Office Access for the domain (R13), or revoke it (its roles go dormant)."""
    action = "authorize_bo_access" if authorized else "revoke_bo_access"

    def change(domain: models.Domain) -> None:
        domain.bo_access_authorized = authorized

    # Seats move: dormant roles wake up, or effective ones go dormant.
    return _setting(ctx, domain_id, action, action, change, priced=True)


def change_plan(ctx: OperationContext, domain_id: str, plan: str) -> Result:
    """Change the plan: an upgrade takes effect now, a downgrade on the 1st of next month (D10)."""

    def prepare() -> Operation:
        domain = load_domain(ctx, domain_id)
        before = states.domain(domain)
        in_force = ctx.authz.plan_in_force(ctx.session, domain_id, ctx.now) or domain.plan
        downgrade = PLAN_ORDER.index(Plan(plan)) < PLAN_ORDER.index(Plan(in_force))
        effective_on = pricing.first_of_next_month(ctx.today) if downgrade else ctx.today

        def apply() -> dict[str, Any]:
            # A downgrade whose date has come is the plan now.
            domain.plan = in_force
            domain.pending_plan = None
            domain.pending_plan_from = None
            if downgrade:
                domain.pending_plan = plan
                domain.pending_plan_from = effective_on
            else:
                domain.plan = plan
            ctx.session.flush()
            _start_guest_discount(ctx, domain)
            return {"domain": states.domain(domain), "effective_on": effective_on.isoformat()}

        return Operation(
            "change_plan",
            Ref("Domain", domain_id),
            [("change_plan", Ref("Domain", domain_id))],
            apply,
            portal_id=domain.portal_id,
            domain_id=domain_id,
            priced=True,
            price_also_at=_future_points(ctx, domain, downgrade, effective_on),
            before=lambda: {"domain": before},
        )

    return run(ctx, prepare)


def _future_points(
    ctx: OperationContext, domain: models.Domain, downgrade: bool, effective_on: dt.date
) -> list[dt.datetime]:
    """The moments a plan change sets: its own date, and the end of a discount it may start."""
    points = [start_of_day(effective_on)] if downgrade else []
    if domain.guest_discount_percent is not None and domain.guest_discount_starts_on is None:
        end = pricing.add_months(ctx.today, domain.guest_discount_months or 0)
        points.append(start_of_day(end))
    return points


def _start_guest_discount(ctx: OperationContext, domain: models.Domain) -> None:
    """A converted guest's discount runs from the day the domain first has an eligible plan (R5)."""
    if domain.guest_discount_percent is None or domain.guest_discount_starts_on is not None:
        return
    if ctx.authz.bo_eligible(ctx.session, domain.id, ctx.now):
        domain.guest_discount_starts_on = ctx.today
