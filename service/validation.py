"""Checks every entry point applies to client input before it reaches the database or the policy."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from typing import Any, cast

from marshmallow import RAISE, Schema, ValidationError, fields, validate

from service.vocabulary import ID_PATTERN

# Text no database here can store: NUL (PostgreSQL text) and unpaired surrogates (not UTF-8).
_UNSTORABLE = re.compile("[\\x00\\ud800-\\udfff]")

# Instants the service accepts: wide enough for any business date, far from datetime's edges
# (a year-9999 time is already year 10000 in Brussels).
EARLIEST = dt.datetime(1900, 1, 1, tzinfo=dt.UTC)
LATEST = dt.datetime(9000, 1, 1, tzinfo=dt.UTC)
TIME_RANGE_ERROR = "must be between 1900-01-01 and 9000-01-01 (UTC)"


def unstorable_text(value: Any, path: tuple[str, ...] = ()) -> tuple[str, ...] | None:
    """Return the path of the first string (key or value) holding NUL or a lone surrogate."""
    if isinstance(value, str):
        return path if _UNSTORABLE.search(value) else None
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(key, str) and _UNSTORABLE.search(key):
                return (*path, key.encode("utf-8", "backslashreplace").decode())
            found = unstorable_text(item, (*path, str(key)))
            if found is not None:
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found = unstorable_text(item, (*path, str(index)))
            if found is not None:
                return found
    return None


def nested_error(path: tuple[str, ...], message: str) -> Any:
    """Return `{path[0]: {path[1]: ... [message]}}`, the shape of marshmallow's field errors."""
    details: Any = [message]
    for key in reversed(path):
        details = {key: details}
    return details


UNSTORABLE_MESSAGE = "Text must not contain NUL characters or unpaired surrogates."


def instant_in_range(at: dt.datetime) -> bool:
    """Tell whether an aware instant lies in the range the service accepts."""
    try:
        return EARLIEST <= at.astimezone(dt.UTC) < LATEST
    except (OverflowError, ValueError):
        return False


# -- marshmallow pieces shared by the import and the API schemas --------------------------
ID_ERROR = "must be 1-64 characters of A-Za-z0-9._:-"


def one_of(values: Iterable[Any]) -> validate.OneOf:
    """Accept exactly the given names (an enum's values), listed sorted in the error."""
    return validate.OneOf(sorted(str(v) for v in values))


class FullMatch(validate.Regexp):
    """`validate.Regexp` over the whole value: its `match` lets a final newline past `$`.

    Still a `Regexp`, so the OpenAPI document shows the (anchored) pattern.
    """

    def __call__(self, value: Any) -> Any:
        regex = cast("re.Pattern[str]", self.regex)  # built from a str pattern
        if not isinstance(value, str) or regex.fullmatch(value) is None:
            raise ValidationError(self._format_error(value))
        return value


def id_field(**kwargs: Any) -> fields.String:
    """An opaque id: 1-64 characters of A-Za-z0-9._:-"""
    return fields.String(validate=FullMatch(ID_PATTERN, error=ID_ERROR), **kwargs)


class StrictSchema(Schema):
    """Unknown fields are an error: a misspelled field must not be silently ignored."""

    class Meta:
        unknown = RAISE


class Instant(fields.AwareDateTime):
    """An ISO 8601 time with a UTC offset, within the range the service accepts."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        at = super()._deserialize(value, attr, data, **kwargs)
        if not instant_in_range(at):
            raise ValidationError(f"Time {TIME_RANGE_ERROR}.")
        return at
