"""Decision tables: every case of cases.yaml, decided by the real Authorizer on world.yaml."""

from __future__ import annotations

import copy
import datetime as dt
import re
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from flask import Flask

from service.authz import Authorizer, Check, Ref, build_authorizer
from service.authz.engine import policy_version
from service.config import REPO_ROOT
from service.db import db
from service.imports import import_world
from service.vocabulary import ACTIONS_BY_RESOURCE, Action, ActorType, Reason, ResourceType
from tests.conftest import delete_all_rows

HERE = Path(__file__).parent
POLICY = REPO_ROOT / "policies" / "access.polar"
DOMAIN_MD = REPO_ROOT.parent / "shared" / "domain.md"

CASE_KEYS = {"name", "who", "action", "what", "at", "expect", "reasons", "rule", "xfail"}
REQUIRED_KEYS = {"name", "who", "action", "what", "expect", "rule"}
# snake_case, at least three words: names read as sentences.
NAME = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+){2,}$")
# Where an expectation comes from: the FAQ (R), the help pages (D), a section or a Decision.
RULE = re.compile(r"^(R\d{1,2}|D\d{1,2}|§\d|Decision)$")
# Triples where no deny other than `not_member` exists: every user of a domain opens it.
ONLY_NOT_MEMBER = {("DomainUser", "open", "Domain")}
# Rule ids domain.md cites for money or for the conversion run, not for a decision.
NOT_DECISION_RULES = {"R5", "R6", "R10"}


class _Loader(yaml.SafeLoader):
    """YAML without implicit timestamps: times and dates stay the strings the API receives."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _load(name: str) -> Any:
    with open(HERE / name, encoding="utf-8") as handle:
        return yaml.load(handle, Loader=_Loader)  # a SafeLoader subclass


WORLD: dict[str, list[dict[str, Any]]] = _load("world.yaml")
TABLES: dict[str, Any] = _load("cases.yaml")
RAW_CASES: list[dict[str, Any]] = TABLES["cases"]


def _ref(text: str) -> Ref:
    type_name, _, oid = str(text).partition(":")
    return Ref(type_name, oid)


def _instant(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


@dataclass(frozen=True)
class Case:
    name: str
    who: Ref
    action: str
    what: Ref
    at: dt.datetime
    allowed: bool
    reasons: list[str]
    rule: str

    @classmethod
    def of(cls, raw: dict[str, Any]) -> Case:
        return cls(
            name=raw["name"],
            who=_ref(raw["who"]),
            action=str(raw["action"]),
            what=_ref(raw["what"]),
            at=_instant(raw.get("at", TABLES["default_at"])),
            allowed=raw["expect"] == "allow",
            reasons=sorted(raw.get("reasons") or []),
            rule=str(raw["rule"]),
        )

    def describe(self) -> str:
        expected = "allow" if self.allowed else f"deny {self.reasons}"
        return (
            f"{self.name} [{self.rule}]: {self.who.type}:{self.who.id} {self.action} "
            f"{self.what.type}:{self.what.id} at {self.at.isoformat()} should {expected}"
        )


CASES = [Case.of(raw) for raw in RAW_CASES]


def _params() -> list[Any]:
    params = []
    for raw, case in zip(RAW_CASES, CASES, strict=True):
        marks = []
        if raw.get("xfail"):
            # The policy disagrees with domain.md: the policy owner fixes it; strict, so the
            # table tells when the fix lands.
            marks.append(pytest.mark.xfail(strict=True, reason=str(raw["xfail"])))
        params.append(pytest.param(case, id=case.name, marks=marks))
    return params


# --- the world and the authorizer ---------------------------------------------------------


@pytest.fixture(scope="module")
def world(app: Flask) -> Iterator[None]:
    """Import world.yaml once for the module (the cases only read it); leave empty tables."""
    delete_all_rows(app)
    with app.app_context():
        session = db.session()
        try:
            import_world(session, copy.deepcopy(WORLD))
            session.commit()
        finally:
            db.session.remove()
    yield
    delete_all_rows(app)


@pytest.fixture(scope="module", params=["cached", "uncached"])
def authorizer(request: pytest.FixtureRequest, app: Flask) -> Authorizer:
    """The app's Authorizer (decision cache on), or one without a cache: the tables hold for both.

    Either runs policies/access.polar and nothing else.
    """
    if request.param == "cached":
        authz: Authorizer = app.extensions["authz"]
        assert authz.cache is not None, "the app's decision cache is off (DECISION_CACHE set?)"
    else:
        authz = build_authorizer([POLICY])
        assert authz.cache is None
    assert authz.policy_version == policy_version([POLICY]), (
        "the app's Authorizer does not run policies/access.polar alone (POLICY_PATHS set?)"
    )
    return authz


def _decide(app: Flask, authorizer: Authorizer, checks: list[Check]) -> list[Any]:
    with app.app_context():
        try:
            return authorizer.authorize_many(db.session(), checks)
        finally:
            db.session.remove()


# --- the tables ---------------------------------------------------------------------------


@pytest.mark.parametrize("case", _params())
def test_decision(case: Case, app: Flask, authorizer: Authorizer, world: None) -> None:
    decision = _decide(app, authorizer, [Check(case.who, case.action, case.what, case.at)])[0]
    if authorizer.cache is not None:
        # Asked again, the cache answers (no SQL) with the same decision.
        hits = authorizer.cache.hits
        again = _decide(app, authorizer, [Check(case.who, case.action, case.what, case.at)])[0]
        assert authorizer.cache.hits == hits + 1, "the second identical check missed the cache"
        assert again == decision, f"{case.describe()}; the cached decision differs"
    got = "allow" if decision.allowed else f"deny {sorted(decision.reasons)}"
    assert decision.allowed is case.allowed, f"{case.describe()}; the policy says {got}"
    assert sorted(decision.reasons) == case.reasons, f"{case.describe()}; the policy says {got}"


# --- the tables cover the policy ------------------------------------------------------------


def _triples(authorizer: Authorizer) -> set[tuple[str, str, str]]:
    triples = authorizer.engine.concerned_actions()
    assert triples, "the policy's `concerns` rules gave no triple"
    return triples


def _triple(case: Case) -> tuple[str, str, str]:
    return (case.who.type, case.action, case.what.type)


def test_every_concerned_action_has_allow_and_deny_cases(authorizer: Authorizer) -> None:
    allows, denies = set(), set()
    for case in CASES:
        (allows if case.allowed else denies).add(_triple(case))
    triples = _triples(authorizer)
    missing = sorted(
        f"{actor} {action} {resource}: no {' and no '.join(kinds)} case"
        for actor, action, resource in triples
        if (
            kinds := [
                kind
                for kind, found in (("allow", allows), ("deny", denies))
                if (actor, action, resource) not in found
            ]
        )
    )
    assert not missing, "triples of the policy lacking cases:\n" + "\n".join(missing)


def test_every_concerned_action_has_a_deny_beyond_not_member(authorizer: Authorizer) -> None:
    """Ask for a deny that shows a rule of the action, not only the portal/domain boundary."""
    telling = {
        _triple(case)
        for case in CASES
        if not case.allowed and set(case.reasons) - {Reason.NOT_MEMBER.value}
    }
    missing = sorted(" ".join(t) for t in _triples(authorizer) - telling - ONLY_NOT_MEMBER)
    assert not missing, "triples whose only deny cases are not_member:\n" + "\n".join(missing)
    for triple in ONLY_NOT_MEMBER:
        assert triple in _triples(authorizer), f"stale exemption {triple}"


def test_every_reason_code_is_exercised() -> None:
    used = {reason for case in CASES for reason in case.reasons}
    missing = sorted({r.value for r in Reason} - used)
    assert not missing, f"deny reasons no case expects: {missing}"


def test_python_vocabulary_matches_policy(authorizer: Authorizer) -> None:
    triples = _triples(authorizer)
    by_resource: dict[str, set[str]] = defaultdict(set)
    for _actor, action, resource in triples:
        by_resource[resource].add(action)
    python = {str(rt): {str(a) for a in actions} for rt, actions in ACTIONS_BY_RESOURCE.items()}
    assert python == dict(by_resource)
    assert {a for _, a, _ in triples} == {a.value for a in Action}, "Action enum != policy actions"
    assert {actor for actor, _, _ in triples} == {t.value for t in ActorType}
    assert set(by_resource) == {t.value for t in ResourceType}
    unused = sorted({a.value for a in Action} - {case.action for case in CASES})
    assert not unused, f"actions no case uses: {unused}"


def test_case_names_are_unique_and_sentences() -> None:
    names = [raw.get("name") for raw in RAW_CASES]
    bad = [name for name in names if not isinstance(name, str) or not NAME.match(name)]
    assert not bad, f"names must be snake_case sentences of three words or more: {bad}"
    repeated = sorted({name for name in names if names.count(name) > 1})
    assert not repeated, f"case names used twice: {repeated}"


def test_cases_are_well_formed() -> None:
    """Check each case's fields, so that a typo cannot turn into a vacuous expectation."""
    ids = {
        "Portal": {r["id"] for r in WORLD["portals"]},
        "PortalUser": {r["id"] for r in WORLD["portal_users"]},
        "Domain": {r["id"] for r in WORLD["domains"]},
        "Administration": {r["id"] for r in WORLD["administrations"]},
        "DomainUser": {r["id"] for r in WORLD["domain_users"]},
    }
    codes = {r.value for r in Reason}
    problems = []
    for raw in RAW_CASES:
        name = raw.get("name", raw)
        keys = set(raw)
        if keys - CASE_KEYS or REQUIRED_KEYS - keys:
            problems.append(f"{name}: unknown {keys - CASE_KEYS}, missing {REQUIRED_KEYS - keys}")
            continue
        case = Case.of(raw)
        if raw["expect"] not in ("allow", "deny"):
            problems.append(f"{name}: expect must be allow or deny")
        if case.allowed and "reasons" in raw:
            problems.append(f"{name}: an allow carries no reasons")
        if not case.allowed and not case.reasons:
            problems.append(f"{name}: a deny lists its reasons")
        if set(case.reasons) - codes:
            problems.append(f"{name}: unknown reasons {set(case.reasons) - codes}")
        if len(set(case.reasons)) != len(case.reasons):
            problems.append(f"{name}: a reason is repeated")
        if not RULE.match(case.rule):
            problems.append(f"{name}: rule {case.rule!r} is not R<n>, D<n>, §<n> or Decision")
        if "at" in raw and case.at.utcoffset() is None:
            problems.append(f"{name}: `at` needs a UTC offset")
        if case.who.type not in {t.value for t in ActorType}:
            problems.append(f"{name}: who must be a PortalUser or a DomainUser")
        if case.what.type not in ids:
            problems.append(f"{name}: unknown resource type {case.what.type}")
            continue
        # An id outside the world is a typo unless the case is about unknown ids.
        if (case.who.id not in ids[case.who.type]) != ("unknown_actor" in case.reasons):
            problems.append(f"{name}: who {case.who.id} vs unknown_actor disagree")
        if (case.what.id not in ids[case.what.type]) != ("unknown_resource" in case.reasons):
            problems.append(f"{name}: what {case.what.id} vs unknown_resource disagree")
    assert not problems, "\n".join(problems)
    assert _instant(TABLES["default_at"]).utcoffset() is not None


def _cited_rules(text: str) -> set[str]:
    cited = set()
    for kind, first, last in re.findall(r"\b([RD])(\d+)(?:\s*[-\u2013]\s*[RD]?(\d+))?\b", text):
        for number in range(int(first), int(last or first) + 1):
            cited.add(f"{kind}{number}")
    return cited


@pytest.mark.skipif(not DOMAIN_MD.exists(), reason="../shared/domain.md is not at hand")
def test_every_decision_rule_of_domain_md_has_a_case() -> None:
    text = DOMAIN_MD.read_text(encoding="utf-8")
    # Sections 1, 2 and 4 state the rules; the preamble names whole ranges, 3 is about money.
    sections = re.split(r"^## (?=\d\.)", text, flags=re.MULTILINE)
    rules = "".join(s for s in sections if s[:2] in ("1.", "2.", "4."))
    cited = _cited_rules(rules) - NOT_DECISION_RULES
    covered = {case.rule for case in CASES}
    missing = sorted(cited - covered, key=lambda r: (r[0], int(r[1:])))
    assert not missing, f"rules domain.md cites for decisions but no case names: {missing}"
    assert covered & {"Decision"}, "no case for the binding Decisions"


# --- sweeps over the world: nothing crosses portals or domains -----------------------------


def _world_refs(kind: str, type_name: str, **where: str) -> list[Ref]:
    return [
        Ref(type_name, r["id"])
        for r in WORLD[kind]
        if all(r.get(field) == value for field, value in where.items())
    ]


def _dupont_resources() -> list[Ref]:
    dupont_domains = {r.id for r in _world_refs("domains", "Domain", portal_id="p-dupont")}
    return [
        Ref("Portal", "p-dupont"),
        *_world_refs("portal_users", "PortalUser", portal_id="p-dupont"),
        *_world_refs("domains", "Domain", portal_id="p-dupont"),
        *[
            Ref("Administration", r["id"])
            for r in WORLD["administrations"]
            if r["domain_id"] in dupont_domains
        ],
    ]


def _peeters_resources() -> list[Ref]:
    return [
        Ref("Domain", "d-peeters"),
        *_world_refs("administrations", "Administration", domain_id="d-peeters"),
        *_world_refs("domain_users", "DomainUser", domain_id="d-peeters"),
    ]


@pytest.mark.parametrize(
    ("outsider", "resources"),
    [
        pytest.param(Ref("PortalUser", "u-olga"), _dupont_resources, id="olga_in_dupont"),
        pytest.param(Ref("DomainUser", "du-olivier"), _peeters_resources, id="olivier_in_peeters"),
        pytest.param(Ref("DomainUser", "du-jan"), _peeters_resources, id="jan_in_peeters"),
    ],
)
def test_outsiders_are_denied_everything_with_exactly_not_member(
    outsider: Ref, resources: Any, app: Flask, authorizer: Authorizer, world: None
) -> None:
    """Sweep every concerned action on every resource of another portal or domain."""
    triples = _triples(authorizer)
    at = _instant(TABLES["default_at"])
    checks = [
        Check(outsider, action, resource, at)
        for resource in resources()
        for actor_type, action, resource_type in sorted(triples)
        if actor_type == outsider.type and resource_type == resource.type
    ]
    assert len(checks) > 10
    decisions = _decide(app, authorizer, checks)
    leaks = [
        f"{c.action} {c.resource.type}:{c.resource.id} -> "
        f"{'allow' if d.allowed else sorted(d.reasons)}"
        for c, d in zip(checks, decisions, strict=True)
        if d.allowed or list(d.reasons) != [Reason.NOT_MEMBER.value]
    ]
    assert not leaks, f"{outsider.id} gets more than not_member:\n" + "\n".join(leaks)
