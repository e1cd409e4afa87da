"""The shape of a check: its facts with every id replaced by the order it first appears in.

`policies/access.polar` treats ids as opaque: it compares them with each other (`=`, `!=`, `in`)
and never with a constant or by order (`tests/policy/test_policy_text.py` keeps it so). A decision
is therefore the same for any two checks whose facts differ only by a consistent renaming of ids:
Marie on her domain and Jan on his decide alike when their roles, plans and flags match. The
shape is that renaming made canonical, so the decision cache can remember decisions per shape.

It is a function of the facts' content only, loaded or cached under the revision board's rules,
so a decision remembered per shape is never stale: new facts make a new shape.
"""

from __future__ import annotations

from typing import Any

_MISSING = 1 << 30  # sorts list entries whose ids are not named yet after those that are


def _is_id(field: str) -> bool:
    return field == "id" or field.endswith("_id")


def shape_key(actor: Any, resource: Any) -> tuple[Any, ...]:
    """Return the canonical, hashable shape of the facts of (actor, resource)."""
    names: dict[str, int] = {}
    # First every scalar field (ids named in a fixed order), then the lists.
    scalars = (_scalars(actor, names), _scalars(resource, names))
    lists = (_lists(actor, names), _lists(resource, names))
    return scalars, lists


def _name(value: Any, names: dict[str, int]) -> Any:
    if value is None:
        return None
    return names.setdefault(value, len(names))


def _scalars(obj: Any, names: dict[str, int]) -> tuple[Any, ...]:
    out: list[Any] = [type(obj).__name__]
    for field in obj.__slots__:
        value = getattr(obj, field)
        if isinstance(value, list):
            continue
        if hasattr(value, "__slots__"):  # a nested fact: an Administration's domain
            out.append(_scalars(value, names))
        elif _is_id(field):
            out.append(_name(value, names))
        else:
            out.append(value)
    return tuple(out)


def _lists(obj: Any, names: dict[str, int]) -> tuple[Any, ...]:
    out: list[Any] = []
    for field in obj.__slots__:
        value = getattr(obj, field)
        if hasattr(value, "__slots__"):
            out.append(_lists(value, names))
        elif isinstance(value, list):
            out.append(_list(value, names))
    return tuple(out)


def _list(items: list[dict[str, Any]], names: dict[str, int]) -> tuple[Any, ...]:
    """A list of dicts as a sorted tuple: the policy reads these lists as sets."""

    def order(item: dict[str, Any]) -> tuple[Any, ...]:
        ids = tuple(names.get(v, _MISSING) for k, v in sorted(item.items()) if _is_id(k))
        rest = repr([(k, v) for k, v in sorted(item.items()) if not _is_id(k)])
        return ids, rest

    canonical = [
        tuple((k, _name(v, names) if _is_id(k) else v) for k, v in sorted(item.items()))
        for item in sorted(items, key=order)
    ]
    return tuple(sorted(canonical, key=repr))
