"""Turn an oso data filter into SQL: one `pk IN (subquery)` per OR-branch, branches de-duplicated.

oso describes the rows a policy allows as a disjunction of branches, each a conjunction of
conditions on the root type's fields and on related types reached through declared relations.
oso's bundled SQLAlchemy adapter inner-joins every relation for every branch, which silently drops
rows when a policy has alternative paths (a domain with no staff can never match the "unshielded"
branch). Here each branch joins only the relations it uses:

- conditions on the root table stay plain predicates on the root row;
- the conditions under one relation become `root.col IN (SELECT related.col ... WHERE ...)`,
  joining further relations inside that subquery only.

Limitation inherited from oso's filter format: a type appears once per branch, so two different
rows of the same related type cannot be asked for in one branch (the policy never does).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from polar.data.filter import Condition, DataFilter, Projection
from sqlalchemy import ColumnElement, Date, and_, false, or_, select, true
from sqlalchemy.orm import aliased

from service import models

from . import facts

MODELS: dict[type, type[models.Base]] = {
    facts.Portal: models.Portal,
    facts.PortalUser: models.PortalUser,
    facts.Domain: models.Domain,
    facts.Administration: models.Administration,
    facts.DomainUser: models.DomainUser,
    facts.StaffAssignment: models.StaffAssignment,
    facts.DomainUserRole: models.DomainUserRole,
    facts.DomainUserAdministration: models.DomainUserAdministration,
}

_SQL_OPS = {
    "Eq": lambda a, b: a == b,
    "Neq": lambda a, b: a != b,
    "Lt": lambda a, b: a < b,
    "Leq": lambda a, b: a <= b,
    "Gt": lambda a, b: a > b,
    "Geq": lambda a, b: a >= b,
}
# Swapped operators for when the column stands on the right of the condition.
_MIRROR = {"Eq": "Eq", "Neq": "Neq", "Lt": "Gt", "Leq": "Geq", "Gt": "Lt", "Geq": "Leq"}


class UnsupportedFilter(ValueError):
    """The policy produced a filter this adapter cannot express in SQL."""


def _column(projection: Projection, aliases: dict[type, Any] | None = None) -> Any:
    model = MODELS[projection.source]
    entity = (aliases or {}).get(projection.source, model)
    field = str(projection.field or model.__mapper__.primary_key[0].key)
    return getattr(entity, field)


def _literal(column: Any, value: Any) -> Any:
    """Convert a policy value to the column's Python type (the policy writes dates as ISO text)."""
    if isinstance(value, str) and isinstance(column.type, Date):
        return dt.date.fromisoformat(value)
    if isinstance(value, (str, bool, int, float)) or value is None:
        return value
    raise UnsupportedFilter(f"cannot compare a column with {type(value).__name__}")


def _condition_sql(cond: Condition, aliases: dict[type, Any] | None = None) -> ColumnElement[bool]:
    left, right, cmp = cond.left, cond.right, cond.cmp
    if cmp in ("In", "Nin"):
        if isinstance(left, Projection) and isinstance(right, list):
            col = _column(left, aliases)
            values = [_literal(col, v) for v in right]
            return col.in_(values) if cmp == "In" else col.not_in(values)
        raise UnsupportedFilter(f"unsupported {cmp} condition")
    if cmp not in _SQL_OPS:
        raise UnsupportedFilter(f"unsupported comparison {cmp}")
    if isinstance(left, Projection) and isinstance(right, Projection):
        return _SQL_OPS[cmp](_column(left, aliases), _column(right, aliases))
    if isinstance(right, Projection):  # value <op> column  ==  column <mirror op> value
        left, right, cmp = right, left, _MIRROR[cmp]
    if isinstance(left, Projection):
        col = _column(left, aliases)
        return _SQL_OPS[cmp](col, _literal(col, right))
    # Two constants: oso normally folds these; evaluate here to stay correct.
    return true() if _SQL_OPS[cmp](left, right) else false()


def _side_key(side: Any) -> tuple[Any, ...]:
    if isinstance(side, Projection):
        return ("field", side.source.__name__, side.field)
    if isinstance(side, list):
        return ("list", tuple(sorted(map(repr, side))))
    return ("value", repr(side))


def _condition_key(cond: Condition) -> tuple[Any, ...]:
    return (_side_key(cond.left), cond.cmp, _side_key(cond.right))


def _sources(cond: Condition) -> set[type]:
    return {s.source for s in (cond.left, cond.right) if isinstance(s, Projection)}


class _Relations:
    """The relation tree of one filter: for each related type, the edge that reaches it."""

    def __init__(self, flt: DataFilter) -> None:
        self.root = flt.model
        self.parent: dict[type, tuple[type, Any]] = {}
        for rel in flt.relations:
            spec = flt.types[rel.left].fields[rel.name]
            self.parent[rel.right] = (rel.left, spec)

    def path(self, typ: type) -> list[type]:
        """Return the types from the root's child down to `typ`."""
        path = [typ]
        seen = {typ}
        while path[0] is not self.root:
            if path[0] not in self.parent:
                raise UnsupportedFilter(f"no relation reaches {path[0].__name__}")
            left = self.parent[path[0]][0]
            if left in seen:
                raise UnsupportedFilter("cyclic relations")
            seen.add(left)
            path.insert(0, left)
        return path[1:]


def _pins_a_row(cond: Condition, root: type) -> bool:
    """Tell whether a condition ties a related row to one entity (`staff.user_id = 'u-1'`)."""
    sides = (cond.left, cond.right)
    fields = [s for s in sides if isinstance(s, Projection) and s.source is not root]
    values = [s for s in sides if not isinstance(s, Projection)]
    return (
        cond.cmp == "Eq"
        and len(fields) == 1
        and len(values) == 1
        and (fields[0].field or "id").endswith("id")
    )


def _branch_sql(
    conditions: Iterable[Condition], relations: _Relations, after: Any = None
) -> ColumnElement[bool]:
    """One OR-branch: plain predicates on the root row, and `pk IN (subquery)` for relations.

    Two shapes, so the database starts from the selective side:
    - when the related conditions pin one entity (a user's staff functions), the subquery reads
      the related table alone and the root's own conditions stay outside;
    - otherwise (`role = 'Backoffice'` matches half the table) every condition of the branch goes
      into one subquery on an alias of the root, so a selective root condition (one domain's
      users) is applied before the relation is read.
    """
    root = relations.root
    conds = list(conditions)
    on_root = [c for c in conds if not (_sources(c) - {root})]
    related_conds = [c for c in conds if _sources(c) - {root}]
    if not related_conds:
        return and_(*(_condition_sql(c) for c in on_root)) if on_root else true()
    by_child: dict[type, list[Condition]] = {}
    for cond in related_conds:
        children = {relations.path(t)[0] for t in _sources(cond) - {root}}
        if len(children) != 1:
            raise UnsupportedFilter("a condition spans two relations of the root")
        by_child.setdefault(children.pop(), []).append(cond)
    if all(any(_pins_a_row(c, root) for c in group) for group in by_child.values()):
        parts = [_condition_sql(c) for c in on_root]
        parts.extend(
            _child_subquery(root, child, group, relations, after)
            for child, group in by_child.items()
        )
        return and_(*parts)
    return _root_subquery(conds, relations, after)


def _join_path(
    stmt: Any, start: type, needed: set[type], relations: _Relations, aliases: dict[type, Any]
) -> Any:
    joined = {start}
    for typ in sorted(needed, key=lambda t: len(relations.path(t))):
        for step in relations.path(typ):
            if step in joined:
                continue
            left, spec = relations.parent[step]
            aliases[step] = MODELS[step]
            stmt = stmt.join(
                MODELS[step],
                getattr(aliases[left], spec.my_field) == getattr(MODELS[step], spec.other_field),
            )
            joined.add(step)
    return stmt


def _child_subquery(
    root: type, child: type, conds: list[Condition], relations: _Relations, after: Any = None
) -> ColumnElement[bool]:
    """`root.col IN (SELECT child.col FROM child ... WHERE related conditions)`.

    With `after` (a page's cursor) and `col` the root's key, the subquery also asks for
    `child.col > after`: the same rows, but the database reads only the related rows still
    ahead of the cursor instead of all of them on every page.
    """
    _, spec = relations.parent[child]
    child_model = MODELS[child]
    aliases: dict[type, Any] = {child: child_model}
    stmt = select(getattr(child_model, spec.other_field)).select_from(child_model)
    needed: set[type] = set().union(*(_sources(c) for c in conds)) - {root, child}
    stmt = _join_path(stmt, child, needed, relations, aliases)
    stmt = stmt.where(*(_condition_sql(c, aliases) for c in conds))
    root_key = str(MODELS[root].__mapper__.primary_key[0].key)
    if after is not None and spec.my_field == root_key:
        stmt = stmt.where(getattr(child_model, spec.other_field) > after)
    column: ColumnElement[bool] = getattr(MODELS[root], spec.my_field).in_(stmt)
    return column


def _root_subquery(
    conds: list[Condition], relations: _Relations, after: Any = None
) -> ColumnElement[bool]:
    """`root.pk IN (SELECT alias.pk FROM root AS alias JOIN ... WHERE every condition)`, and
    `alias.pk > after` for a page after a cursor."""
    root = relations.root
    root_model = MODELS[root]
    inner = aliased(root_model)
    aliases: dict[type, Any] = {root: inner}
    pk = str(root_model.__mapper__.primary_key[0].key)
    stmt = select(getattr(inner, pk)).select_from(inner)
    needed: set[type] = set().union(*(_sources(c) for c in conds)) - {root}
    stmt = _join_path(stmt, root, needed, relations, aliases)
    stmt = stmt.where(*(_condition_sql(c, aliases) for c in conds))
    if after is not None:
        stmt = stmt.where(getattr(inner, pk) > after)
    column: ColumnElement[bool] = getattr(root_model, pk).in_(stmt)
    return column


def filter_clause(flt: DataFilter, after: Any = None) -> ColumnElement[bool]:
    """Return a WHERE clause over the filter's root model that selects exactly the allowed rows.

    `after` (a value or a bound parameter) may bound the subqueries to keys above a page's
    cursor; the caller still asks for `pk > after` on the root itself.
    """
    relations = _Relations(flt)
    branches: list[frozenset[tuple[Any, ...]]] = []
    by_key: dict[frozenset[tuple[Any, ...]], list[Condition]] = {}
    for conj in flt.conditions:
        unique = {_condition_key(c): c for c in conj}
        key = frozenset(unique)
        if key not in by_key:
            by_key[key] = list(unique.values())
            branches.append(key)
    # A branch that asks for more than another branch adds no rows: drop it.
    minimal = [b for b in branches if not any(o < b for o in branches)]
    if not minimal:
        return false()
    return or_(*(_branch_sql(by_key[b], relations, after) for b in minimal))


def root_model(flt: DataFilter) -> type[models.Base]:
    return MODELS[flt.model]
