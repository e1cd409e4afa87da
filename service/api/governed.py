"""Governed operations and their reads (scope `admin`).

The calling application names the person acting in `X-Acting-User: <type>:<id>`; the policy
decides. A deny is a 403 with the policy's reasons and changes nothing (it is audited).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Any

from flask import Response, current_app, g, jsonify, make_response, request
from marshmallow import ValidationError as MaValidationError
from marshmallow import fields, validate, validates_schema
from sqlalchemy import select

from service import audit, models, pricing
from service.api import Blueprint
from service.api.errors import ApiError
from service.api.queries import authorizer
from service.api.security import require_scope
from service.authz import Ref, decode_cursor, encode_cursor
from service.db import db
from service.operations import (
    Idempotency,
    OperationContext,
    OperationError,
    Result,
    breakdown,
    conversion,
    domain_users,
    domains,
    portals,
    states,
)
from service.validation import (
    ID_ERROR,
    TIME_RANGE_ERROR,
    StrictSchema,
    id_field,
    instant_in_range,
    one_of,
)
from service.vocabulary import (
    ActorType,
    DomainRole,
    Plan,
    PortalRole,
    PricingModel,
    Scope,
    StaffFunction,
    is_id,
)

blp = Blueprint(
    "governed", __name__, url_prefix="/v1", description="Governed operations (scope admin)"
)

_IDEMPOTENCY_KEY = re.compile(r"\A[\x21-\x7e]{1,200}\Z")
_ROW_ID_END = 2**63  # row ids in a cursor (audit events, ledger entries) fit a BIGINT


class StrictBoolean(fields.Boolean):
    """A JSON true or false, nothing else (marshmallow's Boolean takes 1, "yes", ...)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> bool:
        if not isinstance(value, bool):
            raise self.make_error("invalid")
        return value


class CreatePortalUser(StrictSchema):
    id = id_field(required=True)
    email = fields.Email(required=True, validate=validate.Length(max=320))
    name = fields.String(required=True, validate=validate.Length(1, 200))
    role = fields.String(required=True, validate=one_of(PortalRole))
    scope = fields.String(load_default=Scope.PORTAL.value, validate=one_of(Scope))


class ChangeRole(StrictSchema):
    role = fields.String(required=True, validate=one_of(PortalRole))
    scope = fields.String(load_default=Scope.PORTAL.value, validate=one_of(Scope))


class Owner(StrictSchema):
    id = id_field(required=True)
    email = fields.Email(required=True, validate=validate.Length(max=320))
    name = fields.String(required=True, validate=validate.Length(1, 200))


class CreateDomain(StrictSchema):
    id = id_field(required=True)
    name = fields.String(required=True, validate=validate.Length(1, 200))
    plan = fields.String(required=True, validate=one_of(Plan))
    pricing_model = fields.String(
        load_default=PricingModel.BUNDLE.value, validate=one_of(PricingModel)
    )
    owner = fields.Nested(Owner, load_default=None, allow_none=True)


class AssignStaff(StrictSchema):
    user_id = id_field(required=True)


class Shielded(StrictSchema):
    shielded = StrictBoolean(required=True)


class BoAccess(StrictSchema):
    authorized = StrictBoolean(required=True)


class ChangePlan(StrictSchema):
    plan = fields.String(required=True, validate=one_of(Plan))


class AddDomainUser(StrictSchema):
    id = id_field(required=True)
    email = fields.Email(required=True, validate=validate.Length(max=320))
    name = fields.String(required=True, validate=validate.Length(1, 200))
    roles = fields.List(fields.String(validate=one_of(DomainRole)), load_default=list)
    administrations = fields.List(id_field(), load_default=list)

    @validates_schema
    def _no_owner_roles_twice(self, data: dict[str, Any], **_: Any) -> None:
        if len(set(data.get("roles", []))) != len(data.get("roles", [])):
            raise MaValidationError("roles must not repeat", "roles")


class GuestConversion(StrictSchema):
    dry_run = StrictBoolean(load_default=False)


# -- request plumbing -----------------------------------------------------------------------
def _pathid_field(name: str, value: str, where: str = "path") -> str:
    if not is_id(value):
        raise ApiError(
            400, "invalid_request", f"Invalid {name} in the {where}.", {where: {name: [ID_ERROR]}}
        )
    return value


def _path_enum(name: str, value: str, allowed: Any) -> str:
    choices = sorted(str(v) for v in allowed)
    if value not in choices:
        raise ApiError(
            400,
            "invalid_request",
            f"Unknown {name} {value!r}.",
            {"path": {name: [f"Must be one of: {', '.join(choices)}."]}},
        )
    return value


def _actor_field(name: str, raw: str, where: str) -> Ref:
    """`PortalUser:<id>` or `DomainUser:<id>` as a Ref, else 400 naming `name` in `where`."""
    kind, _, ident = raw.partition(":")
    if kind not in {t.value for t in ActorType} or not is_id(ident):
        raise ApiError(
            400,
            "invalid_request",
            f"{name} must be PortalUser:<id> or DomainUser:<id>.",
            {where: {name: [f"Invalid value {raw[:80]!r}."]}},
        )
    return Ref(kind, ident)


def _acting_user() -> Ref:
    raw = request.headers.get("X-Acting-User", "")
    if not raw:
        raise ApiError(
            400,
            "invalid_request",
            "Name the person acting in the header X-Acting-User: <type>:<id>.",
            {"headers": {"X-Acting-User": ["Missing header."]}},
        )
    return _actor_field("X-Acting-User", raw, "headers")


def _api_error(exc: OperationError) -> ApiError:
    return ApiError(exc.status, exc.code, exc.message, exc.details, headers=exc.headers)


def _catalogue() -> pricing.Catalogue:
    return current_app.extensions["catalogue"]


def _context(actor: Ref | None = None, body: Any = None) -> OperationContext:
    ctx = OperationContext(
        session=db.session(),
        authz=authorizer(),
        catalogue=_catalogue(),
        actor=actor or Ref("PortalUser", "-"),
        api_key=g.get("api_key_name"),
        request_id=g.get("request_id"),
    )
    key = request.headers.get("Idempotency-Key")
    if key is not None and actor is not None:
        if not _IDEMPOTENCY_KEY.match(key):
            raise ApiError(
                400,
                "invalid_request",
                "Idempotency-Key must be 1-200 visible ASCII characters.",
                {"headers": {"Idempotency-Key": ["Invalid value."]}},
            )
        ctx.idempotency = Idempotency(
            api_key=ctx.api_key or "-",
            key=key,
            request_hash=Idempotency.fingerprint(
                request.method, request.path, f"{actor.type}:{actor.id}", body
            ),
        )
    return ctx


def _answer(result: Result) -> Response:
    return make_response(jsonify(result.body), result.status)


def _governed(body: Any, operation: Callable[[OperationContext], Result]) -> Response:
    ctx = _context(_acting_user(), body)
    try:
        return _answer(operation(ctx))
    except OperationError as exc:
        raise _api_error(exc) from None


_ADMIN_DOC = {
    "parameters": [
        {
            "in": "header",
            "name": "X-Acting-User",
            "required": True,
            "schema": {"type": "string"},
            "description": "PortalUser:<id> or DomainUser:<id>",
        },
        {
            "in": "header",
            "name": "Idempotency-Key",
            "required": False,
            "schema": {"type": "string"},
        },
    ]
}


# -- portals --------------------------------------------------------------------------------
@blp.route("/portals/<pid>/users", methods=["POST"])
@require_scope("admin")
@blp.arguments(CreatePortalUser)
@blp.doc(**_ADMIN_DOC)
def create_portal_user(body: dict[str, Any], pid: str) -> Response:
    """Create a portal user (checked as Portal create_user, or create_guest for a PortalGuest)."""
    pid = _pathid_field("pid", pid)
    return _governed(body, lambda ctx: portals.create_user(ctx, pid, body))


@blp.route("/portals/<pid>/users/<uid>/role", methods=["PUT"])
@require_scope("admin")
@blp.arguments(ChangeRole)
@blp.doc(**_ADMIN_DOC)
def change_portal_user_role(body: dict[str, Any], pid: str, uid: str) -> Response:
    """Change a portal user's role and scope (checked as PortalUser change_role)."""
    pid, uid = _pathid_field("pid", pid), _pathid_field("uid", uid)
    return _governed(body, lambda ctx: portals.change_role(ctx, pid, uid, body))


@blp.route("/portals/<pid>/users/<uid>", methods=["DELETE"])
@require_scope("admin")
@blp.doc(**_ADMIN_DOC)
def delete_portal_user(pid: str, uid: str) -> Response:
    """Delete a portal user and their staff functions (checked as PortalUser delete)."""
    pid, uid = _pathid_field("pid", pid), _pathid_field("uid", uid)
    return _governed(None, lambda ctx: portals.delete_user(ctx, pid, uid))


@blp.route("/portals/<pid>/domains", methods=["POST"])
@require_scope("admin")
@blp.arguments(CreateDomain)
@blp.doc(**_ADMIN_DOC)
def create_domain(body: dict[str, Any], pid: str) -> Response:
    """Create a domain, optionally with its owner (checked as Portal create_domain)."""
    pid = _pathid_field("pid", pid)
    return _governed(body, lambda ctx: portals.create_domain(ctx, pid, body))


@blp.route("/portals/<pid>/guest-conversion", methods=["POST"])
@require_scope("admin")
@blp.arguments(GuestConversion)
@blp.doc(**_ADMIN_DOC)
def guest_conversion(body: dict[str, Any], pid: str) -> Response:
    """Convert the portal's legacy guests (Portal convert_guests); dry_run only reports."""
    pid = _pathid_field("pid", pid)
    return _governed(body, lambda ctx: conversion.convert_guests(ctx, pid, dry_run=body["dry_run"]))


# -- domains --------------------------------------------------------------------------------
@blp.route("/domains/<did>/staff/<function>", methods=["PUT"])
@require_scope("admin")
@blp.arguments(AssignStaff)
@blp.doc(**_ADMIN_DOC)
def assign_staff(body: dict[str, Any], did: str, function: str) -> Response:
    """Give a staff function on the domain to a portal user (checked as Domain assign_staff)."""
    did = _pathid_field("did", did)
    function = _path_enum("function", function, StaffFunction)
    return _governed(body, lambda ctx: domains.assign_staff(ctx, did, function, body["user_id"]))


@blp.route("/domains/<did>/staff/<function>", methods=["DELETE"])
@require_scope("admin")
@blp.doc(**_ADMIN_DOC)
def remove_staff(did: str, function: str) -> Response:
    """Take a staff function off the domain (checked as Domain assign_staff)."""
    did = _pathid_field("did", did)
    function = _path_enum("function", function, StaffFunction)
    return _governed(None, lambda ctx: domains.remove_staff(ctx, did, function))


@blp.route("/domains/<did>/shielded", methods=["PUT"])
@require_scope("admin")
@blp.arguments(Shielded)
@blp.doc(**_ADMIN_DOC)
def set_shielded(body: dict[str, Any], did: str) -> Response:
    """Shield or unshield the domain (checked as Domain manage_settings)."""
    did = _pathid_field("did", did)
    return _governed(body, lambda ctx: domains.set_shielded(ctx, did, body["shielded"]))


@blp.route("/domains/<did>/bo-access", methods=["PUT"])
@require_scope("admin")
@blp.arguments(BoAccess)
@blp.doc(**_ADMIN_DOC)
def set_bo_access(body: dict[str, Any], did: str) -> Response:
    """Authorize or revoke Back Office Access (Domain authorize_bo_access / revoke_bo_access)."""
    did = _pathid_field("did", did)
    return _governed(body, lambda ctx: domains.set_bo_access(ctx, did, body["authorized"]))


@blp.route("/domains/<did>/plan", methods=["PUT"])
@require_scope("admin")
@blp.arguments(ChangePlan)
@blp.doc(**_ADMIN_DOC)
def change_plan(body: dict[str, Any], did: str) -> Response:
    """Change the plan (Domain change_plan); answers the date it takes effect."""
    did = _pathid_field("did", did)
    return _governed(body, lambda ctx: domains.change_plan(ctx, did, body["plan"]))


@blp.route("/domains/<did>/users", methods=["POST"])
@require_scope("admin")
@blp.arguments(AddDomainUser)
@blp.doc(**_ADMIN_DOC)
def add_domain_user(body: dict[str, Any], did: str) -> Response:
    """Add a domain user (manage_users; add_extra_user beyond the first; grant_backoffice)."""
    did = _pathid_field("did", did)
    return _governed(body, lambda ctx: domain_users.add_user(ctx, did, body))


@blp.route("/domains/<did>/users/<uid>", methods=["DELETE"])
@require_scope("admin")
@blp.doc(**_ADMIN_DOC)
def delete_domain_user(did: str, uid: str) -> Response:
    """Delete a domain user (checked as DomainUser delete)."""
    did, uid = _pathid_field("did", did), _pathid_field("uid", uid)
    return _governed(None, lambda ctx: domain_users.delete_user(ctx, did, uid))


@blp.route("/domains/<did>/users/<uid>/roles/<role>", methods=["PUT"])
@require_scope("admin")
@blp.doc(**_ADMIN_DOC)
def grant_role(did: str, uid: str, role: str) -> Response:
    """Grant a role (Backoffice: Domain grant_backoffice; others: DomainUser grant_role)."""
    did, uid = _pathid_field("did", did), _pathid_field("uid", uid)
    role = _path_enum("role", role, DomainRole)
    return _governed(None, lambda ctx: domain_users.grant_role(ctx, did, uid, role))


@blp.route("/domains/<did>/users/<uid>/roles/<role>", methods=["DELETE"])
@require_scope("admin")
@blp.doc(**_ADMIN_DOC)
def revoke_role(did: str, uid: str, role: str) -> Response:
    """Revoke a role (Backoffice: Domain manage_users; others: DomainUser grant_role)."""
    did, uid = _pathid_field("did", did), _pathid_field("uid", uid)
    role = _path_enum("role", role, DomainRole)
    return _governed(None, lambda ctx: domain_users.revoke_role(ctx, did, uid, role))


# -- reads ----------------------------------------------------------------------------------
def _get_or_404(model: type[models.Base], ident: str, what: str) -> Any:
    found = db.session.get(model, ident)
    if found is None:
        raise ApiError(404, "not_found", f"No {what} {ident!r}.")
    return found


@blp.route("/portals/<pid>", methods=["GET"])
@require_scope("admin")
def get_portal(pid: str) -> Response:
    """The portal and its users."""
    portal = _get_or_404(models.Portal, _pathid_field("pid", pid), "portal")
    users = db.session.scalars(
        select(models.PortalUser)
        .where(models.PortalUser.portal_id == portal.id)
        .order_by(models.PortalUser.id)
    )
    return jsonify(
        {
            "portal": {"id": portal.id, "name": portal.name, "country": portal.country},
            "users": [states.portal_user(u) for u in users],
        }
    )


@blp.route("/domains/<did>", methods=["GET"])
@require_scope("admin")
def get_domain(did: str) -> Response:
    """The domain in the import format, with its staff and administrations."""
    domain = _get_or_404(models.Domain, _pathid_field("did", did), "domain")
    administrations = db.session.scalars(
        select(models.Administration)
        .where(models.Administration.domain_id == domain.id)
        .order_by(models.Administration.id)
    )
    return jsonify(
        {
            **states.domain(domain),
            "staff": states.staff(db.session(), domain.id),
            "administrations": [
                {"id": a.id, "domain_id": a.domain_id, "name": a.name} for a in administrations
            ],
        }
    )


@blp.route("/domains/<did>/users", methods=["GET"])
@require_scope("admin")
def get_domain_users(did: str) -> Response:
    """The domain's users in the import format."""
    domain = _get_or_404(models.Domain, _pathid_field("did", did), "domain")
    return jsonify({"users": states.domain_users(db.session(), domain.id)})


def _limit() -> int:
    limit = _number(request.args.get("limit", "100"), 1001)
    if limit is None or limit < 1:
        raise ApiError(
            400,
            "invalid_request",
            "limit must be 1 to 1000.",
            {"query": {"limit": ["Must be 1 to 1000."]}},
        )
    return limit


def _number(text: str, end: int) -> int | None:
    """`text` as a whole number below `end`, written in ASCII digits only, else None.

    (str.isdigit() also takes "²", which int() refuses, and Arabic-Indic digits, which it reads.)
    """
    if not (text.isascii() and text.isdigit()) or len(text) > len(str(end)):
        return None
    number = int(text)
    return number if number < end else None


def _afterid_field() -> int:
    cursor = request.args.get("cursor")
    if not cursor:
        return 0
    try:
        (value,) = decode_cursor(cursor, 1)
        after = _number(value, _ROW_ID_END)
        if after is None:
            raise ValueError("not an id this service gives its rows")
        return after
    except ValueError:
        raise ApiError(
            400,
            "invalid_request",
            "Invalid cursor: pass next_cursor back as received.",
            {"query": {"cursor": ["Not a cursor this service issued."]}},
        ) from None


def _time_arg(name: str) -> dt.datetime | None:
    raw = request.args.get(name)
    if raw is None:
        return None
    try:
        value = dt.datetime.fromisoformat(raw)
    except ValueError:
        value = None
    if value is None or value.tzinfo is None or not instant_in_range(value):
        raise ApiError(
            400,
            "invalid_request",
            f"{name} must be an ISO 8601 time with a UTC offset.",
            {"query": {name: [f"Not an ISO 8601 time with offset that {TIME_RANGE_ERROR}."]}},
        )
    return value


@blp.route("/domains/<did>/ledger", methods=["GET"])
@require_scope("admin")
def get_ledger(did: str) -> Response:
    """The domain's ledger entries, oldest first, paginated."""
    domain = _get_or_404(models.Domain, _pathid_field("did", did), "domain")
    limit, after = _limit(), _afterid_field()
    rows = list(
        db.session.scalars(
            select(models.LedgerEntry)
            .where(models.LedgerEntry.domain_id == domain.id, models.LedgerEntry.id > after)
            .order_by(models.LedgerEntry.id)
            .limit(limit + 1)
        )
    )
    more = len(rows) > limit
    rows = rows[:limit]
    return jsonify(
        {
            "entries": [
                {
                    "id": e.id,
                    "domain_id": e.domain_id,
                    "item": e.item,
                    "amount": str(pricing.money(e.amount)),
                    "currency": e.currency,
                    "actor": e.actor,
                    "operation": e.operation,
                    "at": e.at.isoformat(),
                    "request_id": e.request_id,
                    "audit_event_id": e.audit_event_id,
                }
                for e in rows
            ],
            "next_cursor": encode_cursor(str(rows[-1].id)) if more else None,
        }
    )


@blp.route("/domains/<did>/billing", methods=["GET"])
@require_scope("admin")
def get_billing(did: str) -> Response:
    """The domain's monthly run-rate at `at` (default now), item by item."""
    domain = _get_or_404(models.Domain, _pathid_field("did", did), "domain")
    at = _time_arg("at") or dt.datetime.now(dt.UTC)
    priced = breakdown(_context(), domain.id, at)
    return jsonify({"at": at.isoformat(), "domain_id": domain.id, **priced.as_dict()})


@blp.route("/audit", methods=["GET"])
@require_scope("admin")
def get_audit() -> Response:
    """Audit events, oldest first, filtered by portal, domain, actor and time; paginated."""
    limit, after = _limit(), _afterid_field()
    stmt = select(models.AuditEvent).where(models.AuditEvent.id > after)
    for name, column in (
        ("portal_id", models.AuditEvent.portal_id),
        ("domain_id", models.AuditEvent.domain_id),
    ):
        value = request.args.get(name)
        if value is not None:
            stmt = stmt.where(column == _pathid_field(name, value, "query"))
    actor = request.args.get("actor")
    if actor is not None:
        _actor_field("actor", actor, "query")
        stmt = stmt.where(models.AuditEvent.actor == actor)
    since, until = _time_arg("since"), _time_arg("until")
    if since is not None:
        stmt = stmt.where(models.AuditEvent.at >= since)
    if until is not None:
        stmt = stmt.where(models.AuditEvent.at < until)
    rows = list(db.session.scalars(stmt.order_by(models.AuditEvent.id).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return jsonify(
        {
            "events": [audit.as_dict(e) for e in rows],
            "next_cursor": encode_cursor(str(rows[-1].id)) if more else None,
        }
    )


@blp.route("/portals/<pid>/guest-report", methods=["GET"])
@require_scope("admin")
def get_guest_report(pid: str) -> Response:
    """The FAQ Q10 clean-up report of the portal's guests."""
    pid = _pathid_field("pid", pid)
    try:
        return jsonify(conversion.guest_report(_context(), pid))
    except OperationError as exc:
        raise _api_error(exc) from None
