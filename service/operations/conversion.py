"""The legacy portal guest: conversion to Back Office Access, and the FAQ Q10 clean-up report.

domain.md section 4. For each unconverted guest and each domain where the guest is Responsible:
find the domain user with the guest's e-mail (or create one), grant it Backoffice, authorize Back
Office Access, record the 50% discount entitlement when the domain has no eligible plan, and
remove the guest's staff function there. The guest is then marked converted. Idempotent: a second
run finds no unconverted guest and converts nothing.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

from sqlalchemy import func, select

from service import audit, models, pricing
from service.authz import Ref
from service.vocabulary import DomainRole, PortalRole, StaffFunction

from . import states
from .base import (
    NotFound,
    Operation,
    OperationContext,
    Result,
    breakdown,
    ledger,
    price_points,
    remember,
    replay,
    run_rate_answer,
    write_gate,
)
from .base import _deny as deny


def _converted_user_id(guest_id: str, domain_id: str) -> str:
    """A stable id for the domain user made from a guest (so a replayed run makes the same one)."""
    digest = hashlib.sha256(f"{guest_id}\0{domain_id}".encode()).hexdigest()[:20]
    return f"conv-{digest}"


def _guests(ctx: OperationContext, portal_id: str) -> list[models.PortalUser]:
    return list(
        ctx.session.scalars(
            select(models.PortalUser)
            .where(
                models.PortalUser.portal_id == portal_id,
                models.PortalUser.role == PortalRole.PORTAL_GUEST,
                models.PortalUser.converted_at.is_(None),
            )
            .order_by(models.PortalUser.id)
        )
    )


def _responsible_domains(ctx: OperationContext, guest_id: str) -> list[models.Domain]:
    return list(
        ctx.session.scalars(
            select(models.Domain)
            .join(models.StaffAssignment, models.StaffAssignment.domain_id == models.Domain.id)
            .where(
                models.StaffAssignment.user_id == guest_id,
                models.StaffAssignment.function == StaffFunction.RESPONSIBLE,
            )
            .order_by(models.Domain.id)
        )
    )


def _has_management(ctx: OperationContext, domain_id: str) -> bool:
    stmt = (
        select(func.count())
        .select_from(models.DomainUserRole)
        .join(models.DomainUser, models.DomainUser.id == models.DomainUserRole.user_id)
        .where(
            models.DomainUser.domain_id == domain_id,
            models.DomainUserRole.role == DomainRole.MANAGEMENT,
        )
    )
    return bool(ctx.session.scalar(stmt))


def _convert_domain(
    ctx: OperationContext, guest: models.PortalUser, domain: models.Domain
) -> dict[str, Any]:
    session = ctx.session
    done: list[str] = []
    warnings: list[str] = []
    user = session.scalar(
        select(models.DomainUser).where(
            models.DomainUser.domain_id == domain.id,
            func.lower(models.DomainUser.email) == guest.email.lower(),
        )
    )
    if user is None:
        user = models.DomainUser(
            id=_converted_user_id(guest.id, domain.id),
            domain_id=domain.id,
            email=guest.email,
            name=guest.name,
            is_owner=False,
            all_administrations=True,
        )
        session.add(user)
        session.flush()
        done.append(f"created domain user {user.id}")
    else:
        done.append(f"found domain user {user.id}")
    if session.get(models.DomainUserRole, (user.id, DomainRole.BACKOFFICE)) is None:
        session.add(models.DomainUserRole(user_id=user.id, role=DomainRole.BACKOFFICE))
        session.flush()
        done.append("granted Backoffice")
    if not domain.bo_access_authorized:
        domain.bo_access_authorized = True
        done.append("authorized Back Office Access")
    session.flush()
    if not ctx.authz.bo_eligible(session, domain.id, ctx.now):
        if domain.guest_discount_percent is None:
            domain.guest_discount_percent = ctx.catalogue.discount_percent
            domain.guest_discount_months = ctx.catalogue.discount_months
            domain.guest_discount_starts_on = None
            done.append(
                f"recorded the {ctx.catalogue.discount_percent}% discount entitlement "
                "(starts when an eligible plan is activated)"
            )
        warnings.append("no eligible plan: Back Office Access stays dormant until one is active")
    slot = session.get(models.StaffAssignment, (domain.id, StaffFunction.RESPONSIBLE))
    if slot is not None and slot.user_id == guest.id:
        session.delete(slot)
        session.flush()
        done.append("removed the guest as Responsible")
        warnings.append("domain left without a Responsible")
    if not _has_management(ctx, domain.id):
        warnings.append("domain without a Management user")
    return {"domain_id": domain.id, "domain_user_id": user.id, "done": done, "warnings": warnings}


def convert_guests(ctx: OperationContext, portal_id: str, *, dry_run: bool) -> Result:
    """Convert every unconverted guest of the portal; with dry_run, report and change nothing."""
    session = ctx.session
    try:
        write_gate(session)
        replayed = replay(ctx)
        if replayed is not None:
            session.rollback()
            return replayed
        if session.get(models.Portal, portal_id) is None:
            raise NotFound(f"No portal {portal_id!r}.")
        portal_ref = Ref("Portal", portal_id)
        decision = ctx.authz.authorize(session, ctx.actor, "convert_guests", portal_ref, ctx.now)
        if not decision.allowed:
            op = Operation("convert_guests", portal_ref, [], dict, portal_id=portal_id)
            deny(ctx, op, list(decision.reasons))
        guests = _guests(ctx, portal_id)
        report: list[dict[str, Any]] = []
        # Each converted domain is priced now and at its own later dates, before and after.
        touched: dict[str, tuple[list[dt.datetime], list[pricing.Breakdown]]] = {}
        for guest in guests:
            entries = []
            for domain in _responsible_domains(ctx, guest.id):
                if domain.id not in touched:
                    points = price_points(ctx, domain.id)
                    touched[domain.id] = (points, [breakdown(ctx, domain.id, p) for p in points])
                entries.append(_convert_domain(ctx, guest, domain))
            guest.converted_at = ctx.now
            report.append(
                {
                    "guest_id": guest.id,
                    "email": guest.email,
                    "domains": entries,
                    "warnings": [] if entries else ["no domain where the guest is Responsible"],
                }
            )
        session.flush()
        changes = {}
        for domain_id, (points, before) in sorted(touched.items()):
            after = [breakdown(ctx, domain_id, p) for p in points]
            scheduled = pricing.schedule(
                ctx.catalogue, list(zip(points, before, after, strict=True))
            )
            if scheduled:
                changes[domain_id] = scheduled
        body: dict[str, Any] = {
            "dry_run": dry_run,
            "converted": len(guests),
            "guests": report,
            "run_rate_changes": {d: run_rate_answer(ctx, c) for d, c in changes.items()},
        }
        if not guests:
            body["message"] = "No unconverted guest in this portal: nothing to convert."
        if dry_run:
            session.rollback()  # the report is all a dry run keeps
            return Result(200, body)
        event = audit.append(
            session,
            actor=ctx.actor_label,
            operation="convert_guests",
            outcome="allowed",
            target_type="Portal",
            target_id=portal_id,
            portal_id=portal_id,
            before=None,
            after={"converted": [g["guest_id"] for g in report]},
            run_rate_change=body["run_rate_changes"] or None,
            api_key=ctx.api_key,
            request_id=ctx.request_id,
            at=ctx.now,
        )
        for domain_id, scheduled in changes.items():
            ledger(ctx, domain_id, "convert_guests", scheduled, event.id)
        body["audit_event_id"] = event.id
        result = Result(200, body)
        remember(ctx, result)
        session.commit()
        return result
    except BaseException:
        if session.in_transaction():
            session.rollback()
        raise


def guest_report(ctx: OperationContext, portal_id: str) -> dict[str, Any]:
    """The FAQ Q10 clean-up report: every guest, their domains, and who is left in each domain."""
    session = ctx.session
    if session.get(models.Portal, portal_id) is None:
        raise NotFound(f"No portal {portal_id!r}.")
    guests = session.scalars(
        select(models.PortalUser)
        .where(
            models.PortalUser.portal_id == portal_id,
            models.PortalUser.role == PortalRole.PORTAL_GUEST,
        )
        .order_by(models.PortalUser.id)
    )
    out = []
    for guest in guests:
        domains = []
        for slot in session.scalars(
            select(models.StaffAssignment)
            .where(models.StaffAssignment.user_id == guest.id)
            .order_by(models.StaffAssignment.domain_id, models.StaffAssignment.function)
        ):
            users = session.scalar(
                select(func.count())
                .select_from(models.DomainUser)
                .where(models.DomainUser.domain_id == slot.domain_id)
            )
            domains.append(
                {
                    "domain_id": slot.domain_id,
                    "function": slot.function,
                    "has_domain_user": bool(users),
                    "has_management_user": _has_management(ctx, slot.domain_id),
                }
            )
        out.append(
            {
                "guest": states.portal_user(guest),
                "converted": guest.converted_at is not None,
                "domains": domains,
            }
        )
    return {"portal_id": portal_id, "guests": out}
