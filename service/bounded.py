"""One small piece shared by the service's in-memory tables: a bounded put, oldest out first."""

from __future__ import annotations

import contextlib
from typing import Any


def bounded_put(table: dict[Any, Any], size: int, key: Any, value: Any) -> None:
    """Put `key` in `table`, first dropping its oldest entry when it holds `size` already.

    Dicts keep insertion order, so the first key is the oldest. Safe beside other threads doing
    the same: one of them may have dropped that entry first.
    """
    if len(table) >= size:
        with contextlib.suppress(KeyError, RuntimeError, StopIteration):
            del table[next(iter(table))]
    table[key] = value
