"""Governed operations on a portal: its users (create, re-role, delete) and new domains."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete

from service import models
from service.authz import Ref
from service.vocabulary import SCOPABLE_ROLES, PortalRole, Scope

from . import states
from .base import (
    Conflict,
    NotFound,
    Operation,
    OperationContext,
    Result,
    invalid,
    run,
)


def _portal(ctx: OperationContext, portal_id: str) -> models.Portal:
    portal = ctx.session.get(models.Portal, portal_id)
    if portal is None:
        raise NotFound(f"No portal {portal_id!r}.")
    return portal


def _portal_user(ctx: OperationContext, portal_id: str, user_id: str) -> models.PortalUser:
    _portal(ctx, portal_id)
    user = ctx.session.get(models.PortalUser, user_id)
    if user is None or user.portal_id != portal_id:
        raise NotFound(f"No user {user_id!r} in portal {portal_id!r}.")
    return user


def _check_scope(role: str, scope: str) -> None:
    if scope == Scope.ASSIGNED and role not in SCOPABLE_ROLES:
        raise invalid(
            "scope", "only PortalBackoffice and PortalDataEntry may have scope 'assigned'"
        )


def create_user(ctx: OperationContext, portal_id: str, data: dict[str, Any]) -> Result:
    """Create an office employee; a PortalGuest only before the cut-off (as create_guest)."""

    def prepare() -> Operation:
        _portal(ctx, portal_id)
        _check_scope(data["role"], data["scope"])
        action = "create_guest" if data["role"] == PortalRole.PORTAL_GUEST else "create_user"

        def apply() -> dict[str, Any]:
            # After the policy: an outsider learns nothing about which ids exist.
            if ctx.session.get(models.PortalUser, data["id"]) is not None:
                raise Conflict(f"A portal user {data['id']!r} already exists.")
            user = models.PortalUser(
                id=data["id"],
                portal_id=portal_id,
                email=data["email"],
                name=data["name"],
                role=data["role"],
                scope=data["scope"],
                created_at=ctx.now,
            )
            ctx.session.add(user)
            ctx.session.flush()
            return {"user": states.portal_user(user)}

        return Operation(
            "create_portal_user",
            Ref("PortalUser", data["id"]),
            [(action, Ref("Portal", portal_id))],
            apply,
            portal_id=portal_id,
            status=201,
        )

    return run(ctx, prepare)


def change_role(
    ctx: OperationContext, portal_id: str, user_id: str, data: dict[str, Any]
) -> Result:
    """Give an office employee another role or scope (R16); making a guest needs create_guest."""

    def prepare() -> Operation:
        user = _portal_user(ctx, portal_id, user_id)
        scope = data.get("scope") or Scope.PORTAL.value
        _check_scope(data["role"], scope)
        checks = [("change_role", Ref("PortalUser", user_id))]
        if data["role"] == PortalRole.PORTAL_GUEST and user.role != PortalRole.PORTAL_GUEST:
            checks.append(("create_guest", Ref("Portal", portal_id)))
        before = {"user": states.portal_user(user)}

        def apply() -> dict[str, Any]:
            if user.converted_at is not None:
                raise Conflict(
                    "A converted guest keeps no portal rights and cannot be given a role; "
                    "create a new portal user instead."
                )
            user.role = data["role"]
            user.scope = scope
            return {"user": states.portal_user(user)}

        return Operation(
            "change_portal_user_role",
            Ref("PortalUser", user_id),
            checks,
            apply,
            portal_id=portal_id,
            before=lambda: before,
        )

    return run(ctx, prepare)


def delete_user(ctx: OperationContext, portal_id: str, user_id: str) -> Result:
    """Delete an office employee, guests included, with their staff functions (R16)."""

    def prepare() -> Operation:
        user = _portal_user(ctx, portal_id, user_id)
        before = {
            "user": states.portal_user(user),
            "staff": [
                {"domain_id": s.domain_id, "function": s.function}
                for s in ctx.session.query(models.StaffAssignment).filter_by(user_id=user_id)
            ],
        }

        def apply() -> dict[str, Any]:
            ctx.session.execute(
                delete(models.StaffAssignment).where(models.StaffAssignment.user_id == user_id)
            )
            ctx.session.delete(user)
            return {"deleted": {"type": "PortalUser", "id": user_id}}

        return Operation(
            "delete_portal_user",
            Ref("PortalUser", user_id),
            [("delete", Ref("PortalUser", user_id))],
            apply,
            portal_id=portal_id,
            before=lambda: before,
        )

    return run(ctx, prepare)


def create_domain(ctx: OperationContext, portal_id: str, data: dict[str, Any]) -> Result:
    """Create a client domain, optionally with its owner (a Management domain user)."""

    def prepare() -> Operation:
        _portal(ctx, portal_id)
        owner = data.get("owner")

        def apply() -> dict[str, Any]:
            # After the policy: an outsider learns nothing about which ids exist.
            if ctx.session.get(models.Domain, data["id"]) is not None:
                raise Conflict(f"A domain {data['id']!r} already exists.")
            if owner and ctx.session.get(models.DomainUser, owner["id"]) is not None:
                raise Conflict(f"A domain user {owner['id']!r} already exists.")
            domain = models.Domain(
                id=data["id"],
                portal_id=portal_id,
                name=data["name"],
                plan=data["plan"],
                pricing_model=data["pricing_model"],
                shielded=False,
                bo_access_authorized=False,
            )
            ctx.session.add(domain)
            ctx.session.flush()
            users = []
            if owner:
                user = models.DomainUser(
                    id=owner["id"],
                    domain_id=domain.id,
                    email=owner["email"],
                    name=owner["name"],
                    is_owner=True,
                    all_administrations=True,
                )
                ctx.session.add(user)
                ctx.session.flush()
                ctx.session.add(models.DomainUserRole(user_id=user.id, role="Management"))
                ctx.session.flush()
                users = [states.domain_user(ctx.session, user)]
            return {"domain": states.domain(domain), "users": users}

        return Operation(
            "create_domain",
            Ref("Domain", data["id"]),
            [("create_domain", Ref("Portal", portal_id))],
            apply,
            portal_id=portal_id,
            domain_id=data["id"],
            priced=True,
            status=201,
        )

    return run(ctx, prepare)
