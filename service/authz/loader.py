"""Load the facts a check needs: one SQL statement per object type, for any number of ids.

A single check therefore costs two statements (its actor, its resource); a batch costs at most one
statement per distinct type it mentions. The statements are built once and run as Core
statements on the session's connection: building a select and going through the ORM's execution
path cost several times more than SQLite's own work here.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any, NamedTuple

from sqlalchemy import Executable, bindparam, select
from sqlalchemy.orm import Session

from service import models

from . import facts


def _iso(value: Any) -> str | None:
    return None if value is None else value.isoformat()


class _ByIds(NamedTuple):
    """A statement for one id (`= :id`) and for several (`IN (...)`, an expanding parameter,
    which SQLAlchemy renders anew on every execution)."""

    one: Executable
    many: Executable


def _by_ids(stmt: Any, column: Any) -> _ByIds:
    return _ByIds(
        stmt.where(column == bindparam("id")),
        stmt.where(column.in_(bindparam("ids", expanding=True))),
    )


def _run(session: Session, stmt: _ByIds, ids: Collection[str]) -> Any:
    if len(ids) == 1:
        [only] = ids
        return session.connection().execute(stmt.one, {"id": only})
    return session.connection().execute(stmt.many, {"ids": list(ids)})


_PORTALS = _by_ids(select(models.Portal.id), models.Portal.id)


def load_portals(session: Session, ids: Collection[str]) -> dict[str, facts.Portal]:
    return {pid: facts.Portal(pid) for (pid,) in _run(session, _PORTALS, ids)}


_PU = models.PortalUser
_PORTAL_USERS = _by_ids(
    select(_PU.id, _PU.portal_id, _PU.role, _PU.scope, _PU.converted_at), _PU.id
)


def load_portal_users(session: Session, ids: Collection[str]) -> dict[str, facts.PortalUser]:
    rows = _run(session, _PORTAL_USERS, ids)
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


_DOMAINS = _by_ids(
    select(*_domain_columns())
    .select_from(models.Domain)
    .outerjoin(models.StaffAssignment, models.StaffAssignment.domain_id == models.Domain.id),
    models.Domain.id,
)


def load_domains(session: Session, ids: Collection[str]) -> dict[str, facts.Domain]:
    rows = _run(session, _DOMAINS, ids)
    found: dict[str, facts.Domain] = {}
    for row in rows:
        _domain_from_row(tuple(row), found)
    return found


_ADMINISTRATIONS = _by_ids(
    select(models.Administration.id, *_domain_columns())
    .select_from(models.Administration)
    .join(models.Domain, models.Domain.id == models.Administration.domain_id)
    .outerjoin(models.StaffAssignment, models.StaffAssignment.domain_id == models.Domain.id),
    models.Administration.id,
)


def load_administrations(session: Session, ids: Collection[str]) -> dict[str, facts.Administration]:
    rows = _run(session, _ADMINISTRATIONS, ids)
    domains: dict[str, facts.Domain] = {}
    found: dict[str, facts.Administration] = {}
    for row in rows:
        aid, *rest = tuple(row)
        domain = _domain_from_row(tuple(rest), domains)
        if aid not in found:
            found[aid] = facts.Administration(aid, domain.id, domain)
    return found


_DU, _DUR, _DUA = models.DomainUser, models.DomainUserRole, models.DomainUserAdministration
_DOMAIN_USERS = _by_ids(
    select(
        _DU.id,
        _DU.domain_id,
        _DU.is_owner,
        _DU.all_administrations,
        _DUR.role,
        _DUA.administration_id,
    )
    .select_from(_DU)
    .outerjoin(_DUR, _DUR.user_id == _DU.id)
    .outerjoin(_DUA, _DUA.user_id == _DU.id),
    _DU.id,
)


def load_domain_users(session: Session, ids: Collection[str]) -> dict[str, facts.DomainUser]:
    rows = _run(session, _DOMAIN_USERS, ids)
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
