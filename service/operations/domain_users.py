"""Governed operations on a domain's users: add, delete, grant and revoke roles."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, func, select

from service import models
from service.authz import Ref
from service.vocabulary import DomainRole

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
from .domains import load_domain


def _domain_user(ctx: OperationContext, domain_id: str, user_id: str) -> models.DomainUser:
    load_domain(ctx, domain_id)
    user = ctx.session.get(models.DomainUser, user_id)
    if user is None or user.domain_id != domain_id:
        raise NotFound(f"No user {user_id!r} in domain {domain_id!r}.")
    return user


def add_user(ctx: OperationContext, domain_id: str, data: dict[str, Any]) -> Result:
    """Add a user to the domain (manage_users; add_extra_user beyond the included user;
    grant_backoffice when the roles hold Backoffice)."""

    def prepare() -> Operation:
        domain = load_domain(ctx, domain_id)
        administrations = sorted(set(data.get("administrations") or []))
        if administrations:
            known = set(
                ctx.session.scalars(
                    select(models.Administration.id).where(
                        models.Administration.domain_id == domain_id,
                        models.Administration.id.in_(administrations),
                    )
                )
            )
            unknown = [a for a in administrations if a not in known]
            if unknown:
                raise invalid("administrations", f"not administrations of this domain: {unknown}")
        roles = sorted(set(data.get("roles") or []))
        users = ctx.session.scalar(
            select(func.count())
            .select_from(models.DomainUser)
            .where(models.DomainUser.domain_id == domain_id)
        )
        domain_ref = Ref("Domain", domain_id)
        checks = [("manage_users", domain_ref)]
        if (users or 0) >= ctx.catalogue.users_included:
            checks.append(("add_extra_user", domain_ref))
        if DomainRole.BACKOFFICE in roles:
            checks.append(("grant_backoffice", domain_ref))

        def apply() -> dict[str, Any]:
            # After the policy: an outsider learns nothing about which ids exist.
            if ctx.session.get(models.DomainUser, data["id"]) is not None:
                raise Conflict(f"A domain user {data['id']!r} already exists.")
            user = models.DomainUser(
                id=data["id"],
                domain_id=domain_id,
                email=data["email"],
                name=data["name"],
                is_owner=False,
                all_administrations=not administrations,
            )
            ctx.session.add(user)
            ctx.session.flush()
            for role in roles:
                ctx.session.add(models.DomainUserRole(user_id=user.id, role=role))
            for aid in administrations:
                ctx.session.add(
                    models.DomainUserAdministration(user_id=user.id, administration_id=aid)
                )
            ctx.session.flush()
            return {"user": states.domain_user(ctx.session, user)}

        return Operation(
            "add_domain_user",
            Ref("DomainUser", data["id"]),
            checks,
            apply,
            portal_id=domain.portal_id,
            domain_id=domain_id,
            priced=True,
            status=201,
        )

    return run(ctx, prepare)


def delete_user(ctx: OperationContext, domain_id: str, user_id: str) -> Result:
    """Delete a domain user; never the owner (checked by the policy as `owner_protected`)."""

    def prepare() -> Operation:
        user = _domain_user(ctx, domain_id, user_id)
        domain = load_domain(ctx, domain_id)
        before = states.domain_user(ctx.session, user)

        def apply() -> dict[str, Any]:
            ctx.session.execute(
                delete(models.DomainUserRole).where(models.DomainUserRole.user_id == user_id)
            )
            ctx.session.execute(
                delete(models.DomainUserAdministration).where(
                    models.DomainUserAdministration.user_id == user_id
                )
            )
            ctx.session.delete(user)
            return {"deleted": {"type": "DomainUser", "id": user_id}}

        return Operation(
            "delete_domain_user",
            Ref("DomainUser", user_id),
            [("delete", Ref("DomainUser", user_id))],
            apply,
            portal_id=domain.portal_id,
            domain_id=domain_id,
            priced=True,
            before=lambda: {"user": before},
        )

    return run(ctx, prepare)


def _role_change(
    ctx: OperationContext, domain_id: str, user_id: str, role: str, *, granting: bool
) -> Result:
    """Grant or revoke one role of a domain user, checked and priced like every operation."""
    if role == DomainRole.BACKOFFICE:
        # Granting needs authorization and an eligible plan; taking it away is user management.
        action = "grant_backoffice" if granting else "manage_users"
        checks = [(action, Ref("Domain", domain_id))]
    else:
        checks = [("grant_role", Ref("DomainUser", user_id))]

    def prepare() -> Operation:
        user = _domain_user(ctx, domain_id, user_id)
        domain = load_domain(ctx, domain_id)
        before = states.domain_user(ctx.session, user)

        def apply() -> dict[str, Any]:
            held = ctx.session.get(models.DomainUserRole, (user_id, role))
            if granting and held is None:
                ctx.session.add(models.DomainUserRole(user_id=user_id, role=role))
            elif not granting:
                # Checked after the policy: only someone allowed to manage roles learns these.
                if held is None:
                    raise NotFound(f"User {user_id!r} does not hold {role}.")
                if user.is_owner and role == DomainRole.MANAGEMENT:
                    raise Conflict("The owner always holds Management; transfer ownership first.")
                ctx.session.delete(held)
            ctx.session.flush()
            return {"user": states.domain_user(ctx.session, user)}

        return Operation(
            "grant_role" if granting else "revoke_role",
            Ref("DomainUser", user_id),
            checks,
            apply,
            portal_id=domain.portal_id,
            domain_id=domain_id,
            priced=True,
            before=lambda: {"user": before},
        )

    return run(ctx, prepare)


def grant_role(ctx: OperationContext, domain_id: str, user_id: str, role: str) -> Result:
    """Grant a role; Backoffice is checked as the domain's grant_backoffice (R12-R14)."""
    return _role_change(ctx, domain_id, user_id, role, granting=True)


def revoke_role(ctx: OperationContext, domain_id: str, user_id: str, role: str) -> Result:
    """Take a role away; the owner always keeps Management."""
    return _role_change(ctx, domain_id, user_id, role, granting=False)
