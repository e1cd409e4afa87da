"""The policy engine behind the API: the only package that knows oso.

`Authorizer` answers checks, batches, lists and action sets over the database; it loads what a
check needs (one SQL statement, one snapshot) and asks the loaded policy. Swap the engine with
`reload()`.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import functools
import json
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from sqlalchemy import String, bindparam, false, func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, scoped_session

from service.bounded import bounded_put
from service.vocabulary import is_id

from . import facts, loader, sql_filter
from .board import GLOBAL, RevisionBoard, slot_of
from .engine import Decision, PolicyEngine
from .reads import ReadsMemo

BRUSSELS = ZoneInfo("Europe/Brussels")


class Ref(NamedTuple):
    type: str
    id: str


@dataclass(frozen=True, slots=True)
class Check:
    actor: Ref
    action: str
    resource: Ref
    at: dt.datetime


class InvalidCursor(ValueError):
    """A pagination cursor that this service did not issue."""


@functools.lru_cache(maxsize=4096)
def business_date(at: dt.datetime) -> str:
    """Return the Europe/Brussels date of an instant, as the policy's `ctx.date`.

    Remembered per instant: a batch asks it for each check, most at the same instant.
    """
    if at.tzinfo is None:
        raise ValueError("times must carry a UTC offset")
    return at.astimezone(BRUSSELS).date().isoformat()


def policy_context(at: dt.datetime) -> dict[str, Any]:
    return {"date": business_date(at)}


def encode_cursor(*parts: str) -> str:
    raw = json.dumps(list(parts), separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, size: int) -> list[str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        parts = json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
        raise InvalidCursor("cursor is not one this service issued") from exc
    if not isinstance(parts, list) or len(parts) != size or not all(is_id(p) for p in parts):
        raise InvalidCursor("cursor is not one this service issued")
    return parts


# A cached decision: the versions of the board slots it depends on when it was computed.
_Entry = tuple[tuple[int, ...], Decision]
_CacheKey = tuple[Ref, str, Ref, str]
MISS = object()  # what DecisionCache.lookup answers when nothing fresh is kept


class DecisionCache:
    """Decisions of one loaded policy, each kept with the board versions it was computed at.

    An entry is reused only while its slots still show those versions (see `board.py`), so it can
    never outlive a write to the facts it was computed from. Bounded: the oldest entries go first.
    """

    def __init__(self, board: RevisionBoard, size: int, engine: PolicyEngine) -> None:
        self.board = board
        self.size = size
        self.engine = engine  # the policy these decisions are of
        self.entries: dict[_CacheKey, _Entry] = {}
        # The facts of single objects (None: not in the database), kept the same way: a decision
        # missing from the cache is often about an actor or a resource the cache already knows.
        self.facts: dict[Ref, tuple[tuple[int, ...], Any]] = {}
        # Decisions per facts the policy read (reads.py): a pure function of the policy and the
        # facts' content, so these need no versions at all.
        self.reads = ReadsMemo(size)
        self.hits = 0
        self.misses = 0
        self.read_hits = 0  # misses answered by the reads memo, without running the policy
        self.detached = 0  # checks decided without the cache because the board file changed
        # Told (hits, misses, detached) once per call: the API layer feeds its metrics with it.
        self.on_count: Callable[[int, int, int], None] | None = None

    def count(self, hits: int, misses: int, detached: int) -> None:
        self.hits += hits
        self.misses += misses
        self.detached += detached
        if self.on_count is not None:
            self.on_count(hits, misses, detached)

    def lookup(self, table: dict[Any, Any], key: Any, deps: Sequence[int]) -> tuple[Any, Any]:
        """Return (the value kept for `key`, or MISS; the versions of `deps` now).

        A value counts only while its slots still show the versions it was kept at. The versions
        are None while a write to one of the slots is in flight.
        """
        versions = self.board.versions(deps)
        if versions is not None:
            entry = table.get(key)
            if entry is not None and entry[0] == versions:
                return entry[1], versions
        return MISS, versions

    def keep(
        self,
        table: dict[Any, Any],
        key: Any,
        deps: Sequence[int],
        before: tuple[int, ...] | None,
        value: Any,
    ) -> None:
        """Keep `value`, computed from data read after `before` was read, if the slots still
        show `before`: nothing was written to its facts meanwhile."""
        if before is not None and self.board.versions(deps) == before:
            bounded_put(table, self.size, key, (before, value))

    def decide(
        self, engine: PolicyEngine, actor: Any, action: str, resource: Any, date: str
    ) -> Decision:
        """Ask the policy, or reuse its answer to a check whose read facts were the same."""
        decision, remembered = self.reads.decide(engine.decide, actor, action, resource, date)
        if remembered:
            self.read_hits += 1
        return decision


def _opened(session: Session | scoped_session[Any]) -> Session:
    return session() if isinstance(session, scoped_session) else session


def _deps(check: Check) -> tuple[int, int, int]:
    """The board slots a check's facts live in: everything, its actor, its resource."""
    return (GLOBAL, slot_of(*check.actor), slot_of(*check.resource))


class Authorizer:
    def __init__(self, policy_paths: Sequence[str | Path]) -> None:
        self._paths = list(policy_paths)
        self._engine = PolicyEngine(self._paths)
        self._lock = threading.Lock()
        self._board: RevisionBoard | None = None
        self._cache_size = 0
        self._cache: DecisionCache | None = None
        # Page statements per kept list filter (the filter object itself, against id reuse).
        self._pages: dict[tuple[int, bool, int], tuple[Any, Any]] = {}
        self._pages_lock = threading.Lock()

    @property
    def engine(self) -> PolicyEngine:
        return self._engine

    @property
    def cache(self) -> DecisionCache | None:
        return self._cache

    def enable_cache(self, board: RevisionBoard, size: int) -> None:
        """Cache decisions, checked against `board` (which must see every write; freshness.py)."""
        self._board, self._cache_size = board, size
        self._cache = DecisionCache(board, size, self._engine) if size > 0 else None

    @property
    def policy_version(self) -> str:
        return self._engine.version

    def reload(self) -> str:
        """Build a new engine from the policy files and swap it in; return its version."""
        with self._lock:
            engine = PolicyEngine(self._paths)
            board, old = self._board, self._cache
            cache = DecisionCache(board, self._cache_size, engine) if board and old else None
            if cache is not None and old is not None:
                cache.on_count = old.on_count
            self._engine, self._cache = engine, cache  # the old policy's decisions go with it
        return self._engine.version

    # -- checks --------------------------------------------------------------------------
    def authorize(
        self, session: Session, actor: Ref, action: str, resource: Ref, at: dt.datetime
    ) -> Decision:
        return self.authorize_many(session, [Check(actor, action, resource, at)])[0]

    def authorize_many(
        self, session: Session | scoped_session[Any], checks: Sequence[Check]
    ) -> list[Decision]:
        """Decide every check: from the cache when it still holds, else loading each object once.

        `session` may be a `scoped_session`: it is touched only when something must be loaded.
        """
        engine, cache = self._engine, self._cache
        if cache is None or cache.engine is not engine:  # no cache, or a reload in progress
            return self._decide(_opened(session), engine, checks)
        if not cache.board.current():
            # The board file was deleted or replaced: writers started since then report elsewhere.
            cache.count(0, 0, len(checks))
            return self._decide(_opened(session), engine, checks)
        results: list[Decision | None] = [None] * len(checks)
        misses: list[tuple[int, _CacheKey, tuple[int, int, int], tuple[int, ...] | None]] = []
        for index, check in enumerate(checks):
            key = (check.actor, check.action, check.resource, business_date(check.at))
            deps = _deps(check)
            found, versions = cache.lookup(cache.entries, key, deps)
            if found is not MISS:
                results[index] = found
                continue
            misses.append((index, key, deps, versions))
        cache.count(len(checks) - len(misses), len(misses), 0)
        if misses:
            # Only a load that starts a new transaction after the versions were read may be
            # cached: an older one (SQLite keeps its snapshot) could show data from before them.
            # (Asked only now, so that a call answered from the cache never opens a session.)
            session = _opened(session)
            storable = not session.in_transaction()
            if not storable:
                misses = [(index, key, deps, None) for index, key, deps, _ in misses]
            missed = [checks[m[0]] for m in misses]
            objects = self._cached_facts(session, cache, missed, storable)
            decided = self._decide(session, engine, missed, objects, cache)
            for (index, key, deps, before), decision in zip(misses, decided, strict=True):
                results[index] = decision
                cache.keep(cache.entries, key, deps, before, decision)
        return results  # type: ignore[return-value]  # every index is filled above

    def _cached_facts(
        self, session: Session, cache: DecisionCache, checks: Sequence[Check], storable: bool
    ) -> dict[Ref, Any]:
        """Return the facts of the checks' objects: from the cache where it holds, else loaded.

        Same protocol as decisions: versions read before the load, kept only if unchanged after.
        """
        objects: dict[Ref, Any] = {}
        wanted: list[tuple[Ref, tuple[int, int], tuple[int, ...] | None]] = []
        for ref in dict.fromkeys([c.actor for c in checks] + [c.resource for c in checks]):
            deps = (GLOBAL, slot_of(*ref))
            found, versions = cache.lookup(cache.facts, ref, deps)
            if found is not MISS:
                if found is not None:  # None: kept as "not in the database"
                    objects[ref] = found
                continue
            wanted.append((ref, deps, versions if storable else None))
        if wanted:
            loaded = self._load_refs(session, [ref for ref, _, _ in wanted])
            for ref, deps, before in wanted:
                found = loaded.get(ref)
                if found is not None:
                    objects[ref] = found
                cache.keep(cache.facts, ref, deps, before, found)
        return objects

    def _decide(
        self,
        session: Session,
        engine: PolicyEngine,
        checks: Sequence[Check],
        objects: dict[Ref, Any] | None = None,
        cache: DecisionCache | None = None,
    ) -> list[Decision]:
        """Decide every check, loading each distinct object once (unless `objects` has them)."""
        if objects is None:
            objects = self._load_refs(
                session, [c.actor for c in checks] + [c.resource for c in checks]
            )
        decisions = []
        for check in checks:
            actor = objects.get(check.actor) or facts.Unknown("actor", *check.actor)
            resource = objects.get(check.resource) or facts.Unknown("resource", *check.resource)
            if cache is not None:
                date = business_date(check.at)
                decisions.append(cache.decide(engine, actor, check.action, resource, date))
            else:
                ctx = policy_context(check.at)
                decisions.append(engine.decide(actor, check.action, resource, ctx))
        return decisions

    def explain(self, session: Session, check: Check) -> tuple[Decision, dict[str, Any]]:
        """Decide one check and explain the decision from the policy's own evaluation."""
        objects = self._load_refs(session, [check.actor, check.resource])
        actor = objects.get(check.actor) or facts.Unknown("actor", *check.actor)
        resource = objects.get(check.resource) or facts.Unknown("resource", *check.resource)
        engine, ctx = self._engine, policy_context(check.at)
        decision = engine.decide(actor, check.action, resource, ctx)
        return decision, engine.explain(actor, check.action, resource, ctx)

    def actions(self, session: Session, actor: Ref, resource: Ref, at: dt.datetime) -> list[str]:
        objects = self._load_refs(session, [actor, resource])
        if actor not in objects or resource not in objects:
            return []
        found = self._engine.allowed_actions(objects[actor], objects[resource], policy_context(at))
        return sorted(found)

    def _load_refs(self, session: Session, refs: Iterable[Ref]) -> dict[Ref, Any]:
        """Load the facts of `refs`, all from one snapshot of the database.

        A check's actor and resource come in one statement (`loader.load_refs`). Inside the
        session's transaction (a governed operation checks what it will write) it runs there.
        Otherwise, on PostgreSQL, it runs on a connection of its own in autocommit mode: one
        statement is one snapshot, so neither it nor the session needs a BEGIN and a ROLLBACK
        (a check's round trips: 5 -> 2). SQLite's driver opens no transaction for a SELECT, so
        there the session's connection already reads that way.

        More objects (a batch) on PostgreSQL take one statement per type in the session's
        transaction, the snapshot: PostgreSQL runs those faster than their union (measured on
        the bench's world, 540 objects of 5 types: 12 ms against 18 ms).
        """
        wanted: dict[str, set[str]] = {}
        for ref in refs:
            wanted.setdefault(ref.type, set()).add(ref.id)
        bind = session.get_bind()
        sqlite = bind.dialect.name == "sqlite"
        if not sqlite and sum(len(ids) for ids in wanted.values()) > 2:
            loaded = {t: loader.load(session, t, ids) for t, ids in wanted.items()}
        elif sqlite or session.in_transaction() or not isinstance(bind, Engine):
            loaded = loader.load_refs(session.connection(), wanted)
        else:
            with bind.connect() as connection:
                reader = connection.execution_options(isolation_level="AUTOCOMMIT")
                loaded = loader.load_refs(reader, wanted)
        return {
            Ref(type_name, oid): obj
            for type_name, found in loaded.items()
            for oid, obj in found.items()
        }

    # -- billing questions the policy answers -------------------------------------------
    def plan_in_force(self, session: Session, domain_id: str, at: dt.datetime) -> str | None:
        found = loader.load(session, "Domain", [domain_id])
        if domain_id not in found:
            return None
        return self._engine.plan_in_force(found[domain_id], policy_context(at))

    def bo_eligible(self, session: Session, domain_id: str, at: dt.datetime) -> bool:
        """Tell whether the domain's plan in force at `at` includes Back Office Access."""
        found = loader.load(session, "Domain", [domain_id])
        return domain_id in found and self._engine.bo_eligible(found[domain_id], policy_context(at))

    def billing_facts(
        self, session: Session, domain_id: str, at: dt.datetime
    ) -> tuple[str | None, int]:
        """Return the plan in force at `at` and the number of seat holders, as the policy says."""
        found = loader.load(session, "Domain", [domain_id])
        if domain_id not in found:
            return None, 0
        ctx = policy_context(at)
        plan = self._engine.plan_in_force(found[domain_id], ctx)
        flt = self._engine.seat_holder_filter(found[domain_id], ctx)
        clause = sql_filter.filter_clause(flt)
        if clause.compare(false()):
            return plan, 0  # the policy allows no holder here: no need to ask the database
        stmt = select(func.count()).select_from(sql_filter.root_model(flt))
        return plan, int(session.scalar(stmt.where(clause)) or 0)

    # -- lists ---------------------------------------------------------------------------
    def list_resources(
        self,
        session: Session,
        actor: Ref,
        action: str,
        resource_type: str,
        at: dt.datetime,
        limit: int,
        cursor: str | None,
    ) -> tuple[list[str], str | None]:
        """Return one page of the ids of `resource_type` the actor may `action`, ascending."""
        after = decode_cursor(cursor, 1)[0] if cursor else None
        found = loader.load(session, actor.type, [actor.id])
        if actor.id not in found:
            return [], None
        flt = self._engine.resource_filter(
            found[actor.id], action, resource_type, policy_context(at)
        )
        stmt = self._page_statement(flt, after is not None, limit + 1)
        ids = list(session.scalars(stmt, {"after": after} if after is not None else {}))
        if len(ids) > limit:
            return ids[:limit], encode_cursor(ids[limit - 1])
        return ids, None

    def _page_statement(self, flt: Any, after: bool, rows: int) -> Any:
        """The SQL of up to `rows` of `flt`'s keys, ascending: built once per kept filter, row
        count and kind (from the start, or after the `after` parameter, which then bounds the
        filter's subqueries too)."""
        key = (id(flt), after, rows)
        found = self._pages.get(key)
        if found is not None and found[0] is flt:
            return found[1]
        pk = sql_filter.root_model(flt).__mapper__.primary_key[0]
        if after:
            cursor = bindparam("after", type_=String)
            stmt = select(pk).where(sql_filter.filter_clause(flt, cursor), pk > cursor)
        else:
            stmt = select(pk).where(sql_filter.filter_clause(flt))
        stmt = stmt.order_by(pk).limit(rows)
        with self._pages_lock:
            bounded_put(self._pages, 1024, key, (flt, stmt))
        return stmt

    def list_actors(
        self,
        session: Session,
        action: str,
        resource: Ref,
        actor_type: str | None,
        at: dt.datetime,
        limit: int,
        cursor: str | None,
    ) -> tuple[list[Ref], str | None]:
        """Return one page of the actors that may `action` on `resource`, by (type, id)."""
        after = tuple(decode_cursor(cursor, 2)) if cursor else None
        found = loader.load(session, resource.type, [resource.id])
        if resource.id not in found:
            return [], None
        types = sorted(facts.ACTOR_TYPES) if actor_type is None else [actor_type]
        ctx = policy_context(at)
        page: list[Ref] = []
        for type_name in types:
            if after is not None and type_name < after[0]:
                continue
            flt = self._engine.actor_filter(type_name, action, found[resource.id], ctx)
            resume = after is not None and type_name == after[0]
            stmt = self._page_statement(flt, resume, limit + 1 - len(page))
            params = {"after": after[1]} if after is not None and resume else {}
            page.extend(Ref(type_name, i) for i in session.scalars(stmt, params))
            if len(page) > limit:
                break
        if len(page) > limit:
            last = page[limit - 1]
            return page[:limit], encode_cursor(last.type, last.id)
        return page, None


__all__ = [
    "Authorizer",
    "Check",
    "Decision",
    "InvalidCursor",
    "Ref",
    "build_authorizer",
    "business_date",
    "policy_context",
]


def build_authorizer(policy_paths: Sequence[str | Path]) -> Authorizer:
    return Authorizer(policy_paths)
