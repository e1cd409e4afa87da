"""Remember request bodies already validated, so a repeated body is not parsed and checked again.

Services ask the same questions over and over (the same user opening the same domain): the exact
bytes of an authorize body recur. Validation is a pure function of those bytes and the schema, so
its result is kept, keyed by both; a body that failed validation is never kept (it fails again,
with the same 400, every time). Only small bodies are kept, in a bounded table per process.
"""

from __future__ import annotations

from typing import Any

from marshmallow import fields

from service.bounded import bounded_put

MAX_BODY = 2048  # bytes: one check is ~150; batches and imports are not remembered
MAX_ENTRIES = 20_000  # per process, per table: at most ~50 MB with the largest bodies


class BodyMemo:
    """A bounded map from (what checked it, body bytes) to the checked result; oldest out first."""

    def __init__(self, max_entries: int = MAX_ENTRIES, max_body: int = MAX_BODY) -> None:
        self.max_entries = max_entries
        self.max_body = max_body
        self._entries: dict[tuple[Any, bytes | str], Any] = {}

    def get(self, kind: Any, body: bytes | str) -> Any:
        return self._entries.get((kind, body))

    def put(self, kind: Any, body: bytes | str, value: Any) -> None:
        if len(body) <= self.max_body:
            bounded_put(self._entries, self.max_entries, (kind, body), value)

    def __len__(self) -> int:
        return len(self._entries)


# Bodies the JSON-object check of the middleware accepted (value: True).
CHECKED_JSON = BodyMemo()
# Bodies a memoizing schema loaded (key: the schema class), with what it loaded.
LOADED = BodyMemo()
# Items of a list (the checks of a batch) that a remembering field loaded, by (schema, item).
LOADED_ITEMS = BodyMemo(max_entries=50_000, max_body=MAX_BODY)


class RememberedNested(fields.Nested):
    """A Nested field that remembers what each distinct value it accepted loaded to.

    For the 1000 checks of a batch, most of which recur: loading is a pure function of the
    value and the schema, a value that fails is never kept, and values are compared by their
    repr (so `1`, `1.0` and `true` stay apart). Loaded values are shared: views must not change
    them in place.
    """

    def _deserialize(
        self, value: Any, attr: str | None, data: Any, partial: Any = None, **kwargs: Any
    ) -> Any:
        if partial or not isinstance(value, dict):
            return super()._deserialize(value, attr, data, partial, **kwargs)
        # A parsed JSON value holds dicts, lists, str, int, float, bool and None only, whose
        # repr tells them apart (True, 1 and 1.0 included); keys in another order only miss.
        text = repr(value)
        kind = type(self.schema)
        found = LOADED_ITEMS.get(kind, text)
        if found is None:
            found = super()._deserialize(value, attr, data, partial, **kwargs)
            LOADED_ITEMS.put(kind, text, found)
        return found
