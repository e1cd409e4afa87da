"""Marshmallow schemas of the AuthZEN Authorization API 1.0 endpoints (service/api/authzen.py).

AuthZEN is lenient where /v1 is strict: unknown fields are ignored (forward compatibility, spec
"JSON Serialization"), and a `type`, `id` or action `name` is any string. What stays an error
(400) is what the spec makes one: a missing required member, or a member of the wrong JSON type.
Whether a type, id or action exists is a decision (a deny, or an empty search), not an error.
"""

from __future__ import annotations

from typing import Any

from marshmallow import EXCLUDE, Schema, fields, validate

from service.api.schemas import Instant

SEMANTICS = ("execute_all", "deny_on_first_deny", "permit_on_first_permit")
MAX_EVALUATIONS = 1000
MAX_PAGE_LIMIT = 1000
DEFAULT_PAGE_LIMIT = 100


class _Lenient(Schema):
    """Unknown fields are ignored, as AuthZEN requires of a receiver."""

    class Meta:
        unknown = EXCLUDE


class AuthZenEntity(_Lenient):
    """A Subject or Resource: `type` and `id` strings, optional `properties` object."""

    type = fields.String(required=True, metadata={"description": "PortalUser, DomainUser, …"})
    id = fields.String(required=True)
    properties = fields.Dict(
        metadata={"description": "Accepted and ignored: the service decides on its own data"}
    )


class AuthZenSearchedEntity(_Lenient):
    """The entity a search looks for: `type` only; an `id`, if present, is ignored (any type)."""

    type = fields.String(required=True)
    id = fields.Raw(allow_none=True, metadata={"description": "Ignored"})
    properties = fields.Dict()


class AuthZenActionRef(_Lenient):
    name = fields.String(required=True, metadata={"description": "An action of domain.md §2"})
    properties = fields.Dict(metadata={"description": "Accepted and ignored"})


class AuthZenContext(_Lenient):
    """The environment. `at` (ISO 8601 with offset, default now) is the time decided at;
    other keys are ignored."""

    at = Instant(load_default=None, allow_none=True)


class AuthZenEvaluationRequest(_Lenient):
    subject = fields.Nested(AuthZenEntity, required=True)
    action = fields.Nested(AuthZenActionRef, required=True)
    resource = fields.Nested(AuthZenEntity, required=True)
    context = fields.Nested(AuthZenContext, load_default=dict)


class AuthZenOptions(_Lenient):
    evaluations_semantic = fields.String(
        load_default="execute_all", validate=validate.OneOf(SEMANTICS)
    )


class AuthZenEvaluationsRequest(_Lenient):
    """Top-level defaults and the items; each item is validated on its own after the merge, so
    that one bad item answers a per-item error and the others are still decided."""

    subject = fields.Nested(AuthZenEntity)
    action = fields.Nested(AuthZenActionRef)
    resource = fields.Nested(AuthZenEntity)
    context = fields.Nested(AuthZenContext)
    evaluations = fields.List(
        fields.Raw(
            allow_none=True,
            metadata={"description": "An evaluation request; missing keys use defaults"},
        ),
        validate=validate.Length(max=MAX_EVALUATIONS, error="send at most 1000 evaluations"),
    )
    options = fields.Nested(
        AuthZenOptions, load_default=lambda: {"evaluations_semantic": "execute_all"}
    )


class _Count(fields.Integer):
    """A JSON integer: not a float, a string or a boolean (Python's bool is an int)."""

    def _validated(self, value: Any) -> Any:
        if isinstance(value, bool):
            raise self.make_error("invalid")
        return super()._validated(value)


class AuthZenPageRequest(_Lenient):
    token = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=600))
    limit = _Count(
        load_default=DEFAULT_PAGE_LIMIT,
        strict=True,
        validate=validate.Range(1, error="page.limit must be 1 or more"),
        metadata={"description": "1 or more (default 100); above 1000 pages of 1000 are sent"},
    )
    properties = fields.Dict()


class AuthZenSubjectSearchRequest(_Lenient):
    subject = fields.Nested(AuthZenSearchedEntity, required=True)
    action = fields.Nested(AuthZenActionRef, required=True)
    resource = fields.Nested(AuthZenEntity, required=True)
    context = fields.Nested(AuthZenContext, load_default=dict)
    page = fields.Nested(AuthZenPageRequest, load_default=dict)


class AuthZenResourceSearchRequest(_Lenient):
    subject = fields.Nested(AuthZenEntity, required=True)
    action = fields.Nested(AuthZenActionRef, required=True)
    resource = fields.Nested(AuthZenSearchedEntity, required=True)
    context = fields.Nested(AuthZenContext, load_default=dict)
    page = fields.Nested(AuthZenPageRequest, load_default=dict)


class AuthZenActionSearchRequest(_Lenient):
    subject = fields.Nested(AuthZenEntity, required=True)
    resource = fields.Nested(AuthZenEntity, required=True)
    context = fields.Nested(AuthZenContext, load_default=dict)
    page = fields.Nested(AuthZenPageRequest, load_default=dict)


# -- answers -------------------------------------------------------------------------------------


class AuthZenDecision(Schema):
    decision = fields.Boolean(required=True)
    context = fields.Dict(
        metadata={"description": "A deny: {reasons: [...]} or {error: {status, message}}"}
    )


class AuthZenEvaluationsResponse(Schema):
    """`evaluations` in request order; with no items, the single decision instead."""

    evaluations = fields.List(fields.Nested(AuthZenDecision))
    decision = fields.Boolean()
    context = fields.Dict()


class AuthZenPageResponse(Schema):
    next_token = fields.String(required=True, metadata={"description": '"" at the end'})


class AuthZenSearchResponse(Schema):
    page = fields.Nested(AuthZenPageResponse, required=True)
    results = fields.List(fields.Dict(), required=True)


class AuthZenConfiguration(Schema):
    policy_decision_point = fields.String(required=True)
    access_evaluation_endpoint = fields.String(required=True)
    access_evaluations_endpoint = fields.String(required=True)
    search_subject_endpoint = fields.String(required=True)
    search_resource_endpoint = fields.String(required=True)
    search_action_endpoint = fields.String(required=True)
