"""Load the facts a check needs: one SQL statement per object type, for any number of ids.

A single check therefore costs two statements (its actor, its resource); a batch costs at most one
statement per distinct type it mentions.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from service import models

from . import facts


def _iso(value: Any) -> str | None:
    return None if value is None else value.isoformat()


def load_portals(session: Session, ids: Collection[str]) -> dict[str, facts.Portal]:
    rows = session.execute(select(models.Portal.id).where(models.Portal.id.in_(ids)))
    return {pid: facts.Portal(pid) for (pid,) in rows}


def load_portal_users(session: Session, ids: Collection[str]) -> dict[str, facts.PortalUser]:
    t = models.PortalUser
    rows = session.execute(
        select(t.id, t.portal_id, t.role, t.scope, t.converted_at).where(t.id.in_(ids))
    )
    return {
        uid: facts.PortalUser(uid, portal_id, role, scope, _iso(converted_at))
        for uid, portal_id, role, scope, converted_at in rows
    }


def _domain_columns() -> tuple[Any, ...]:
    d, s = models.Domain, models.StaffAssignment
    return (
        d.id,
        d.portal_id,
        d.plan,
        d.pricing_model,
        d.shielded,
        d.bo_access_authorized,
        d.pending_plan,
        d.pending_plan_from,
        s.user_id,
        s.function,
    )


def _domain_from_row(row: Any, cache: dict[str, facts.Domain]) -> facts.Domain:
    did, portal_id, plan, pricing, shielded, authorized, pending, pending_from, user, fn = row
    domain = cache.get(did)
    if domain is None:
        domain = cache[did] = facts.Domain(
            did,
            portal_id,
            plan,
            pricing,
            bool(shielded),
            bool(authorized),
            pending,
            _iso(pending_from),
        )
    if user is not None:
        domain.staff.append({"user_id": user, "function": fn})
    return domain


def load_domains(session: Session, ids: Collection[str]) -> dict[str, facts.Domain]:
    d, s = models.Domain, models.StaffAssignment
    rows = session.execute(
        select(*_domain_columns())
        .select_from(d)
        .outerjoin(s, s.domain_id == d.id)
        .where(d.id.in_(ids))
    )
    found: dict[str, facts.Domain] = {}
    for row in rows:
        _domain_from_row(tuple(row), found)
    return found


def load_administrations(session: Session, ids: Collection[str]) -> dict[str, facts.Administration]:
    a, d, s = models.Administration, models.Domain, models.StaffAssignment
    rows = session.execute(
        select(a.id, *_domain_columns())
        .select_from(a)
        .join(d, d.id == a.domain_id)
        .outerjoin(s, s.domain_id == d.id)
        .where(a.id.in_(ids))
    )
    domains: dict[str, facts.Domain] = {}
    found: dict[str, facts.Administration] = {}
    for row in rows:
        aid, *rest = tuple(row)
        domain = _domain_from_row(tuple(rest), domains)
        if aid not in found:
            found[aid] = facts.Administration(aid, domain.id, domain)
    return found


def load_domain_users(session: Session, ids: Collection[str]) -> dict[str, facts.DomainUser]:
    u, r, a = models.DomainUser, models.DomainUserRole, models.DomainUserAdministration
    rows = session.execute(
        select(u.id, u.domain_id, u.is_owner, u.all_administrations, r.role, a.administration_id)
        .select_from(u)
        .outerjoin(r, r.user_id == u.id)
        .outerjoin(a, a.user_id == u.id)
        .where(u.id.in_(ids))
    )
    found: dict[str, facts.DomainUser] = {}
    for uid, domain_id, is_owner, all_adm, role, adm in rows:
        user = found.get(uid)
        if user is None:
            user = found[uid] = facts.DomainUser(uid, domain_id, bool(is_owner), bool(all_adm))
        if role is not None and {"role": role} not in user.roles:
            user.roles.append({"role": role})
        if adm is not None and {"administration_id": adm} not in user.administrations:
            user.administrations.append({"administration_id": adm})
    return found


LOADERS: dict[str, Any] = {
    "Portal": load_portals,
    "PortalUser": load_portal_users,
    "Domain": load_domains,
    "Administration": load_administrations,
    "DomainUser": load_domain_users,
}


def load(session: Session, type_name: str, ids: Collection[str]) -> dict[str, Any]:
    """Load facts of `type_name` for `ids`; ids not found are absent from the answer."""
    if not ids:
        return {}
    loaded: dict[str, Any] = LOADERS[type_name](session, ids)
    return loaded
