"""API keys: `Authorization: Bearer <secret>`, scopes `check` and `admin` (admin implies check)."""

from __future__ import annotations

import functools
import hashlib
import hmac
from collections.abc import Callable, Iterable
from copy import deepcopy
from typing import Any, TypeVar, cast

from flask import current_app, g, request

from service.api.errors import ApiError
from service.config import DEV_KEY, SCOPES, ApiKey

F = TypeVar("F", bound=Callable[..., Any])

# The name of the security scheme in the OpenAPI document.
BEARER_SCHEME = "bearerAuth"
_CHALLENGE = {"WWW-Authenticate": "Bearer"}
_CHECKED_KEY = "yuki_authz.api_key"  # (scope, ApiKey) checked for this request, in its environ


def match_key(keys: Iterable[ApiKey], presented: str) -> ApiKey | None:
    """Find the key whose secret is `presented`, comparing against every key in constant time.

    Digests are compared, not secrets, so the comparison time does not reveal a secret's length;
    the loop never stops early, so it does not reveal which key matched either.
    """
    digest = hashlib.sha256(presented.encode("utf-8", "surrogatepass")).digest()
    found: ApiKey | None = None
    for key in keys:
        if hmac.compare_digest(key.digest, digest):
            found = key
    return found


def authenticate() -> ApiKey:
    """Return the key the request carries, or raise 401."""
    keys: tuple[ApiKey, ...] = current_app.config["AUTHZ_API_KEYS"]
    if not keys and current_app.config["AUTHZ_DEV_MODE"]:
        return DEV_KEY
    scheme, _, secret = request.headers.get("Authorization", "").strip().partition(" ")
    secret = secret.strip()
    if scheme.lower() != "bearer" or not secret:
        raise ApiError(
            401,
            "unauthorized",
            "Missing API key: send the header Authorization: Bearer <secret>.",
            headers=_CHALLENGE,
        )
    key = match_key(keys, secret)
    if key is None:
        raise ApiError(
            401,
            "unauthorized",
            "Unknown API key: check the secret configured in AUTHZ_API_KEYS.",
            headers=_CHALLENGE,
        )
    return key


def _key_with_scope(scope: str) -> ApiKey:
    """Return the request's key if it holds `scope`; else raise 401 (no such key) or 403."""
    key = authenticate()
    if not key.allows(scope):
        raise ApiError(
            403,
            "insufficient_scope",
            f"The API key {key.name!r} lacks the {scope!r} scope this endpoint needs.",
            {"required_scope": scope, "key_scope": key.scope},
        )
    return key


def authenticate_request() -> None:
    """Check the key of a view that needs a scope before anything reads the request's body.

    A `before_request` hook that runs ahead of the body checks: a caller without a valid key
    gets 401 (403 without the scope) whatever it sent, and its body is never parsed. The key is
    kept on the request itself (`g` may outlive a request), for the view's own check.
    """
    if request.routing_exception is not None or request.endpoint is None:
        return  # unknown paths and methods answer 404/405
    scope = getattr(current_app.view_functions.get(request.endpoint), "required_scope", None)
    if scope is not None:
        request.environ[_CHECKED_KEY] = (scope, _key_with_scope(scope))


def require_scope(scope: str) -> Callable[[F], F]:
    """Let the view run only for a key holding `scope`; sets `g.api_key_name`."""
    if scope not in SCOPES:
        raise ValueError(f"unknown scope {scope!r}; use one of {SCOPES}")

    def decorator(view: F) -> F:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            checked = request.environ.get(_CHECKED_KEY)
            key = checked[1] if checked and checked[0] == scope else _key_with_scope(scope)
            g.api_key_name = key.name
            return current_app.ensure_sync(view)(*args, **kwargs)

        wrapper.required_scope = scope  # type: ignore[attr-defined]  # read by the hook above

        _document(wrapper, scope)
        return cast(F, wrapper)

    return decorator


def _document(wrapper: Any, scope: str) -> None:
    """Add the bearer requirement and the 401/403 answers to the view's OpenAPI operation."""
    apidoc = deepcopy(getattr(wrapper, "_apidoc", {}))
    manual = apidoc.setdefault("manual_doc", {})
    manual["security"] = [{BEARER_SCHEME: []}]
    manual.setdefault("responses", {}).update({"401": "UNAUTHORIZED", "403": "FORBIDDEN"})
    manual["x-required-scope"] = scope
    wrapper._apidoc = apidoc
