"""World import: validate a whole world file, then upsert it in one transaction (all or nothing).

Importing the same file twice leaves the same state. Records are matched by id; a record that
already exists is updated in place, but never moved to another portal or domain.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from marshmallow import (
    RAISE,
    Schema,
    ValidationError,
    fields,
    validate,
    validates_schema,
)
from sqlalchemy import select
from sqlalchemy.orm import Session

from service import models
from service.validation import (
    UNSTORABLE_MESSAGE,
    Instant,
    StrictSchema,
    id_field,
    nested_error,
    one_of,
    unstorable_text,
)
from service.vocabulary import (
    SCOPABLE_ROLES,
    DomainRole,
    Plan,
    PortalRole,
    PricingModel,
    Scope,
    StaffFunction,
)

KINDS = (
    "portals",
    "portal_users",
    "domains",
    "administrations",
    "staff",
    "domain_users",
)


class ImportError_(ValueError):
    """A world that cannot be imported; `details` names the offending records and fields."""

    def __init__(self, message: str, details: dict[str, Any]) -> None:
        super().__init__(message)
        self.details = details


class PortalSchema(StrictSchema):
    id = id_field(required=True)
    name = fields.String(required=True, validate=validate.Length(1, 200))
    country = fields.String(load_default=None, allow_none=True, validate=validate.Length(2, 2))


class PortalUserSchema(StrictSchema):
    id = id_field(required=True)
    portal_id = id_field(required=True)
    email = fields.Email(required=True, validate=validate.Length(max=320))
    name = fields.String(required=True, validate=validate.Length(1, 200))
    role = fields.String(required=True, validate=one_of(PortalRole))
    scope = fields.String(load_default=Scope.PORTAL.value, validate=one_of(Scope))
    created_at = Instant(load_default=None, allow_none=True)
    converted_at = Instant(load_default=None, allow_none=True)

    @validates_schema
    def _role_rules(self, data: dict[str, Any], **_: Any) -> None:
        if data.get("scope") == Scope.ASSIGNED and data.get("role") not in SCOPABLE_ROLES:
            raise ValidationError(
                "only PortalBackoffice and PortalDataEntry may have scope 'assigned'", "scope"
            )
        if data.get("converted_at") is not None and data.get("role") != PortalRole.PORTAL_GUEST:
            raise ValidationError("only a PortalGuest can be converted", "converted_at")


class GuestDiscountSchema(StrictSchema):
    percent = fields.Integer(required=True, validate=validate.Range(1, 100))
    months = fields.Integer(required=True, validate=validate.Range(1, 120))
    starts_on = fields.Date(load_default=None, allow_none=True)


class DomainSchema(StrictSchema):
    id = id_field(required=True)
    portal_id = id_field(required=True)
    name = fields.String(required=True, validate=validate.Length(1, 200))
    plan = fields.String(required=True, validate=one_of(Plan))
    pricing_model = fields.String(
        load_default=PricingModel.BUNDLE.value, validate=one_of(PricingModel)
    )
    shielded = fields.Boolean(load_default=False)
    bo_access_authorized = fields.Boolean(load_default=False)
    pending_plan = fields.String(load_default=None, allow_none=True, validate=one_of(Plan))
    pending_plan_from = fields.Date(load_default=None, allow_none=True)
    guest_discount = fields.Nested(GuestDiscountSchema, load_default=None, allow_none=True)

    @validates_schema
    def _pending_pair(self, data: dict[str, Any], **_: Any) -> None:
        if (data.get("pending_plan") is None) != (data.get("pending_plan_from") is None):
            raise ValidationError(
                "pending_plan and pending_plan_from go together", "pending_plan_from"
            )


class StaffSchema(StrictSchema):
    domain_id = id_field(required=True)
    user_id = id_field(required=True)
    function = fields.String(required=True, validate=one_of(StaffFunction))


class AdministrationSchema(StrictSchema):
    id = id_field(required=True)
    domain_id = id_field(required=True)
    name = fields.String(required=True, validate=validate.Length(1, 200))


class DomainUserSchema(StrictSchema):
    id = id_field(required=True)
    domain_id = id_field(required=True)
    email = fields.Email(required=True, validate=validate.Length(max=320))
    name = fields.String(required=True, validate=validate.Length(1, 200))
    roles = fields.List(fields.String(validate=one_of(DomainRole)), load_default=list)
    is_owner = fields.Boolean(load_default=False)
    administrations = fields.List(id_field(), load_default=list)

    @validates_schema
    def _owner_is_management(self, data: dict[str, Any], **_: Any) -> None:
        if data.get("is_owner") and DomainRole.MANAGEMENT not in data.get("roles", []):
            raise ValidationError("the owner always holds Management", "roles")
        if len(set(data.get("roles", []))) != len(data.get("roles", [])):
            raise ValidationError("roles must not repeat", "roles")


class WorldSchema(Schema):
    # A misspelled section ("domain_user") must not import nothing and answer 200.
    class Meta:
        unknown = RAISE

    portals = fields.List(fields.Nested(PortalSchema), load_default=list)
    portal_users = fields.List(fields.Nested(PortalUserSchema), load_default=list)
    domains = fields.List(fields.Nested(DomainSchema), load_default=list)
    staff = fields.List(fields.Nested(StaffSchema), load_default=list)
    administrations = fields.List(fields.Nested(AdministrationSchema), load_default=list)
    domain_users = fields.List(fields.Nested(DomainUserSchema), load_default=list)


def _existing(session: Session, model: type[models.Base], ids: Sequence[str]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    pk = model.__mapper__.primary_key[0]
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        for obj in session.scalars(select(model).where(pk.in_(chunk))):
            found[obj.id] = obj  # type: ignore[attr-defined]
    return found


class _World:
    """The payload plus what the database already holds, for referential checks."""

    def __init__(self, session: Session, world: dict[str, list[dict[str, Any]]]) -> None:
        self.session = session
        self.world = world
        self.errors: dict[str, Any] = {}
        self.portals = {r["id"]: r for r in world["portals"]}
        self.portal_users = {r["id"]: r for r in world["portal_users"]}
        self.domains = {r["id"]: r for r in world["domains"]}
        self.administrations = {r["id"]: r for r in world["administrations"]}
        self.domain_users = {r["id"]: r for r in world["domain_users"]}
        self.db_portals = _existing(session, models.Portal, self._ids("portals", "portal_id"))
        self.db_portal_users = _existing(
            session, models.PortalUser, self._ids("portal_users", "user_id", "staff")
        )
        self.db_domains = _existing(session, models.Domain, self._ids("domains", "domain_id"))
        self.db_administrations = _existing(
            session, models.Administration, self._administration_ids()
        )
        self.db_domain_users = _existing(
            session, models.DomainUser, [r["id"] for r in world["domain_users"]]
        )

    def _ids(self, kind: str, ref_field: str, only: str | None = None) -> list[str]:
        ids = {r["id"] for r in self.world[kind]}
        kinds = [only] if only else list(self.world)
        for other in kinds:
            for record in self.world[other]:
                if ref_field in record:
                    ids.add(record[ref_field])
        return sorted(ids)

    def _administration_ids(self) -> list[str]:
        ids = {r["id"] for r in self.world["administrations"]}
        for user in self.world["domain_users"]:
            ids.update(user["administrations"])
        return sorted(ids)

    def fail(self, kind: str, index: int, field: str, message: str) -> None:
        self.errors.setdefault(f"{kind}[{index}]", {}).setdefault(field, []).append(message)

    def portal_of_user(self, uid: str) -> str | None:
        if uid in self.portal_users:
            return str(self.portal_users[uid]["portal_id"])
        row = self.db_portal_users.get(uid)
        return row.portal_id if row else None

    def portal_of_domain(self, did: str) -> str | None:
        if did in self.domains:
            return str(self.domains[did]["portal_id"])
        row = self.db_domains.get(did)
        return row.portal_id if row else None

    def domain_of_administration(self, aid: str) -> str | None:
        if aid in self.administrations:
            return str(self.administrations[aid]["domain_id"])
        row = self.db_administrations.get(aid)
        return row.domain_id if row else None

    def check(self) -> None:
        self._no_duplicates()
        self._no_moves()
        for i, r in enumerate(self.world["portal_users"]):
            if r["portal_id"] not in self.portals and r["portal_id"] not in self.db_portals:
                self.fail("portal_users", i, "portal_id", f"unknown portal '{r['portal_id']}'")
        for i, r in enumerate(self.world["domains"]):
            if r["portal_id"] not in self.portals and r["portal_id"] not in self.db_portals:
                self.fail("domains", i, "portal_id", f"unknown portal '{r['portal_id']}'")
        for i, r in enumerate(self.world["staff"]):
            domain_portal = self.portal_of_domain(r["domain_id"])
            user_portal = self.portal_of_user(r["user_id"])
            if domain_portal is None:
                self.fail("staff", i, "domain_id", f"unknown domain '{r['domain_id']}'")
            if user_portal is None:
                self.fail("staff", i, "user_id", f"unknown portal user '{r['user_id']}'")
            if domain_portal and user_portal and domain_portal != user_portal:
                self.fail("staff", i, "user_id", "the user belongs to another portal")
        for i, r in enumerate(self.world["administrations"]):
            if self.portal_of_domain(r["domain_id"]) is None:
                self.fail("administrations", i, "domain_id", f"unknown domain '{r['domain_id']}'")
        owners: dict[str, str] = {}
        for i, r in enumerate(self.world["domain_users"]):
            if self.portal_of_domain(r["domain_id"]) is None:
                self.fail("domain_users", i, "domain_id", f"unknown domain '{r['domain_id']}'")
            for aid in r["administrations"]:
                if self.domain_of_administration(aid) != r["domain_id"]:
                    self.fail(
                        "domain_users",
                        i,
                        "administrations",
                        f"'{aid}' is not an administration of domain '{r['domain_id']}'",
                    )
            if r["is_owner"]:
                if r["domain_id"] in owners:
                    self.fail("domain_users", i, "is_owner", "the domain already has an owner")
                owners[r["domain_id"]] = r["id"]
        self._one_owner_per_domain(owners)

    def _no_duplicates(self) -> None:
        for kind in ("portals", "portal_users", "domains", "administrations", "domain_users"):
            seen: set[str] = set()
            for i, r in enumerate(self.world[kind]):
                if r["id"] in seen:
                    self.fail(kind, i, "id", f"'{r['id']}' appears twice")
                seen.add(r["id"])
        slots: set[tuple[str, str]] = set()
        for i, r in enumerate(self.world["staff"]):
            slot = (r["domain_id"], r["function"])
            if slot in slots:
                self.fail("staff", i, "function", "one holder per function per domain")
            slots.add(slot)

    def _no_moves(self) -> None:
        moves = (
            ("portal_users", self.db_portal_users, "portal_id"),
            ("domains", self.db_domains, "portal_id"),
            ("administrations", self.db_administrations, "domain_id"),
            ("domain_users", self.db_domain_users, "domain_id"),
        )
        for kind, existing, field in moves:
            for i, r in enumerate(self.world[kind]):
                row = existing.get(r["id"])
                if row is not None and getattr(row, field) != r[field]:
                    self.fail(kind, i, field, "an existing record cannot move; delete it first")

    def _one_owner_per_domain(self, owners: dict[str, str]) -> None:
        if not owners:
            return
        rows = self.session.execute(
            select(models.DomainUser.domain_id, models.DomainUser.id).where(
                models.DomainUser.domain_id.in_(list(owners)),
                models.DomainUser.is_owner.is_(True),
            )
        )
        incoming = {r["id"]: r for r in self.world["domain_users"]}
        for domain_id, uid in rows:
            if uid != owners[domain_id] and incoming.get(uid, {}).get("is_owner", True):
                index = next(
                    i
                    for i, r in enumerate(self.world["domain_users"])
                    if r["id"] == owners[domain_id]
                )
                self.fail("domain_users", index, "is_owner", f"domain already has owner '{uid}'")


def _by_record(messages: Any) -> dict[str, Any]:
    """Key field errors by record, `staff[0]`, as the referential errors are."""
    if not isinstance(messages, dict):
        return {"_schema": messages}
    out: dict[str, Any] = {}
    for kind, errors in messages.items():
        if isinstance(errors, dict) and errors and all(str(k).isdigit() for k in errors):
            for index, fields_ in errors.items():
                out[f"{kind}[{index}]"] = fields_
        else:
            out[str(kind)] = errors
    return out


def _assign(obj: Any, values: dict[str, Any]) -> None:
    for key, value in values.items():
        setattr(obj, key, value)


def import_world(session: Session, data: Any, *, now: dt.datetime | None = None) -> dict[str, Any]:
    """Validate and upsert a world in the caller's transaction; raise ImportError_ on any error.

    The caller commits on success and rolls back on failure.
    """
    if not isinstance(data, dict):
        raise ImportError_("the world must be a JSON object", {"_schema": ["not an object"]})
    bad = unstorable_text(data)
    if bad is not None:
        details = _by_record(nested_error(bad, UNSTORABLE_MESSAGE))
        raise ImportError_("the world has invalid records", details)
    try:
        world: dict[str, list[dict[str, Any]]] = WorldSchema().load(data)
    except ValidationError as err:
        raise ImportError_("the world has invalid records", _by_record(err.messages)) from err
    state = _World(session, world)
    state.check()
    if state.errors:
        raise ImportError_("the world refers to records that do not fit", state.errors)

    now = now or dt.datetime.now(dt.UTC)
    for r in world["portals"]:
        portal = state.db_portals.get(r["id"]) or models.Portal(id=r["id"])
        _assign(portal, {"name": r["name"], "country": r["country"]})
        session.add(portal)
    session.flush()
    for r in world["portal_users"]:
        user = state.db_portal_users.get(r["id"])
        created_at = r["created_at"] or (user.created_at if user else now)
        user = user or models.PortalUser(id=r["id"])
        _assign(user, {**r, "created_at": created_at})
        session.add(user)
    for r in world["domains"]:
        domain = state.db_domains.get(r["id"]) or models.Domain(id=r["id"])
        discount = r.pop("guest_discount")
        _assign(domain, r)
        domain.guest_discount_percent = discount["percent"] if discount else None
        domain.guest_discount_months = discount["months"] if discount else None
        domain.guest_discount_starts_on = discount["starts_on"] if discount else None
        session.add(domain)
    session.flush()
    for r in world["administrations"]:
        adm = state.db_administrations.get(r["id"]) or models.Administration(id=r["id"])
        _assign(adm, r)
        session.add(adm)
    session.flush()
    for r in world["staff"]:
        slot = session.get(models.StaffAssignment, (r["domain_id"], r["function"]))
        if slot is None:
            session.add(models.StaffAssignment(**r))
        else:
            slot.user_id = r["user_id"]
    for r in world["domain_users"]:
        _upsert_domain_user(session, state.db_domain_users.get(r["id"]), r)
    session.flush()
    revision = models.bump_revision(session)
    return {"counts": {kind: len(world[kind]) for kind in KINDS}, "revision": revision}


def _upsert_domain_user(session: Session, user: Any, r: dict[str, Any]) -> None:
    roles, administrations = set(r.pop("roles")), set(r.pop("administrations"))
    if user is None:
        user = models.DomainUser(id=r["id"])
        session.add(user)
    _assign(user, {**r, "all_administrations": not administrations})
    session.flush()
    ur, ua = models.DomainUserRole, models.DomainUserAdministration
    held = set(session.scalars(select(ur.role).where(ur.user_id == user.id)))
    for role in held - roles:
        session.delete(session.get(ur, (user.id, role)))
    for role in roles - held:
        session.add(ur(user_id=user.id, role=role))
    linked = set(session.scalars(select(ua.administration_id).where(ua.user_id == user.id)))
    for aid in linked - administrations:
        session.delete(session.get(ua, (user.id, aid)))
    for aid in administrations - linked:
        session.add(ua(user_id=user.id, administration_id=aid))
