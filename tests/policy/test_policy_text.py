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


# -- what keeps oso fast ----------------------------------------------------------------------
# oso copies every rule it tries, body and all, and it finds the rules of a query by their
# constant arguments. A rule whose head names no action is tried (and copied) by every check of
# its rule name, so those are kept to the ones that apply to many actions by design.
HEAD = re.compile(r"^(allow|deny_reason)\(([^,]+), ([^,]+), ([^,]+), [^,)]+(?:, ([^)]+))?\)", re.M)
ANY_ACTION_RULES = {
    ("allow", "user: DomainUser", ""),  # the modules, read from the module_role table
    ("deny_reason", '_: Unknown{kind: "actor"}', '"unknown_actor"'),
    ("deny_reason", "_actor", '"unknown_resource"'),
    ("deny_reason", "actor", '"action_not_applicable"'),
    ("deny_reason", "user: PortalUser", '"not_member"'),
    ("deny_reason", "user: DomainUser", '"not_member"'),
    ("deny_reason", "user: PortalUser", '"guest_converted"'),
    ("deny_reason", "user: PortalUser", '"not_portal_administrator"'),
    ("deny_reason", "user: PortalUser", '"self_target"'),
    ("deny_reason", "user: DomainUser", '"not_management"'),
    ("deny_reason", "user: DomainUser", '"role_missing"'),
}


def _any_action_heads(text: str) -> list[tuple[str, str, str]]:
    return [
        (m[1], m[2].strip(), (m[5] or "").strip())
        for m in HEAD.finditer(text)
        if not m[3].strip().startswith('"')
    ]


def test_rules_name_their_action_unless_they_apply_to_many():
    heads = _any_action_heads(POLICY.read_text(encoding="utf-8"))
    unexpected = sorted(set(heads) - ANY_ACTION_RULES)
    assert not unexpected, (
        "name the action in the rule's head (one rule per action, a shared body in a helper):"
        f" {unexpected}"
    )
    assert set(heads) == ANY_ACTION_RULES  # the list above holds no rule that is gone


def test_the_head_check_would_see_an_action_in_a_body():
    text = (
        "allow(user: PortalUser, action, domain: Domain, _ctx) if\n"
        '    action in ["open", "process"] and user.id = domain.owner_id;\n'
    )
    assert _any_action_heads(text) == [("allow", "user: PortalUser", "")]
