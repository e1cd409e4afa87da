"""The one place that talks to oso: load the policy, check, give reasons, build data filters."""

from __future__ import annotations

import contextvars
import hashlib
import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from oso import Oso, Variable
from polar.data.adapter import DataAdapter
from polar.data.filter import DataFilter, Projection
from polar.data_filtering import serialize_types
from polar.partial import TypeConstraint

from service.bounded import bounded_put

from . import facts, reads
from .explain import Explainer

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    reasons: tuple[str, ...] = ()


def policy_version(paths: Sequence[Path]) -> str:
    """Hash the policy files' bytes, in order, so every decision names the exact policy it used."""
    digest = hashlib.sha256()
    for path in paths:
        digest.update(path.name.encode())
        digest.update(b"\0")
        digest.update(path.read_bytes())
    return "sha256:" + digest.hexdigest()[:16]


class PolicyEngine:
    """A loaded policy. Build it once (oso's initialization is not thread-safe), then share it.

    Reloading the policy means building a new engine and swapping the reference.
    """

    def __init__(self, paths: Sequence[str | Path]) -> None:
        self.paths = [Path(p) for p in paths]
        self.version = policy_version(self.paths)
        files: list[str | Path] = [str(p) for p in self.paths]
        # Two instances of the same policy. oso resolves a field declared as a `Relation` through
        # the data-filtering adapter, even in a check; checks instead read the relations already
        # loaded into the facts, so the checking instance is registered without field types.
        self._oso = _build(files, with_fields=False)
        self._filtering = _build(files, with_fields=True)
        self._filtering.set_data_filtering_adapter(_PreloadedRelations())
        # The registered types, as oso's filter planner takes them: fixed once the classes are.
        host = self._filtering.host
        self._types = serialize_types(host.distinct_user_types(), host.types)
        self._explainer = Explainer(self._oso, self.paths)
        self._cache_lock = threading.Lock()
        self._filters: dict[tuple[Any, ...], DataFilter] = {}

    # -- single decisions ------------------------------------------------------------------
    def is_allowed(self, actor: Any, action: str, resource: Any, ctx: dict[str, Any]) -> bool:
        return self._oso.query_rule_once("allow", actor, action, resource, ctx)

    def deny_reasons(
        self, actor: Any, action: str, resource: Any, ctx: dict[str, Any]
    ) -> tuple[str, ...]:
        found = {
            result["bindings"]["reason"]
            for result in self._oso.query_rule(
                "deny_reason", actor, action, resource, ctx, Variable("reason")
            )
        }
        return tuple(sorted(found))

    def decide(self, actor: Any, action: str, resource: Any, ctx: dict[str, Any]) -> Decision:
        if self.is_allowed(actor, action, resource, ctx):
            return Decision(True)
        reasons = self.deny_reasons(actor, action, resource, ctx)
        if not reasons:
            # A policy gap: the suite proves this cannot happen on its worlds; make it loud here.
            log.error("deny without a reason: %s %s %r", type(actor).__name__, action, resource)
        return Decision(False, reasons)

    def explain(
        self, actor: Any, action: str, resource: Any, ctx: dict[str, Any]
    ) -> dict[str, Any]:
        """Explain a decision from the policy's own trace (see `explain.py`)."""
        return self._explainer.explain(actor, action, resource, ctx)

    def allowed_actions(self, actor: Any, resource: Any, ctx: dict[str, Any]) -> set[str]:
        actions: set[str] = set()
        for result in self._oso.query_rule("allow", actor, Variable("action"), resource, ctx):
            action = result["bindings"]["action"]
            if isinstance(action, str):
                actions.add(action)
        return actions

    def concerned_actions(self) -> set[tuple[str, str, str]]:
        """Return the policy's vocabulary: its (actor type, action, resource type) triples."""
        triples = set()
        for actor_name, actor_cls in facts.ACTOR_TYPES.items():
            for resource_name, resource_cls in facts.RESOURCE_TYPES.items():
                for result in self._oso.query_rule(
                    "concerns",
                    facts.blank(actor_cls),
                    Variable("action"),
                    facts.blank(resource_cls),
                ):
                    action = result["bindings"]["action"]
                    if isinstance(action, str):
                        triples.add((actor_name, action, resource_name))
        return triples

    # -- data filtering --------------------------------------------------------------------
    def resource_filter(
        self, actor: Any, action: str, resource_type: str, ctx: dict[str, Any]
    ) -> DataFilter:
        """Build the filter of the `resource_type` rows `actor` may `action`."""
        key = ("resource", _facts_key(actor), action, resource_type, ctx["date"])
        var = Variable("resource")
        return self._kept(
            key, lambda: self._filter("allow", [actor, action, var, ctx], "resource", resource_type)
        )

    def actor_filter(
        self, actor_type: str, action: str, resource: Any, ctx: dict[str, Any]
    ) -> DataFilter:
        """Build the filter of the `actor_type` rows that may `action` on `resource`."""
        key = ("actor", actor_type, action, _facts_key(resource), ctx["date"])
        var = Variable("actor")
        return self._kept(
            key, lambda: self._filter("allow", [var, action, resource, ctx], "actor", actor_type)
        )

    def seat_holder_filter(self, domain: Any, ctx: dict[str, Any]) -> DataFilter:
        """Build the filter of the domain users who hold a billed Back Office seat.

        Pricing asks for it before and after every governed change: it is kept (see `_kept`).
        """
        key = ("seat_holder", _facts_key(domain), ctx["date"])
        var = Variable("user")
        return self._kept(
            key, lambda: self._filter("seat_holder", [var, domain, ctx], "user", "DomainUser")
        )

    def clear_filters(self) -> None:
        """Forget the kept filters (the bench measures a list page with and without them)."""
        with self._cache_lock:
            self._filters.clear()

    def _kept(self, key: tuple[Any, ...], build: Callable[[], DataFilter]) -> DataFilter:
        """Return the filter for `key`, building it once: a filter is a pure function of the
        policy and its key (the known object's facts, the action, the type, the date), so it can
        never be stale; the SQL it becomes runs on the current data. Bounded, oldest out first.
        """
        with self._cache_lock:
            found = self._filters.get(key)
        if found is None:
            found = build()
            with self._cache_lock:
                bounded_put(self._filters, 4096, key, found)
        return found

    def bo_eligible(self, domain: Any, ctx: dict[str, Any]) -> bool:
        return self._oso.query_rule_once("bo_eligible", domain, ctx)

    def plan_in_force(self, domain: Any, ctx: dict[str, Any]) -> str | None:
        for result in self._oso.query_rule("plan_in_force", domain, ctx, Variable("plan")):
            return str(result["bindings"]["plan"])
        return None

    def _filter(self, rule: str, args: list[Any], var_name: str, class_name: str) -> DataFilter:
        oso = self._filtering
        constraint = TypeConstraint(Variable(var_name), class_name)
        with _relations_of([a for a in args if not isinstance(a, (Variable, str, dict))]):
            query = oso.query_rule(
                rule, *args, bindings={var_name: constraint}, accept_expression=True
            )
            results = [
                {"bindings": {k: oso.host.to_polar(v)}}
                for result in query
                for k, v in result["bindings"].items()
                if k == var_name
            ]
        plan = oso.ffi_polar.build_data_filter(self._types, results, var_name, class_name)
        return DataFilter.parse(oso, plan)


# -- relations of the known object in a data-filtering query --------------------------------
# In the filtering instance, oso resolves a declared relation of a *known* object (the actor of
# list-resources, the resource of list-actors) through the adapter. The answer is already in the
# loaded facts, so the adapter serves it from there instead of going back to the database.
_RelationKey = tuple[type, str, Any]
_PRELOADED: contextvars.ContextVar[dict[_RelationKey, list[Any]]] = contextvars.ContextVar(
    "preloaded_relations"
)


def _index(obj: Any, index: dict[_RelationKey, list[Any]]) -> None:
    if isinstance(obj, facts.DomainUser):
        index[(facts.DomainUserRole, "user_id", obj.id)] = [
            facts.DomainUserRole(obj.id, r["role"]) for r in obj.roles
        ]
        index[(facts.DomainUserAdministration, "user_id", obj.id)] = [
            facts.DomainUserAdministration(obj.id, a["administration_id"])
            for a in obj.administrations
        ]
    elif isinstance(obj, facts.Domain):
        index[(facts.StaffAssignment, "domain_id", obj.id)] = [
            facts.StaffAssignment(obj.id, s["user_id"], s["function"]) for s in obj.staff
        ]
    elif isinstance(obj, facts.Administration):
        index[(facts.Domain, "id", obj.domain_id)] = [obj.domain]
        _index(obj.domain, index)


@contextmanager
def _relations_of(known: list[Any]) -> Iterator[None]:
    index: dict[_RelationKey, list[Any]] = {}
    for obj in known:
        _index(obj, index)
    token = _PRELOADED.set(index)
    try:
        yield
    finally:
        _PRELOADED.reset(token)


class _PreloadedRelations(DataAdapter):
    def build_query(self, data_filter: DataFilter) -> Any:
        [[condition]] = data_filter.conditions
        if not isinstance(condition.left, Projection) or condition.cmp != "Eq":
            raise ValueError("unexpected relation lookup")
        return (data_filter.model, condition.left.field, condition.right)

    def execute_query(self, query: Any) -> list[Any]:
        try:
            return _PRELOADED.get()[query]
        except LookupError as exc:
            raise ValueError(f"relation {query!r} was not loaded") from exc


def _facts_key(obj: Any) -> tuple[Any, ...]:
    """A hashable copy of a fact object's content (its fields, its lists of dicts)."""
    values = []
    for name in obj.__slots__:
        value = getattr(obj, name)
        if isinstance(value, list):
            value = tuple(tuple(sorted(item.items())) for item in value)
        elif hasattr(value, "__slots__"):
            value = _facts_key(value)  # a nested fact (an Administration's domain)
        values.append(value)
    return (type(obj).__name__, *values)


def _build(files: list[str | Path], *, with_fields: bool) -> Oso:
    oso = Oso()
    for cls, fields in facts.FIELDS.items():
        oso.register_class(cls, name=cls.__name__, fields=fields if with_fields else None)
    if not with_fields:
        # The checking instance also sees the reads memo's recording subclasses of the facts.
        for name, cls in reads.recording_classes().items():
            oso.register_class(cls, name=name)
    oso.load_files(files)
    return oso


__all__ = ["Decision", "PolicyEngine", "policy_version"]
