"""What the decision cache relies on in the policy's text: ids are opaque.

`service/authz/reads.py` reuses a decision for facts that hold the same values where the policy
looked, ids renamed in order of appearance. That is sound only if the policy compares ids with
each other and nothing else: never with a constant, never by order, never by their text. These
checks keep it so.
"""

from __future__ import annotations

import re
from pathlib import Path

POLICY = Path(__file__).resolve().parents[2] / "policies" / "access.polar"

# An id: a field or variable named `id` or `..._id`.
ID = r"(?:\b\w+\.)*(?:id|\w+_id)\b"
FORBIDDEN = {
    "an id compared with a constant": re.compile(
        rf"{ID}\s*(?:==|!=|=|<=|>=|<|>)\s*(?:\"|\d)|(?:\"|\d)\s*(?:==|!=|=|<=|>=|<|>)\s*{ID}"
    ),
    "an id compared by order": re.compile(rf"{ID}\s*(?:<=|>=|<|>)|(?:<=|>=|<|>)\s*{ID}"),
    "an id's text used": re.compile(rf"{ID}\.\w+\("),
}


def _code_lines() -> list[tuple[int, str]]:
    lines = []
    for number, raw in enumerate(POLICY.read_text(encoding="utf-8").splitlines(), start=1):
        code = raw.split("#", 1)[0]
        if code.strip():
            lines.append((number, code))
    return lines


def test_ids_are_only_compared_with_each_other():
    found = [
        f"access.polar:{number}: {what}: {code.strip()}"
        for number, code in _code_lines()
        for what, pattern in FORBIDDEN.items()
        if pattern.search(code)
    ]
    assert not found, "\n".join(found)


def test_the_checks_would_see_a_violation():
    for line in (
        'user.id = "u-admin"',
        '"p-1" = domain.portal_id',
        "domain.id < other.id",
        "user.portal_id.startswith(1)",
    ):
        assert any(p.search(line) for p in FORBIDDEN.values()), line
    assert not any(p.search("user.portal_id = portal_id") for p in FORBIDDEN.values())
