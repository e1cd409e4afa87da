"""Explain a decision from the policy's own evaluation: oso's rule trace, read back as a tree.

oso logs, per query, each goal it asks (`QUERY RULE`), the rules whose heads match
(`APPLICABLE_RULES`, with their source lines) and each rule it tries (`RULE`). For the first
solution, the last rule tried under a goal is the one that held; its sub-goals are the facts and
rules that satisfied it. An allow is explained by that tree from `allow` down; a deny by the
`deny_reason` rules that hold, each with its own tree. Nothing here restates a rule: the text shown
is the policy file's, at the lines oso names.
"""

from __future__ import annotations

import os
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from oso import Oso, Variable
from polar.ffi import process_messages
from polar.predicate import Predicate
from polar.query import Query

# oso reads POLAR_LOG when a query is created; the lock keeps two explanations from racing on it.
_TRACE_LOCK = threading.Lock()
_LINE = re.compile(r"^\[oso\]\[info\]( *)(.*)$")
_AT = re.compile(r"^(?P<head>.*) at line (?P<line>\d+), column \d+ of file (?P<file>.+)$")


@dataclass
class _Goal:
    text: str
    applicable: list[tuple[str, str, int]] = field(default_factory=list)  # head, file, line
    rules: list[_Rule] = field(default_factory=list)


@dataclass
class _Rule:
    text: str
    goals: list[_Goal] = field(default_factory=list)


def traced_query(oso: Oso, name: str, *args: Any) -> tuple[dict[str, Any] | None, list[str]]:
    """Run one query with oso's info trace on; return its first result and the trace lines."""
    host = oso.host.copy()
    term = host.to_polar(Predicate(name=name, args=args))
    with _TRACE_LOCK:
        previous = os.environ.get("POLAR_LOG")
        os.environ["POLAR_LOG"] = "info"
        try:
            ffi_query = oso.ffi_polar.new_query_from_term(term)
        finally:
            if previous is None:
                del os.environ["POLAR_LOG"]
            else:
                os.environ["POLAR_LOG"] = previous
    lines: list[str] = []
    # Keep this query's messages instead of printing them.
    ffi_query.process_messages = lambda: lines.extend(process_messages(ffi_query.next_message))
    result = next(Query(ffi_query, host=host).run(), None)
    return result, lines


def _parse(lines: list[str]) -> list[_Goal]:
    roots: list[_Goal] = []
    stack: list[tuple[int, Any]] = []
    for raw in lines:
        found = _LINE.match(raw)
        if not found:
            continue
        depth, text = len(found.group(1)), found.group(2)
        while stack and stack[-1][0] >= depth:
            stack.pop()
        parent = stack[-1][1] if stack else None
        if text.startswith("QUERY RULE: "):
            goal = _Goal(text[len("QUERY RULE: ") :])
            if isinstance(parent, _Rule):
                parent.goals.append(goal)
            elif parent is None:
                roots.append(goal)
            stack.append((depth, goal))
        elif text.startswith("RULE: "):
            owner = next((n for _, n in reversed(stack) if isinstance(n, _Goal)), None)
            if owner is not None:
                rule = _Rule(text[len("RULE: ") :])
                owner.rules.append(rule)
                stack.append((depth, rule))
        elif text == "APPLICABLE_RULES:":
            stack.append((depth, ("applicable", parent)))
        elif isinstance(parent, tuple) and parent[0] == "applicable":
            at = _AT.match(text)
            if at and isinstance(parent[1], _Goal):
                parent[1].applicable.append((at["head"], at["file"], int(at["line"])))
    return roots


def _display_name(path: Path) -> str:
    """Name a policy file as a reviewer finds it in the repository: policies/access.polar."""
    parts = path.resolve().parts
    return "/".join(parts[parts.index("policies") :]) if "policies" in parts else path.name


def _head(rule_text: str) -> str:
    return rule_text.split(" if ", 1)[0].rstrip(";").strip()


class Explainer:
    """Explain decisions of one loaded policy."""

    def __init__(self, oso: Oso, paths: list[Path]) -> None:
        self._oso = oso
        self._sources = {str(p): p.read_text(encoding="utf-8").splitlines() for p in paths}
        self._names = {str(p): _display_name(p) for p in paths}

    def explain(
        self, actor: Any, action: str, resource: Any, ctx: dict[str, Any]
    ) -> dict[str, Any]:
        result, lines = traced_query(self._oso, "allow", actor, action, resource, ctx)
        if result is not None:
            roots = _parse(lines)
            return {
                "decision": "allow",
                "summary": "Allowed by the rule below; each step lists what made it hold.",
                "because": [self._node(g) for g in roots[:1]],
            }
        reasons = []
        codes = {
            r["bindings"]["reason"]
            for r in self._oso.query_rule(
                "deny_reason", actor, action, resource, ctx, Variable("reason")
            )
        }
        for code in sorted(codes):
            _, why = traced_query(self._oso, "deny_reason", actor, action, resource, ctx, code)
            roots = _parse(why)
            reasons.append({"reason": code, "because": [self._node(g) for g in roots[:1]]})
        return {
            "decision": "deny",
            "summary": "No allow rule holds (deny by default). The deny_reason rules below "
            "name the conditions that failed.",
            "reasons": reasons,
        }

    def _node(self, goal: _Goal) -> dict[str, Any]:
        """The rule that satisfied `goal`, its source, and the goals that made it hold."""
        if not goal.rules:
            return {"goal": goal.text}
        rule = goal.rules[-1]
        node: dict[str, Any] = {"goal": goal.text, "rule": _head(rule.text)}
        location = self._location(goal, rule)
        if location is not None:
            file, line = location
            node["at"] = f"{self._names.get(file, file)}:{line}"
            node["source"] = self._source(file, line)
        # A goal retried after backtracking appears again: the last attempt is the one that held.
        last: dict[str, _Goal] = {}
        for sub in rule.goals:
            last.pop(sub.text, None)
            last[sub.text] = sub
        children = [self._node(sub) for sub in last.values()]
        if children:
            node["because"] = children
        return node

    def _location(self, goal: _Goal, rule: _Rule) -> tuple[str, int] | None:
        head = _head(rule.text)
        tried = sum(1 for r in goal.rules if _head(r.text) == head)  # this rule's turn
        same = [(f, n) for h, f, n in goal.applicable if h == head]
        if len(same) >= tried > 0:
            return same[tried - 1]
        return None

    def _source(self, file: str, line: int) -> str:
        lines = self._sources.get(file)
        if lines is None:
            matches = [v for k, v in self._sources.items() if k.endswith(file) or file.endswith(k)]
            lines = matches[0] if matches else None
        if lines is None or not 0 < line <= len(lines):
            return ""
        start = line - 1
        # The comment above a rule is its statement of intent; a section banner is not.
        while start > 0 and lines[start - 1].lstrip().startswith("#"):
            if lines[start - 1].lstrip().startswith("# ===="):
                break
            start -= 1
        end = line - 1
        while end < len(lines) - 1 and not lines[end].rstrip().endswith(";"):
            end += 1
        return "\n".join(lines[start : end + 1])
