"""Explanations are read from the policy's own evaluation, and agree with the decisions.

Every decision table case is explained through POST /v1/explain: the answer equals the decision
the table expects; an allow is explained by an `allow` rule of policies/access.polar down to the
rules and facts that held; a deny by the `deny_reason` rule of each reason. Every rule an
explanation names is found at the line it cites, so a reviewer can follow it in the file.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from service.config import REPO_ROOT
from service.vocabulary import Action
from tests.policy.test_decision_tables import CASES, Case, world  # noqa: F401 - fixture

POLICY_LINES = (REPO_ROOT / "policies" / "access.polar").read_text(encoding="utf-8").splitlines()
RULE_NAME = re.compile(r"^([a-z_]+)\(")


def _walk(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield node
    for child in node.get("because", []):
        yield from _walk(child)


def _body(case: Case) -> dict[str, Any]:
    return {
        "actor": {"type": case.who.type, "id": case.who.id},
        "action": case.action,
        "resource": {"type": case.what.type, "id": case.what.id},
        "context": {"at": case.at.isoformat()},
    }


def _assert_cited_where_it_stands(node: dict[str, Any]) -> None:
    """A node naming a rule cites policies/access.polar at a line where that rule begins."""
    if "rule" not in node:
        return
    file, _, line = node["at"].rpartition(":")
    assert file == "policies/access.polar", node["at"]
    text = POLICY_LINES[int(line) - 1]
    name = RULE_NAME.match(node["rule"])
    assert name is not None and text.startswith(name.group(1) + "("), (node["rule"], text)
    assert text in node["source"], node


# Cases with actions outside the vocabulary are decided by the engine only: the API answers 400.
API_CASES = [c for c in CASES if c.action in {a.value for a in Action}]


@pytest.mark.parametrize("case", [pytest.param(c, id=c.name) for c in API_CASES])
def test_the_explanation_agrees_with_the_decision_table(
    case: Case,
    client: Any,
    check_headers: dict[str, str],
    world: None,  # noqa: F811
) -> None:
    response = client.post("/v1/explain", json=_body(case), headers=check_headers)
    assert response.status_code == 200, response.json
    answer = response.json
    assert answer["allowed"] is case.allowed, case.describe()
    assert sorted(answer["reasons"]) == case.reasons, case.describe()
    explanation = answer["explanation"]
    if case.allowed:
        assert explanation["decision"] == "allow"
        [top] = explanation["because"]
        assert top["rule"].startswith("allow("), top
        nodes = list(_walk(top))
    else:
        assert explanation["decision"] == "deny"
        assert [r["reason"] for r in explanation["reasons"]] == case.reasons
        nodes = []
        for reason in explanation["reasons"]:
            [top] = reason["because"]
            assert top["rule"].startswith("deny_reason("), top
            assert top["rule"].endswith(f'"{reason["reason"]}")') or "reason)" in top["rule"]
            nodes.extend(_walk(top))
    for node in nodes:
        _assert_cited_where_it_stands(node)


def test_an_allow_is_explained_down_to_the_facts(
    client: Any,
    check_headers: dict[str, str],
    world: None,  # noqa: F811
) -> None:
    allowed = next(
        c for c in CASES if c.allowed and c.who.type == "DomainUser" and c.action == "process"
    )
    explanation = client.post("/v1/explain", json=_body(allowed), headers=check_headers).json[
        "explanation"
    ]
    rules = [n["rule"] for n in _walk(explanation["because"][0]) if "rule" in n]
    # The chain reaches effective Back Office Access, the plan in force and an eligible plan.
    assert any(r.startswith("effective_bo_access(") for r in rules), rules
    assert any(r.startswith("plan_in_force(") for r in rules), rules
    assert any(r.startswith("eligible_plan(") for r in rules), rules
