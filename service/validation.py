"""Checks every entry point applies to client input before it reaches the database or the policy."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

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
