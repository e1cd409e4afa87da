"""The state of records as operations answer it and the audit trail records it (import format)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from service import models


def _iso(value: Any) -> str | None:
    return None if value is None else value.isoformat()


def portal_user(user: models.PortalUser) -> dict[str, Any]:
    return {
        "id": user.id,
        "portal_id": user.portal_id,
        "email": user.email,
        "name": user.name,
        "role": user.role,
        "scope": user.scope,
        "created_at": _iso(user.created_at),
        "converted_at": _iso(user.converted_at),
    }


def domain(d: models.Domain) -> dict[str, Any]:
    discount = None
    if d.guest_discount_percent is not None:
        discount = {
            "percent": d.guest_discount_percent,
            "months": d.guest_discount_months,
            "starts_on": _iso(d.guest_discount_starts_on),
        }
    return {
        "id": d.id,
        "portal_id": d.portal_id,
        "name": d.name,
        "plan": d.plan,
        "pricing_model": d.pricing_model,
        "shielded": d.shielded,
        "bo_access_authorized": d.bo_access_authorized,
        "pending_plan": d.pending_plan,
        "pending_plan_from": _iso(d.pending_plan_from),
        "guest_discount": discount,
    }


def staff(session: Session, domain_id: str) -> list[dict[str, str]]:
    rows = session.scalars(
        select(models.StaffAssignment)
        .where(models.StaffAssignment.domain_id == domain_id)
        .order_by(models.StaffAssignment.function)
    )
    return [{"domain_id": r.domain_id, "user_id": r.user_id, "function": r.function} for r in rows]


def domain_users(session: Session, domain_id: str) -> list[dict[str, Any]]:
    users = list(
        session.scalars(
            select(models.DomainUser)
            .where(models.DomainUser.domain_id == domain_id)
            .order_by(models.DomainUser.id)
        )
    )
    return [domain_user(session, u) for u in users]


def domain_user(session: Session, user: models.DomainUser) -> dict[str, Any]:
    roles = sorted(
        session.scalars(
            select(models.DomainUserRole.role).where(models.DomainUserRole.user_id == user.id)
        )
    )
    administrations = sorted(
        session.scalars(
            select(models.DomainUserAdministration.administration_id).where(
                models.DomainUserAdministration.user_id == user.id
            )
        )
    )
    return {
        "id": user.id,
        "domain_id": user.domain_id,
        "email": user.email,
        "name": user.name,
        "roles": roles,
        "is_owner": user.is_owner,
        "administrations": administrations,
    }
