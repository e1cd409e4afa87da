"""Query endpoints (scope `check`): authorize, batch, list-resources, list-actors, actions.

A deny is data, not an error: every query answers 200 with the policy's decision.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import time
import uuid
from typing import Any

from flask import Response, current_app, g

from service.api import Blueprint
from service.api.errors import ApiError
from service.api.schemas import (
    ActionsRequest,
    ActionsResponse,
    AuthorizeRequest,
    AuthorizeResponse,
    BatchRequest,
    BatchResponse,
    ExplainResponse,
    ListActorsRequest,
    ListActorsResponse,
    ListResourcesRequest,
    ListResourcesResponse,
)
from service.api.security import require_scope
from service.authz import Authorizer, Check, InvalidCursor, Ref
from service.db import db
from service.decisionlog import DecisionLog

blp = Blueprint("queries", __name__, url_prefix="/v1", description="Authorization queries")


def authorizer() -> Authorizer:
    found = current_app.extensions.get("authz")
    if found is None:
        raise ApiError(503, "policy_not_loaded", "The policy is not loaded; check /readyz.")
    return found


def _at(body: dict[str, Any], now: dt.datetime | None = None) -> dt.datetime:
    """The check's `context.at`, else the request's time (`now`, else the clock's)."""
    at = (body.get("context") or {}).get("at")
    if at is not None:
        return at
    return now if now is not None else dt.datetime.now(dt.UTC)


def _ref(raw: dict[str, str]) -> Ref:
    return Ref(raw["type"], raw["id"])


def _check(body: dict[str, Any], now: dt.datetime | None = None) -> Check:
    return Check(_ref(body["actor"]), body["action"], _ref(body["resource"]), _at(body, now))


def _decision_id() -> str:
    return uuid.uuid4().hex


def _decision_ids(count: int) -> list[str]:
    """`count` random (version 4) UUIDs, from one read of the system's random source."""
    raw = os.urandom(16 * count)
    return [uuid.UUID(bytes=raw[k : k + 16], version=4).hex for k in range(0, 16 * count, 16)]


def decision_log() -> DecisionLog:
    found = current_app.extensions.get("decision_log")
    return found if found is not None else DecisionLog("off")


def log_decisions(
    endpoint: str, checks: list[Check], decisions: list[Any], ids: list[str], started: float
) -> None:
    """Write the decision log's line for each decision (as the configured mode wants)."""
    dlog, version = decision_log(), authorizer().policy_version
    if dlog.mode == "off":
        return
    dlog.decisions(
        [
            (i, c.actor, c.action, c.resource, d.allowed, d.reasons)
            for c, d, i in zip(checks, decisions, ids, strict=True)
        ],
        endpoint=endpoint,
        policy_version=version,
        started=started,
        clock=time.perf_counter,
        caller=g.get("api_key_name"),
        request_id=g.get("request_id"),
    )


def log_listing(
    endpoint: str,
    actor: Ref | None,
    action: str,
    resource: Ref | None,
    resource_type: str | None,
    count: int,
    started: float,
) -> None:
    decision_log().listing(
        endpoint=endpoint,
        actor=actor,
        action=action,
        resource=resource,
        resource_type=resource_type,
        count=count,
        policy_version=authorizer().policy_version,
        started=started,
        clock=time.perf_counter,
        caller=g.get("api_key_name"),
        request_id=g.get("request_id"),
    )


def _answer(decision: Any, decision_id: str, policy_version: str) -> dict[str, Any]:
    """One decision as /v1/authorize answers it (AuthorizeResponse)."""
    return {
        "allowed": decision.allowed,
        "reasons": list(decision.reasons),
        "decision_id": decision_id,
        "policy_version": policy_version,
    }


@blp.route("/authorize", methods=["POST"])
@require_scope("check")
@blp.arguments(AuthorizeRequest)
@blp.response(200, AuthorizeResponse)
def authorize(body: dict[str, Any]) -> Response:
    """Decide whether an actor may take an action on a resource, with the reasons of a deny."""
    az = authorizer()
    started = time.perf_counter()
    checks = [_check(body)]
    decision = az.authorize_many(db.session, checks)[0]  # the scoped proxy: no session on a hit
    decision_id = _decision_id()
    log_decisions("authorize", checks, [decision], [decision_id], started)
    # The hot path: the answer is written here, in AuthorizeResponse's shape, without a dump.
    answer = _answer(decision, decision_id, az.policy_version)
    return current_app.response_class(json.dumps(answer), mimetype="application/json")


@blp.route("/explain", methods=["POST"])
@require_scope("check")
@blp.arguments(AuthorizeRequest)
@blp.response(200, ExplainResponse)
def explain(body: dict[str, Any]) -> dict[str, Any]:
    """Decide like /v1/authorize, and explain the decision from the policy's own evaluation."""
    az = authorizer()
    started = time.perf_counter()
    check = _check(body)
    decision, explanation = az.explain(db.session(), check)
    decision_id = _decision_id()
    log_decisions("explain", [check], [decision], [decision_id], started)
    return {**_answer(decision, decision_id, az.policy_version), "explanation": explanation}


@blp.route("/authorize/batch", methods=["POST"])
@require_scope("check")
@blp.arguments(BatchRequest)
@blp.response(200, BatchResponse)
def authorize_batch(body: dict[str, Any]) -> Response:
    """Decide 1 to 1000 checks; the results come in request order."""
    az = authorizer()
    started = time.perf_counter()
    now = dt.datetime.now(dt.UTC)  # the checks without a context.at are asked at one instant
    checks = [_check(c, now) for c in body["checks"]]
    decisions = az.authorize_many(db.session, checks)  # no session when the cache answers all
    ids = _decision_ids(len(decisions))
    log_decisions("authorize/batch", checks, decisions, ids, started)
    # Written here in BatchResponse's shape, like /v1/authorize's answer: a dump of 1000
    # results costs more than deciding them from the cache.
    answer = {
        "results": [
            {"allowed": d.allowed, "reasons": list(d.reasons), "decision_id": i}
            for d, i in zip(decisions, ids, strict=True)
        ],
        "policy_version": az.policy_version,
    }
    return current_app.response_class(json.dumps(answer), mimetype="application/json")


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
    started = time.perf_counter()
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
    log_listing(
        "list-resources",
        _ref(body["actor"]),
        body["action"],
        None,
        body["resource_type"],
        len(ids),
        started,
    )
    return {"ids": ids, "next_cursor": cursor, "policy_version": az.policy_version}


@blp.route("/list-actors", methods=["POST"])
@require_scope("check")
@blp.arguments(ListActorsRequest)
@blp.response(200, ListActorsResponse)
def list_actors(body: dict[str, Any]) -> dict[str, Any]:
    """List the actors who may take an action on a resource, by (type, id)."""
    az = authorizer()
    started = time.perf_counter()
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
    log_listing(
        "list-actors", None, body["action"], _ref(body["resource"]), None, len(actors), started
    )
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
    started = time.perf_counter()
    actor, resource = _ref(body["actor"]), _ref(body["resource"])
    found = az.actions(db.session(), actor, resource, _at(body))
    log_listing("actions", actor, "*", resource, None, len(found), started)
    return {"actions": found, "policy_version": az.policy_version}
