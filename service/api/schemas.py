"""Marshmallow schemas of the query API: what a valid request is, and what the answers hold."""

from __future__ import annotations

from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, validate

from service.validation import TIME_RANGE_ERROR, instant_in_range
from service.vocabulary import ID_PATTERN, Action, ActorType, ResourceType

_ID_ERROR = "must be 1-64 characters of A-Za-z0-9._:-"


def _one_of(values: Any) -> validate.OneOf:
    return validate.OneOf(sorted(str(v) for v in values))


class _Strict(Schema):
    """Unknown fields are an error: a misspelled `context` must not silently decide at `now`."""

    class Meta:
        unknown = RAISE


class ActorRef(_Strict):
    type = fields.String(required=True, validate=_one_of(ActorType))
    id = fields.String(required=True, validate=validate.Regexp(ID_PATTERN, error=_ID_ERROR))


class ResourceRef(_Strict):
    type = fields.String(required=True, validate=_one_of(ResourceType))
    id = fields.String(required=True, validate=validate.Regexp(ID_PATTERN, error=_ID_ERROR))


class Instant(fields.AwareDateTime):
    """An ISO 8601 time with a UTC offset, within the range the service accepts."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        at = super()._deserialize(value, attr, data, **kwargs)
        if not instant_in_range(at):
            raise ValidationError(f"Time {TIME_RANGE_ERROR}.")
        return at


class Context(_Strict):
    """The request's context; `at` (ISO 8601 with offset) defaults to now.

    Strict too: a misspelled `at` must not silently decide at the current time.
    """

    at = Instant(load_default=None, allow_none=True)


class AuthorizeRequest(_Strict):
    actor = fields.Nested(ActorRef, required=True)
    action = fields.String(required=True, validate=_one_of(Action))
    resource = fields.Nested(ResourceRef, required=True)
    context = fields.Nested(Context, load_default=dict)


class AuthorizeResponse(Schema):
    allowed = fields.Boolean(required=True)
    reasons = fields.List(fields.String(), required=True)
    decision_id = fields.String(required=True)
    policy_version = fields.String(required=True)


class ExplainResponse(AuthorizeResponse):
    explanation = fields.Dict(required=True)


class BatchRequest(_Strict):
    checks = fields.List(
        fields.Nested(AuthorizeRequest),
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


class ListResourcesRequest(_Strict):
    actor = fields.Nested(ActorRef, required=True)
    action = fields.String(required=True, validate=_one_of(Action))
    resource_type = fields.String(required=True, validate=_one_of(ResourceType))
    limit = fields.Integer(load_default=100, strict=True, validate=validate.Range(1, 1000))
    cursor = fields.String(load_default=None, allow_none=True, validate=validate.Length(1, 512))
    context = fields.Nested(Context, load_default=dict)


class ListResourcesResponse(Schema):
    ids = fields.List(fields.String(), required=True)
    next_cursor = fields.String(allow_none=True, required=True)
    policy_version = fields.String(required=True)


class ListActorsRequest(_Strict):
    action = fields.String(required=True, validate=_one_of(Action))
    resource = fields.Nested(ResourceRef, required=True)
    actor_type = fields.String(load_default=None, allow_none=True, validate=_one_of(ActorType))
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


class ActionsRequest(_Strict):
    actor = fields.Nested(ActorRef, required=True)
    resource = fields.Nested(ResourceRef, required=True)
    context = fields.Nested(Context, load_default=dict)


class ActionsResponse(Schema):
    actions = fields.List(fields.String(), required=True)
    policy_version = fields.String(required=True)
