"""One small piece shared by the service's in-memory tables: a bounded put, oldest out first."""

from __future__ import annotations

import contextlib
import itertools
from typing import Any


def bounded_put(table: dict[Any, Any], size: int, key: Any, value: Any) -> None:
    """Put `key` in `table`, first dropping its oldest entries when it holds `size` already.

    Dicts keep insertion order, so the first keys are the oldest. They go a sixteenth of the
    table at a time: finding the first key of a dict walks past the slots of the keys deleted
    before it, so dropping them one per put cost a walk of thousands of slots each time.
    Safe beside other threads doing the same: one of them may have dropped an entry first.
    """
    if len(table) >= size:
        with contextlib.suppress(RuntimeError):  # another thread changed the table meanwhile
            oldest = list(itertools.islice(table, max(1, size // 16)))
            for old in oldest:
                table.pop(old, None)
    table[key] = value
