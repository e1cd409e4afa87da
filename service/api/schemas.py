"""Marshmallow schemas of the query API: what a valid request is, and what the answers hold."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from service.api.memo import RememberedNested
from service.validation import Instant, StrictSchema, id_field, one_of
from service.vocabulary import Action, ActorType, ResourceType


class ActorRef(StrictSchema):
    type = fields.String(required=True, validate=one_of(ActorType))
    id = id_field(required=True)


class ResourceRef(StrictSchema):
    type = fields.String(required=True, validate=one_of(ResourceType))
    id = id_field(required=True)


class Context(StrictSchema):
    """The request's context; `at` (ISO 8601 with offset) defaults to now.

    Strict too: a misspelled `at` must not silently decide at the current time.
    """

    at = Instant(load_default=None, allow_none=True)


class AuthorizeRequest(StrictSchema):
    # The same few bodies recur all day: remember their load (service/api/memo.py).
    MEMOIZE = True

    # Actors, resources and contexts recur even more than whole checks: remember them too.
    actor = RememberedNested(ActorRef, required=True)
    action = fields.String(required=True, validate=one_of(Action))
    resource = RememberedNested(ResourceRef, required=True)
    context = RememberedNested(Context, load_default=dict)


class AuthorizeResponse(Schema):
    allowed = fields.Boolean(required=True)
    reasons = fields.List(fields.String(), required=True)
    decision_id = fields.String(required=True)
    policy_version = fields.String(required=True)


class ExplainResponse(AuthorizeResponse):
    explanation = fields.Dict(required=True)


class BatchRequest(StrictSchema):
    checks = fields.List(
        RememberedNested(AuthorizeRequest),
        required=True,
        validate=validate.Length(1, 1000, error="send 1 to 1000 checks"),
    )


class BatchResult(Schema):
    allowed = fields.Boolean(required=True)
    reasons = fields.List(fields.String(), required=True)
    decision_id = fields.String(required=True)


class BatchResponse(Schema):
    results = fields.List(fields.Nested(BatchResult), required=True)
    policy_version = fields.String(required=True)


class ListResourcesRequest(StrictSchema):
    actor = fields.Nested(ActorRef, required=True)
    action = fields.String(required=True, validate=one_of(Action))
    resource_type = fields.String(required=True, validate=one_of(ResourceType))
    limit = fields.Integer(load_default=100, strict=True, validate=validate.Range(1, 1000))
    cursor = fields.String(load_default=None, allow_none=True, validate=validate.Length(1, 512))
    context = fields.Nested(Context, load_default=dict)


class ListResourcesResponse(Schema):
    ids = fields.List(fields.String(), required=True)
    next_cursor = fields.String(allow_none=True, required=True)
    policy_version = fields.String(required=True)


class ListActorsRequest(StrictSchema):
    action = fields.String(required=True, validate=one_of(Action))
    resource = fields.Nested(ResourceRef, required=True)
    actor_type = fields.String(load_default=None, allow_none=True, validate=one_of(ActorType))
    limit = fields.Integer(load_default=100, strict=True, validate=validate.Range(1, 1000))
    cursor = fields.String(load_default=None, allow_none=True, validate=validate.Length(1, 512))
    context = fields.Nested(Context, load_default=dict)


class ActorOut(Schema):
    type = fields.String(required=True)
    id = fields.String(required=True)


class ListActorsResponse(Schema):
    actors = fields.List(fields.Nested(ActorOut), required=True)
    next_cursor = fields.String(allow_none=True, required=True)
    policy_version = fields.String(required=True)


class ActionsRequest(StrictSchema):
    actor = fields.Nested(ActorRef, required=True)
    resource = fields.Nested(ResourceRef, required=True)
    context = fields.Nested(Context, load_default=dict)


class ActionsResponse(Schema):
    actions = fields.List(fields.String(), required=True)
    policy_version = fields.String(required=True)
