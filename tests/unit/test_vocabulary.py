"""Ids are 1-64 characters of A-Za-z0-9._:- and nothing else, wherever they come in."""

from __future__ import annotations

import pytest
from marshmallow import ValidationError

from service.authz import InvalidCursor, decode_cursor, encode_cursor
from service.validation import StrictSchema, id_field
from service.vocabulary import ID_PATTERN, is_id


class _Thing(StrictSchema):
    id = id_field(required=True)


@pytest.mark.parametrize("value", ["d-1", "a", "x" * 64, "A.b_c:d-9"])
def test_ids(value):
    assert is_id(value)
    assert _Thing().load({"id": value}) == {"id": value}


@pytest.mark.parametrize(
    "value", ["", "x" * 65, "d 1", "d-1\n", "\nd-1", "d-1\r\n", "é", "d\x001", None, 7]
)
def test_not_ids(value):
    assert not is_id(value)
    with pytest.raises(ValidationError):
        _Thing().load({"id": value})


def test_the_documented_pattern_stays_one_openapi_can_use():
    # OpenAPI patterns are ECMA-262 regular expressions: no \A or \Z.
    assert ID_PATTERN.pattern == "^[A-Za-z0-9._:-]{1,64}$"


def test_a_cursor_holds_ids_only():
    assert decode_cursor(encode_cursor("d-1"), 1) == ["d-1"]
    with pytest.raises(InvalidCursor):
        decode_cursor(encode_cursor("d-1\n"), 1)
