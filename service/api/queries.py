"""Query endpoints (scope `check`): authorize, batch, list-resources, list-actors, actions.

A deny is data, not an error: every query answers 200 with the policy's decision.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from flask import current_app

from service.api import Blueprint
from service.api.errors import ApiError
from service.api.schemas import (
    ActionsRequest,
    ActionsResponse,
    AuthorizeRequest,
    AuthorizeResponse,
    BatchRequest,
    BatchResponse,
    ListActorsRequest,
    ListActorsResponse,
    ListResourcesRequest,
    ListResourcesResponse,
)
from service.api.security import require_scope
from service.authz import Authorizer, Check, InvalidCursor, Ref
from service.db import db

blp = Blueprint("queries", __name__, url_prefix="/v1", description="Authorization queries")


def authorizer() -> Authorizer:
    found = current_app.extensions.get("authz")
    if found is None:
        raise ApiError(503, "policy_not_loaded", "The policy is not loaded; check /readyz.")
    return found


def _at(body: dict[str, Any]) -> dt.datetime:
    at = (body.get("context") or {}).get("at")
    return at if at is not None else dt.datetime.now(dt.UTC)


def _ref(raw: dict[str, str]) -> Ref:
    return Ref(raw["type"], raw["id"])


def _check(body: dict[str, Any]) -> Check:
    return Check(_ref(body["actor"]), body["action"], _ref(body["resource"]), _at(body))


def _decision_id() -> str:
    return uuid.uuid4().hex


@blp.route("/authorize", methods=["POST"])
@require_scope("check")
@blp.arguments(AuthorizeRequest)
@blp.response(200, AuthorizeResponse)
def authorize(body: dict[str, Any]) -> dict[str, Any]:
    """Decide whether an actor may take an action on a resource, with the reasons of a deny."""
    az = authorizer()
    decision = az.authorize_many(db.session(), [_check(body)])[0]
    return {
        "allowed": decision.allowed,
        "reasons": list(decision.reasons),
        "decision_id": _decision_id(),
        "policy_version": az.policy_version,
    }


@blp.route("/authorize/batch", methods=["POST"])
@require_scope("check")
@blp.arguments(BatchRequest)
@blp.response(200, BatchResponse)
def authorize_batch(body: dict[str, Any]) -> dict[str, Any]:
    """Decide 1 to 1000 checks; the results come in request order."""
    az = authorizer()
    decisions = az.authorize_many(db.session(), [_check(c) for c in body["checks"]])
    return {
        "results": [
            {"allowed": d.allowed, "reasons": list(d.reasons), "decision_id": _decision_id()}
            for d in decisions
        ],
        "policy_version": az.policy_version,
    }


def _invalid_cursor(exc: InvalidCursor) -> ApiError:
    return ApiError(
        400,
        "invalid_request",
        "The cursor is not valid: pass back a next_cursor exactly as received, or null.",
        {"json": {"cursor": [str(exc)]}},
    )


@blp.route("/list-resources", methods=["POST"])
@require_scope("check")
@blp.arguments(ListResourcesRequest)
@blp.response(200, ListResourcesResponse)
def list_resources(body: dict[str, Any]) -> dict[str, Any]:
    """List the ids of a resource type the actor may act on, ascending, one page at a time."""
    az = authorizer()
    try:
        ids, cursor = az.list_resources(
            db.session(),
            _ref(body["actor"]),
            body["action"],
            body["resource_type"],
            _at(body),
            body["limit"],
            body["cursor"],
        )
    except InvalidCursor as exc:
        raise _invalid_cursor(exc) from None
    return {"ids": ids, "next_cursor": cursor, "policy_version": az.policy_version}


@blp.route("/list-actors", methods=["POST"])
@require_scope("check")
@blp.arguments(ListActorsRequest)
@blp.response(200, ListActorsResponse)
def list_actors(body: dict[str, Any]) -> dict[str, Any]:
    """List the actors who may take an action on a resource, by (type, id)."""
    az = authorizer()
    try:
        actors, cursor = az.list_actors(
            db.session(),
            body["action"],
            _ref(body["resource"]),
            body["actor_type"],
            _at(body),
            body["limit"],
            body["cursor"],
        )
    except InvalidCursor as exc:
        raise _invalid_cursor(exc) from None
    return {
        "actors": [{"type": a.type, "id": a.id} for a in actors],
        "next_cursor": cursor,
        "policy_version": az.policy_version,
    }


@blp.route("/actions", methods=["POST"])
@require_scope("check")
@blp.arguments(ActionsRequest)
@blp.response(200, ActionsResponse)
def actions(body: dict[str, Any]) -> dict[str, Any]:
    """List the actions the actor may take on the resource, sorted."""
    az = authorizer()
    found = az.actions(db.session(), _ref(body["actor"]), _ref(body["resource"]), _at(body))
    return {"actions": found, "policy_version": az.policy_version}
