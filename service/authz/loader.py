"""Load the facts of checks: one SQL statement for a check's objects, whatever their types.

Each type has its select (its columns in a fixed order, relations joined in) and a parser of its
rows. `load_refs` asks for every wanted object at once: one `UNION ALL` of the selects of the
types it names, each select's columns placed in typed slots shared by all types (strings,
booleans, a date, an instant) with typed NULLs elsewhere, and a tag naming the type. So a check
(its actor, its resource) costs one statement, and that statement reads one snapshot of the
database, even outside a transaction. `load` asks for objects of one type (lists, billing, and a
batch's objects on PostgreSQL: see `Authorizer._load_refs`).

The statements are built once and run as Core statements: building a select and going through
the ORM's execution path cost several times more than the database's own work here.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from typing import Any, NamedTuple

from sqlalchemy import (
    Boolean,
    Date,
    Executable,
    String,
    bindparam,
    cast,
    literal_column,
    null,
    select,
    union_all,
)
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from service import models

from . import facts


def _iso(value: Any) -> str | None:
    return None if value is None else value.isoformat()


# -- one type: its columns and the parser of its rows ----------------------------------------
def _portals(rows: Iterable[tuple[Any, ...]]) -> dict[str, facts.Portal]:
    return {pid: facts.Portal(pid) for (pid,) in rows}


def _portal_users(rows: Iterable[tuple[Any, ...]]) -> dict[str, facts.PortalUser]:
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


def _domain_from_row(row: tuple[Any, ...], cache: dict[str, facts.Domain]) -> facts.Domain:
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


def _domains(rows: Iterable[tuple[Any, ...]]) -> dict[str, facts.Domain]:
    found: dict[str, facts.Domain] = {}
    for row in rows:
        _domain_from_row(row, found)
    return found


def _administrations(rows: Iterable[tuple[Any, ...]]) -> dict[str, facts.Administration]:
    domains: dict[str, facts.Domain] = {}
    found: dict[str, facts.Administration] = {}
    for aid, *rest in rows:
        domain = _domain_from_row(tuple(rest), domains)
        if aid not in found:
            found[aid] = facts.Administration(aid, domain.id, domain)
    return found


def _domain_users(rows: Iterable[tuple[Any, ...]]) -> dict[str, facts.DomainUser]:
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


class _Type(NamedTuple):
    select: Any  # its columns, relations joined in, no WHERE yet
    key: Any  # the column the ids are matched against
    parse: Callable[[Iterable[tuple[Any, ...]]], dict[str, Any]]


_PU, _DU = models.PortalUser, models.DomainUser
_DUR, _DUA = models.DomainUserRole, models.DomainUserAdministration
TYPES: dict[str, _Type] = {
    "Portal": _Type(select(models.Portal.id), models.Portal.id, _portals),
    "PortalUser": _Type(
        select(_PU.id, _PU.portal_id, _PU.role, _PU.scope, _PU.converted_at), _PU.id, _portal_users
    ),
    "Domain": _Type(
        select(*_domain_columns())
        .select_from(models.Domain)
        .outerjoin(models.StaffAssignment, models.StaffAssignment.domain_id == models.Domain.id),
        models.Domain.id,
        _domains,
    ),
    "Administration": _Type(
        select(models.Administration.id, *_domain_columns())
        .select_from(models.Administration)
        .join(models.Domain, models.Domain.id == models.Administration.domain_id)
        .outerjoin(models.StaffAssignment, models.StaffAssignment.domain_id == models.Domain.id),
        models.Administration.id,
        _administrations,
    ),
    "DomainUser": _Type(
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
        _domain_users,
    ),
}


def _param(many: bool, suffix: str = "") -> str:
    return f"{'ids' if many else 'id'}{suffix}"


def _where(stmt: Any, key: Any, many: bool, suffix: str = "") -> Any:
    """`key = :id` for one id, `key IN (:ids)` (an expanding parameter) for several."""
    if many:
        return stmt.where(key.in_(bindparam(_param(True, suffix), expanding=True)))
    return stmt.where(key == bindparam(_param(False, suffix)))


def _bind(ids: Collection[str], suffix: str = "") -> tuple[str, Any]:
    """The parameter `_where` named for these ids, and its value."""
    many = len(ids) > 1
    return _param(many, suffix), (list(ids) if many else next(iter(ids)))


# -- one type at a time ----------------------------------------------------------------------
_ONE_TYPE: dict[tuple[str, bool], Executable] = {
    (name, many): _where(t.select, t.key, many)
    for name, t in TYPES.items()
    for many in (False, True)
}


def load(session: Session, type_name: str, ids: Collection[str]) -> dict[str, Any]:
    """Load facts of `type_name` for `ids`; ids not found are absent from the answer."""
    if not ids:
        return {}
    params = dict([_bind(ids)])
    rows = session.connection().execute(_ONE_TYPE[(type_name, len(ids) > 1)], params)
    return TYPES[type_name].parse(tuple(row) for row in rows)


# -- every type at once ----------------------------------------------------------------------
# The slots of the union's rows, by kind of value; each type's columns fill them in order.
_KINDS: dict[str, Callable[[], Any]] = {
    "text": String,
    "flag": Boolean,
    "date": Date,
    "instant": models.UTCDateTime,
}


def _kind(column: Any) -> str:
    sql_type = column.type
    if isinstance(sql_type, models.UTCDateTime):
        return "instant"
    if isinstance(sql_type, Boolean):
        return "flag"
    if isinstance(sql_type, Date):
        return "date"
    if isinstance(sql_type, String):
        return "text"
    raise TypeError(f"no slot for a {sql_type!r} column")


def _placements() -> tuple[list[tuple[str, int]], dict[str, list[int]]]:
    """Return the slots (kind, index within the kind), and where each type's columns go."""
    wanted: dict[str, int] = {}
    places: dict[str, list[tuple[str, int]]] = {}
    for name, t in TYPES.items():
        seen: dict[str, int] = {}
        places[name] = []
        for column in t.select.selected_columns:
            kind = _kind(column)
            places[name].append((kind, seen.get(kind, 0)))
            seen[kind] = seen.get(kind, 0) + 1
        for kind, count in seen.items():
            wanted[kind] = max(wanted.get(kind, 0), count)
    slots = [(kind, i) for kind in _KINDS for i in range(wanted.get(kind, 0))]
    index = {slot: position for position, slot in enumerate(slots)}
    return slots, {name: [index[p] for p in where] for name, where in places.items()}


_SLOTS, _POSITIONS = _placements()


def _tagged(name: str, many: bool) -> Any:
    """The type's select in the union's shape: its tag, then every slot (typed NULL if unused)."""
    t = TYPES[name]
    columns = list(t.select.selected_columns)
    by_slot = dict(zip(_POSITIONS[name], columns, strict=True))
    values = [
        by_slot[i] if i in by_slot else cast(null(), _KINDS[kind]())
        for i, (kind, _) in enumerate(_SLOTS)
    ]
    stmt = t.select.with_only_columns(literal_column(f"'{name}'"), *values)
    return _where(stmt, t.key, many, f"_{name}")


_UNIONS: dict[tuple[tuple[str, bool], ...], Executable] = {}


def _union(shape: tuple[tuple[str, bool], ...]) -> Executable:
    found = _UNIONS.get(shape)
    if found is None:
        parts: list[Any] = [_tagged(name, many) for name, many in shape]
        combine: Any = union_all  # (mypy 2.4 crashes inferring union_all(*parts))
        found = parts[0] if len(parts) == 1 else combine(*parts)
        _UNIONS[shape] = found  # at most 3^5 - 1: each type absent, with one id or several
    return found


def load_refs(connection: Connection, wanted: Mapping[str, Collection[str]]) -> dict[str, Any]:
    """Load the facts of every wanted id, by type, in one statement (one snapshot).

    Returns {type name: {id: facts}}; ids not found are absent.
    """
    shape = tuple(sorted((name, len(ids) > 1) for name, ids in wanted.items() if ids))
    if not shape:
        return {}
    params = dict(_bind(wanted[name], f"_{name}") for name, _ in shape)
    rows: dict[str, list[tuple[Any, ...]]] = {name: [] for name, _ in shape}
    for tag, *values in connection.execute(_union(shape), params):
        rows[tag].append(tuple(values[i] for i in _POSITIONS[tag]))
    return {name: TYPES[name].parse(found) for name, found in rows.items()}
