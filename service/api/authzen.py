"""AuthZEN Authorization API 1.0 (OpenID) over the same engine as /v1 (scope `check`).

Subject = actor (`PortalUser` | `DomainUser`), action = `{"name": <action>}`, resource = the /v1
resource, `context.at` the time decided at. Every decision comes from the same `Authorizer`
methods as /v1 (`authorize_many`, `list_resources`, `list_actors`, `actions`), so for an input
/v1 accepts both give the same decision and reasons.

Where AuthZEN differs from /v1, by the spec:
- unknown fields are ignored; a type, id or action name is any string;
- an unknown subject or resource type is a deny (`unknown_actor` / `unknown_resource`), an unknown
  action name a deny (`action_not_applicable`), and in a search an empty result, never a 400;
- in `/evaluations`, an item that is invalid after the defaults are merged is a per-item deny
  carrying `{"error": {"status": 400, "message": …}}`; the other items are still decided.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any, TypeVar, cast

from flask import current_app, request
from marshmallow import ValidationError

from service.api import Blueprint
from service.api.authzen_schemas import (
    DEFAULT_PAGE_LIMIT,
    MAX_PAGE_LIMIT,
    AuthZenActionSearchRequest,
    AuthZenConfiguration,
    AuthZenDecision,
    AuthZenEvaluationRequest,
    AuthZenEvaluationsRequest,
    AuthZenEvaluationsResponse,
    AuthZenResourceSearchRequest,
    AuthZenSearchResponse,
    AuthZenSubjectSearchRequest,
)
from service.api.errors import ApiError
from service.api.queries import log_decisions, log_listing
from service.api.security import require_scope
from service.authz import Authorizer, Check, InvalidCursor, Ref, decode_cursor, encode_cursor
from service.authz.engine import Decision
from service.db import db
from service.vocabulary import ActorType, Reason, ResourceType

F = TypeVar("F", bound=Callable[..., Any])

blp = Blueprint(
    "authzen",
    __name__,
    description="AuthZEN Authorization API 1.0: evaluation, evaluations, searches, metadata",
)

PREFIX = "/access/v1"
ENDPOINTS = {
    "access_evaluation_endpoint": f"{PREFIX}/evaluation",
    "access_evaluations_endpoint": f"{PREFIX}/evaluations",
    "search_subject_endpoint": f"{PREFIX}/search/subject",
    "search_resource_endpoint": f"{PREFIX}/search/resource",
    "search_action_endpoint": f"{PREFIX}/search/action",
}
_ENTITY_KEYS = ("subject", "action", "resource", "context")
_ACTOR_TYPES = frozenset(t.value for t in ActorType)
_RESOURCE_TYPES = frozenset(t.value for t in ResourceType)


def authorizer() -> Authorizer:
    found = current_app.extensions.get("authz")
    if found is None:
        raise ApiError(503, "policy_not_loaded", "The policy is not loaded; check /readyz.")
    return found


def json_object_body(view: F) -> F:
    """Refuse an empty body or a Content-Type other than application/json (AuthZEN transport).

    The middleware already answers a non-empty body that is not a JSON object; this adds the two
    cases the spec makes errors too. Runs after the key check, so an anonymous caller gets 401.
    """

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not request.get_data(cache=True).strip():
            raise ApiError(400, "invalid_json", "The body is empty: send a JSON object.")
        if request.mimetype != "application/json":
            raise ApiError(
                400,
                "invalid_json",
                "Send the body as a JSON object with Content-Type: application/json.",
                {"content_type": request.mimetype or None},
            )
        return view(*args, **kwargs)

    return cast(F, wrapper)


def _at(context: dict[str, Any] | None) -> dt.datetime:
    at = (context or {}).get("at")
    return at if at is not None else dt.datetime.now(dt.UTC)


# -- decisions --------------------------------------------------------------------------------


def _answer(allowed: bool, reasons: Sequence[str]) -> dict[str, Any]:
    if allowed:
        return {"decision": True}
    return {"decision": False, "context": {"reasons": list(reasons)}}


def _error_answer(message: str) -> dict[str, Any]:
    return {"decision": False, "context": {"error": {"status": 400, "message": message}}}


def _decide(
    az: Authorizer, requests: Sequence[dict[str, Any]], endpoint: str
) -> list[dict[str, Any]]:
    """Decide validated evaluation requests, in order, with one `authorize_many` call.

    A subject or resource of a type the service does not know is denied here as unknown: the
    engine loads objects by type, and there is no object of that type to load. Every decision
    goes to the decision log, as /v1's do.
    """
    started = time.perf_counter()
    checks: list[Check] = []
    known: list[Check] = []
    decisions: list[Decision | None] = []
    for body in requests:
        subject, resource = body["subject"], body["resource"]
        check = Check(
            Ref(subject["type"], subject["id"]),
            body["action"]["name"],
            Ref(resource["type"], resource["id"]),
            _at(body.get("context")),
        )
        checks.append(check)
        unknown = []
        if subject["type"] not in _ACTOR_TYPES:
            unknown.append(Reason.UNKNOWN_ACTOR.value)
        if resource["type"] not in _RESOURCE_TYPES:
            unknown.append(Reason.UNKNOWN_RESOURCE.value)
        if unknown:
            decisions.append(Decision(False, tuple(unknown)))
        else:
            decisions.append(None)
            known.append(check)
    decided = iter(az.authorize_many(db.session(), known) if known else [])
    final = [d if d is not None else next(decided) for d in decisions]
    ids = [uuid.uuid4().hex for _ in final]
    log_decisions(endpoint, checks, final, ids, started)
    return [_answer(d.allowed, d.reasons) for d in final]


@blp.route(f"{PREFIX}/evaluation", methods=["POST"])
@require_scope("check")
@json_object_body
@blp.arguments(AuthZenEvaluationRequest)
@blp.response(200, AuthZenDecision)
def evaluation(body: dict[str, Any]) -> dict[str, Any]:
    """Access Evaluation: may the subject take the action on the resource?"""
    return _decide(authorizer(), [body], "authzen/evaluation")[0]


def _messages_text(messages: Any, path: str = "") -> list[str]:
    if isinstance(messages, dict):
        found = []
        for key, value in messages.items():
            found.extend(_messages_text(value, f"{path}.{key}" if path else str(key)))
        return found
    if isinstance(messages, list) and all(isinstance(m, str) for m in messages):
        return [f"{path}: {' '.join(messages)}" if path else " ".join(messages)]
    return [f"{path}: {messages}" if path else str(messages)]


def _item_request(index: int, item: Any, defaults: dict[str, Any]) -> dict[str, Any] | str:
    """Merge one item over the defaults (whole objects, no sub-field merge) and validate it.

    Answer the loaded request, or the message of the per-item error.
    """
    if not isinstance(item, dict):
        return f"evaluations[{index}] must be an object."
    merged = {
        key: item[key] if key in item else defaults[key]
        for key in _ENTITY_KEYS
        if key in item or key in defaults
    }
    try:
        loaded: dict[str, Any] = AuthZenEvaluationRequest().load(merged)
    except ValidationError as exc:
        return f"evaluations[{index}] is invalid: " + "; ".join(_messages_text(exc.messages))
    return loaded


@blp.route(f"{PREFIX}/evaluations", methods=["POST"])
@require_scope("check")
@json_object_body
@blp.arguments(AuthZenEvaluationsRequest)
@blp.response(200, AuthZenEvaluationsResponse)
def evaluations(body: dict[str, Any]) -> dict[str, Any]:
    """Access Evaluations: many decisions; top-level subject/action/resource/context are defaults.

    `options.evaluations_semantic`: `execute_all` (default) answers every item;
    `deny_on_first_deny` stops after the first deny (or per-item error), `permit_on_first_permit`
    after the first permit. Without items (absent or empty `evaluations`), the defaults are one
    evaluation and the answer is a single decision.
    """
    az = authorizer()
    raw = request.get_json(silent=True) or {}
    # The top-level entities as sent: the schema has checked their types already.
    defaults = {key: raw[key] for key in _ENTITY_KEYS if key in raw}
    items = body.get("evaluations") or []
    if not items:
        try:
            single = AuthZenEvaluationRequest().load(defaults)
        except ValidationError as exc:
            raise ApiError(
                400,
                "invalid_request",
                "The request is invalid: fix the fields listed in details.",
                {"json": exc.messages},
            ) from None
        return _decide(az, [single], "authzen/evaluations")[0]

    prepared = [_item_request(i, item, defaults) for i, item in enumerate(items)]
    decided = iter(_decide(az, [p for p in prepared if isinstance(p, dict)], "authzen/evaluations"))
    answers = [_error_answer(p) if isinstance(p, str) else next(decided) for p in prepared]

    semantic = body["options"]["evaluations_semantic"]
    if semantic != "execute_all":
        stop_on = semantic == "permit_on_first_permit"
        for position, answer in enumerate(answers):
            if answer["decision"] is stop_on:
                answers = answers[: position + 1]
                break
    return {"evaluations": answers}


# -- searches --------------------------------------------------------------------------------
# A page token is the /v1 cursor plus a digest of what the search asked; a token replayed with
# other entities answers 400 (the spec: "PDPs SHOULD return an error when any entity ... has been
# changed"). `page.limit` may change between pages (the certification harness drops it).


def _binding(kind: str, parts: Sequence[Any]) -> str:
    raw = json.dumps([kind, *parts], separators=(",", ":"), default=str)
    return hashlib.sha256(raw.encode()).hexdigest()[:16]


def _invalid_token(message: str) -> ApiError:
    return ApiError(
        400,
        "invalid_request",
        f"The page token is not valid: {message}",
        {"json": {"page": {"token": ["pass back page.next_token exactly as received"]}}},
    )


def _cursor(page: dict[str, Any], binding: str) -> str | None:
    token = page.get("token")
    if not token:
        return None  # absent, null or "": the first page
    cursor, _, bound = token.rpartition(".")
    if not cursor or bound != binding:
        raise _invalid_token(
            "it was issued for another search (subject, action, resource, context)."
        )
    return cursor


def _next_token(cursor: str | None, binding: str) -> str:
    return f"{cursor}.{binding}" if cursor else ""


def _limit(page: dict[str, Any]) -> int:
    # page.limit is a maximum: above the /v1 maximum, pages of that maximum are sent.
    return min(int(page.get("limit", DEFAULT_PAGE_LIMIT)), MAX_PAGE_LIMIT)


def _search_answer(
    results: list[dict[str, Any]], cursor: str | None, binding: str
) -> dict[str, Any]:
    return {"page": {"next_token": _next_token(cursor, binding)}, "results": results}


@blp.route(f"{PREFIX}/search/subject", methods=["POST"])
@require_scope("check")
@json_object_body
@blp.arguments(AuthZenSubjectSearchRequest)
@blp.response(200, AuthZenSearchResponse)
def search_subject(body: dict[str, Any]) -> dict[str, Any]:
    """Subject Search: the subjects of `subject.type` that may take the action on the resource.

    `subject.id` is ignored. Sorted by id; an unknown type, resource or action finds nothing.
    """
    started = time.perf_counter()
    subject_type = body["subject"]["type"]
    action, resource = body["action"]["name"], body["resource"]
    at = body["context"].get("at")
    binding = _binding("subject", [subject_type, action, resource["type"], resource["id"], at])
    cursor = _cursor(body["page"], binding)
    if subject_type not in _ACTOR_TYPES or resource["type"] not in _RESOURCE_TYPES:
        return _search_answer([], None, binding)
    try:
        actors, following = authorizer().list_actors(
            db.session(),
            action,
            Ref(resource["type"], resource["id"]),
            subject_type,
            _at(body["context"]),
            _limit(body["page"]),
            cursor,
        )
    except InvalidCursor as exc:
        raise _invalid_token(str(exc)) from None
    resource_ref = Ref(resource["type"], resource["id"])
    log_listing("authzen/search/subject", None, action, resource_ref, None, len(actors), started)
    results = [{"type": a.type, "id": a.id} for a in actors]
    return _search_answer(results, following, binding)


@blp.route(f"{PREFIX}/search/resource", methods=["POST"])
@require_scope("check")
@json_object_body
@blp.arguments(AuthZenResourceSearchRequest)
@blp.response(200, AuthZenSearchResponse)
def search_resource(body: dict[str, Any]) -> dict[str, Any]:
    """Resource Search: the resources of `resource.type` the subject may take the action on.

    `resource.id` is ignored. Sorted by id; an unknown type, subject or action finds nothing.
    """
    started = time.perf_counter()
    subject, action = body["subject"], body["action"]["name"]
    resource_type = body["resource"]["type"]
    at = body["context"].get("at")
    binding = _binding("resource", [subject["type"], subject["id"], action, resource_type, at])
    cursor = _cursor(body["page"], binding)
    if subject["type"] not in _ACTOR_TYPES or resource_type not in _RESOURCE_TYPES:
        return _search_answer([], None, binding)
    try:
        ids, following = authorizer().list_resources(
            db.session(),
            Ref(subject["type"], subject["id"]),
            action,
            resource_type,
            _at(body["context"]),
            _limit(body["page"]),
            cursor,
        )
    except InvalidCursor as exc:
        raise _invalid_token(str(exc)) from None
    actor = Ref(subject["type"], subject["id"])
    log_listing("authzen/search/resource", actor, action, None, resource_type, len(ids), started)
    return _search_answer([{"type": resource_type, "id": i} for i in ids], following, binding)


@blp.route(f"{PREFIX}/search/action", methods=["POST"])
@require_scope("check")
@json_object_body
@blp.arguments(AuthZenActionSearchRequest)
@blp.response(200, AuthZenSearchResponse)
def search_action(body: dict[str, Any]) -> dict[str, Any]:
    """Action Search: the actions the subject may take on the resource, sorted by name.

    An unknown subject or resource (type or id) finds nothing.
    """
    started = time.perf_counter()
    subject, resource = body["subject"], body["resource"]
    at = body["context"].get("at")
    binding = _binding(
        "action", [subject["type"], subject["id"], resource["type"], resource["id"], at]
    )
    cursor = _cursor(body["page"], binding)
    try:
        after = decode_cursor(cursor, 1)[0] if cursor else None
    except InvalidCursor as exc:
        raise _invalid_token(str(exc)) from None
    if subject["type"] not in _ACTOR_TYPES or resource["type"] not in _RESOURCE_TYPES:
        return _search_answer([], None, binding)
    actor, target = Ref(subject["type"], subject["id"]), Ref(resource["type"], resource["id"])
    names = authorizer().actions(db.session(), actor, target, _at(body["context"]))
    if after is not None:
        names = [name for name in names if name > after]
    limit = _limit(body["page"])
    following = encode_cursor(names[limit - 1]) if len(names) > limit else None
    log_listing("authzen/search/action", actor, "*", target, None, len(names[:limit]), started)
    return _search_answer([{"name": n} for n in names[:limit]], following, binding)


# -- metadata --------------------------------------------------------------------------------


@blp.route("/.well-known/authzen-configuration", methods=["GET"])
@blp.response(200, AuthZenConfiguration)
def configuration() -> dict[str, Any]:
    """PDP metadata: this service's identifier and the AuthZEN endpoints it serves.

    Public (it holds no secret), as discovery precedes choosing a key. URLs are built from the
    request's scheme and host, so the identifier is the base URL the client used.
    """
    base = request.host_url.rstrip("/")
    return {"policy_decision_point": base, **{k: base + path for k, path in ENDPOINTS.items()}}
