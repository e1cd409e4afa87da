"""The objects the policy sees: small, fully loaded snapshots of the database rows.

Every attribute lookup from Polar crosses oso's FFI (~30 us), so these objects hold exactly the
fields `policies/access.polar` reads. To-many relations are plain lists of plain dicts: oso turns
them into Polar values once, and the policy then walks them without further callbacks.

`FIELDS` declares the same shapes to oso's data filtering; field names are the column names of
the SQLAlchemy models in `service.models`, which is what `sql_filter` relies on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from oso import Relation


@dataclass(slots=True, eq=False)
class Portal:
    id: str


@dataclass(slots=True, eq=False)
class PortalUser:
    id: str
    portal_id: str
    role: str
    scope: str
    converted_at: str | None = None


@dataclass(slots=True, eq=False)
class Domain:
    id: str
    portal_id: str
    plan: str
    pricing_model: str
    shielded: bool
    bo_access_authorized: bool
    pending_plan: str | None = None
    pending_plan_from: str | None = None  # ISO date
    # [{"user_id": ..., "function": ...}]
    staff: list[dict[str, Any]] = field(default_factory=list)


@dataclass(slots=True, eq=False)
class Administration:
    id: str
    domain_id: str
    domain: Domain


@dataclass(slots=True, eq=False)
class DomainUser:
    id: str
    domain_id: str
    is_owner: bool
    all_administrations: bool
    # [{"role": ...}]
    roles: list[dict[str, Any]] = field(default_factory=list)
    # [{"administration_id": ...}]
    administrations: list[dict[str, Any]] = field(default_factory=list)

    def role_names(self) -> set[str]:
        return {r["role"] for r in self.roles}


@dataclass(slots=True, eq=False)
class StaffAssignment:
    """Seen by data filtering only (in checks, `Domain.staff` holds dicts)."""

    domain_id: str
    user_id: str
    function: str


@dataclass(slots=True, eq=False)
class DomainUserRole:
    """Seen by data filtering only."""

    user_id: str
    role: str


@dataclass(slots=True, eq=False)
class DomainUserAdministration:
    """Seen by data filtering only."""

    user_id: str
    administration_id: str


@dataclass(slots=True, eq=False)
class Unknown:
    """An actor or resource id the database does not hold; the policy denies it with a reason."""

    kind: str  # "actor" or "resource"
    type: str
    id: str


FIELDS: dict[type, dict[str, Any]] = {
    Portal: {"id": str},
    PortalUser: {
        "id": str,
        "portal_id": str,
        "role": str,
        "scope": str,
        "converted_at": str,
    },
    Domain: {
        "id": str,
        "portal_id": str,
        "plan": str,
        "pricing_model": str,
        "shielded": bool,
        "bo_access_authorized": bool,
        "pending_plan": str,
        "pending_plan_from": str,
        "staff": Relation(
            kind="many", other_type="StaffAssignment", my_field="id", other_field="domain_id"
        ),
    },
    Administration: {
        "id": str,
        "domain_id": str,
        "domain": Relation(kind="one", other_type="Domain", my_field="domain_id", other_field="id"),
    },
    DomainUser: {
        "id": str,
        "domain_id": str,
        "is_owner": bool,
        "all_administrations": bool,
        "roles": Relation(
            kind="many", other_type="DomainUserRole", my_field="id", other_field="user_id"
        ),
        "administrations": Relation(
            kind="many",
            other_type="DomainUserAdministration",
            my_field="id",
            other_field="user_id",
        ),
    },
    StaffAssignment: {"domain_id": str, "user_id": str, "function": str},
    DomainUserRole: {"user_id": str, "role": str},
    DomainUserAdministration: {"user_id": str, "administration_id": str},
    Unknown: {"kind": str, "type": str, "id": str},
}

ACTOR_TYPES: dict[str, type] = {"PortalUser": PortalUser, "DomainUser": DomainUser}
RESOURCE_TYPES: dict[str, type] = {
    "Portal": Portal,
    "PortalUser": PortalUser,
    "Domain": Domain,
    "Administration": Administration,
    "DomainUser": DomainUser,
}


def blank(cls: type) -> Any:
    """Return an instance of `cls` with empty values (for questions about types, not data)."""
    if cls is Administration:
        return Administration(id="", domain_id="", domain=blank(Domain))
    if cls is Domain:
        return Domain("", "", "", "", False, False)
    if cls is DomainUser:
        return DomainUser("", "", False, False)
    if cls is PortalUser:
        return PortalUser("", "", "", "")
    return cls("")
