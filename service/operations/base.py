"""How every governed operation runs: gate, load, check with the policy, act, price, audit, commit.

One operation is one transaction. Its first statement takes the *write gate* (it bumps the data
revision row), so governed writes are serialized on every database: seats are counted on data no
other writer is changing, the audit chain is appended in order, and a decision cache keyed by the
revision can never serve a decision older than the last write.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from service import audit, models, pricing
from service.authz import BRUSSELS, Authorizer, Check, Ref, business_date


class OperationError(Exception):
    """An outcome other than success; the API turns it into the error shape."""

    status = 400
    code = "invalid_request"
    headers: ClassVar[Mapping[str, str]] = {}  # HTTP headers of the answer

    def __init__(self, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}


class Invalid(OperationError):
    status, code = 400, "invalid_request"


class NotFound(OperationError):
    status, code = 404, "not_found"


class Conflict(OperationError):
    status, code = 409, "conflict"


class Forbidden(OperationError):
    status, code = 403, "forbidden"


class Busy(OperationError):
    status, code = 503, "busy"
    headers = {"Retry-After": "1"}


class IdempotencyMismatch(OperationError):
    status, code = 422, "idempotency_key_reused"


def invalid(field_name: str, message: str) -> Invalid:
    return Invalid(f"Invalid {field_name}: {message}", {"json": {field_name: [message]}})


@dataclass
class Idempotency:
    api_key: str
    key: str
    request_hash: str

    @staticmethod
    def fingerprint(method: str, path: str, actor: str, body: Any) -> str:
        raw = json.dumps([method, path, actor, body], sort_keys=True, default=str)
        return hashlib.sha256(raw.encode()).hexdigest()


@dataclass
class OperationContext:
    session: Session
    authz: Authorizer
    catalogue: pricing.Catalogue
    actor: Ref
    api_key: str | None = None
    request_id: str | None = None
    now: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))
    idempotency: Idempotency | None = None
    # Rows read during the operation, held so the session's identity map (weakly referencing)
    # answers the next read of the same row without another round trip.
    held: list[Any] = field(default_factory=list)

    @property
    def actor_label(self) -> str:
        return f"{self.actor.type}:{self.actor.id}"

    @property
    def today(self) -> dt.date:
        return dt.date.fromisoformat(business_date(self.now))


@dataclass
class Result:
    """What an operation answers: the new state, and the run-rate change where there is one."""

    status: int
    body: dict[str, Any]


# How long a governed operation waits in the queue for the write gate before answering 503.
GATE_WAIT_SECONDS = 120.0


def _take_gate(session: Session) -> Any:
    """Bump the revision row; on SQLite, wait past busy_timeout while other writers hold it."""
    deadline = time.monotonic() + GATE_WAIT_SECONDS
    while True:
        try:
            return session.execute(
                update(models.DataRevision)
                .where(models.DataRevision.id == 1)
                .values(value=models.DataRevision.value + 1)
            )
        except OperationalError as exc:
            # SQLite gives up after busy_timeout with "database is locked": queue again.
            if "locked" not in str(exc.orig).lower() and "busy" not in str(exc.orig).lower():
                raise
            session.rollback()
            if time.monotonic() >= deadline:
                raise Busy(
                    "The database is busy with other governed operations; retry shortly."
                ) from exc


def write_gate(session: Session) -> None:
    """Start the operation's transaction with the write that serializes governed operations."""
    if session.in_transaction():
        session.rollback()  # leave any read snapshot behind: the gate must come first
    bumped = _take_gate(session)
    if bumped.rowcount == 0:
        try:
            with session.begin_nested():
                session.add(models.DataRevision(id=1, value=1))
        except IntegrityError:  # another writer created it first: take the gate as usual
            session.execute(
                update(models.DataRevision)
                .where(models.DataRevision.id == 1)
                .values(value=models.DataRevision.value + 1)
            )


# -- billing --------------------------------------------------------------------------------
def breakdown(ctx: OperationContext, domain_id: str, at: dt.datetime) -> pricing.Breakdown:
    """Price a domain at `at`: plan in force and seat holders as the policy says.

    A domain that does not exist (yet, or any more) costs nothing.
    """
    session = ctx.session
    domain = session.get(models.Domain, domain_id)
    if domain is None:
        return pricing.nothing(ctx.catalogue)
    ctx.held.append(domain)
    in_force, holders = ctx.authz.billing_facts(session, domain_id, at)
    users = session.scalar(
        select(func.count())
        .select_from(models.DomainUser)
        .where(models.DomainUser.domain_id == domain_id)
    )
    discount = None
    if domain.guest_discount_percent is not None:
        discount = pricing.Discount(
            domain.guest_discount_percent,
            domain.guest_discount_months or 0,
            domain.guest_discount_starts_on,
        )
    return pricing.run_rate(
        ctx.catalogue,
        plan=in_force or domain.plan,
        on=dt.date.fromisoformat(business_date(at)),
        effective_holders=holders,
        users=int(users or 0),
        discount=discount,
    )


def start_of_day(day: dt.date) -> dt.datetime:
    """Midnight of a Brussels business date, as an instant."""
    return dt.datetime(day.year, day.month, day.day, tzinfo=BRUSSELS)


def price_points(
    ctx: OperationContext, domain_id: str, also: Sequence[dt.datetime] = ()
) -> list[dt.datetime]:
    """Return now and every later moment the domain's run-rate changes by itself."""
    points = {ctx.now}
    domain = ctx.session.get(models.Domain, domain_id)
    if domain is not None:
        days = []
        if domain.pending_plan_from is not None:
            days.append(domain.pending_plan_from)
        if domain.guest_discount_starts_on is not None and domain.guest_discount_months:
            days.append(domain.guest_discount_starts_on)
            days.append(
                pricing.add_months(domain.guest_discount_starts_on, domain.guest_discount_months)
            )
        points.update(start_of_day(day) for day in days)
    points.update(also)
    return sorted(p for p in points if p >= ctx.now)


def run_rate_answer(
    ctx: OperationContext, changes: list[tuple[dt.datetime, pricing.RunRateChange]]
) -> dict[str, Any] | None:
    """The first change of the run-rate, dated when not immediate; later ones under `then`."""
    dated = []
    for at, change in changes:
        entry = change.as_dict()
        if at > ctx.now:
            entry["effective_on"] = business_date(at)
        dated.append(entry)
    if not dated:
        return None
    first = dated[0]
    if len(dated) > 1:
        first["then"] = dated[1:]
    return first


def ledger(
    ctx: OperationContext,
    domain_id: str,
    operation: str,
    changes: list[tuple[dt.datetime, pricing.RunRateChange]],
    audit_event_id: int,
) -> None:
    """Write one ledger entry per item of each change, dated when it takes effect."""
    for at, change in changes:
        for item in change.items:
            ctx.session.add(
                models.LedgerEntry(
                    domain_id=domain_id,
                    item=item.item,
                    amount=item.amount,
                    currency=change.currency,
                    actor=ctx.actor_label,
                    operation=operation,
                    at=at,
                    request_id=ctx.request_id,
                    audit_event_id=audit_event_id,
                )
            )


# -- the runner -----------------------------------------------------------------------------
@dataclass
class Operation:
    """One governed operation, described for `run`."""

    name: str
    target: Ref
    checks: Sequence[tuple[str, Ref]]
    apply: Callable[[], dict[str, Any]]
    portal_id: str | None = None
    domain_id: str | None = None  # the domain the audit event is filed under
    before: Callable[[], Any] | None = None
    status: int = 200
    priced: bool = False  # the operation may move the domain's run-rate: price it
    # Future moments the change itself sets (a downgrade's date, the end of a discount it starts):
    # the run-rate is also priced there, besides now and the domain's own pending dates.
    price_also_at: Sequence[dt.datetime] = ()


def replay(ctx: OperationContext) -> Result | None:
    """Return the stored answer for a repeated Idempotency-Key, if any (after the gate)."""
    idem = ctx.idempotency
    if idem is None:
        return None
    record = ctx.session.get(models.IdempotencyRecord, (idem.api_key, idem.key))
    if record is None:
        return None
    if record.request_hash != idem.request_hash:
        raise IdempotencyMismatch(
            "This Idempotency-Key was used with another request; use a new key.",
            {"idempotency_key": idem.key},
        )
    return Result(record.status, json.loads(record.body))


def remember(ctx: OperationContext, result: Result) -> None:
    idem = ctx.idempotency
    if idem is not None:
        ctx.session.add(
            models.IdempotencyRecord(
                api_key=idem.api_key,
                key=idem.key,
                request_hash=idem.request_hash,
                status=result.status,
                body=audit.canonical(result.body),
                created_at=ctx.now,
            )
        )


def run(ctx: OperationContext, prepare: Callable[[], Operation]) -> Result:
    """Run one governed operation in one transaction; see the module docstring.

    `prepare` runs after the gate: it loads and validates (raising NotFound / Invalid) and
    describes the operation. A deny is audited and committed, then raised as Forbidden.
    """
    session = ctx.session
    try:
        write_gate(session)
        replayed = replay(ctx)
        if replayed is not None:
            session.rollback()  # nothing changes on a replay
            return replayed
        op = prepare()
        decisions = ctx.authz.authorize_many(
            session, [Check(ctx.actor, action, ref, ctx.now) for action, ref in op.checks]
        )
        reasons = sorted({r for d in decisions if not d.allowed for r in d.reasons})
        if not all(d.allowed for d in decisions):
            _deny(ctx, op, reasons)
        before_state = op.before() if op.before else None
        points: list[dt.datetime] = []
        priced_before: list[pricing.Breakdown] = []
        if op.priced and op.domain_id is not None:
            points = price_points(ctx, op.domain_id, op.price_also_at)
            priced_before = [breakdown(ctx, op.domain_id, at) for at in points]
        after_state = op.apply()
        session.flush()
        changes: list[tuple[dt.datetime, pricing.RunRateChange]] = []
        if op.domain_id is not None and points:
            priced_after = [breakdown(ctx, op.domain_id, at) for at in points]
            changes = pricing.schedule(
                ctx.catalogue, list(zip(points, priced_before, priced_after, strict=True))
            )
        answer = run_rate_answer(ctx, changes)
        event = audit.append(
            session,
            actor=ctx.actor_label,
            operation=op.name,
            outcome="allowed",
            target_type=op.target.type,
            target_id=op.target.id,
            portal_id=op.portal_id,
            domain_id=op.domain_id,
            before=before_state,
            after=after_state,
            run_rate_change=answer,
            api_key=ctx.api_key,
            request_id=ctx.request_id,
            at=ctx.now,
        )
        if op.domain_id is not None:
            ledger(ctx, op.domain_id, op.name, changes, event.id)
        body = dict(after_state) if isinstance(after_state, dict) else {"result": after_state}
        if answer is not None:
            body["run_rate_change"] = answer
        body["audit_event_id"] = event.id
        result = Result(op.status, body)
        remember(ctx, result)
        session.commit()
        return result
    except Forbidden:
        raise
    except IntegrityError as exc:
        session.rollback()
        raise Conflict("A concurrent change got there first; retry.") from exc
    except BaseException:
        session.rollback()
        raise


def _deny(ctx: OperationContext, op: Operation, reasons: list[str]) -> None:
    """Audit the refusal, keep it (and the Idempotency-Key answer), and raise Forbidden."""
    session = ctx.session
    error = Forbidden(
        f"{ctx.actor_label} may not {op.name.replace('_', ' ')}: {', '.join(reasons)}.",
        {"reasons": reasons},
    )
    event = audit.append(
        session,
        actor=ctx.actor_label,
        operation=op.name,
        outcome="denied",
        reasons=reasons,
        target_type=op.target.type,
        target_id=op.target.id,
        portal_id=op.portal_id,
        domain_id=op.domain_id,
        api_key=ctx.api_key,
        request_id=ctx.request_id,
        at=ctx.now,
    )
    error.details["audit_event_id"] = event.id
    remember(
        ctx,
        Result(
            403,
            {"error": {"code": error.code, "message": error.message, "details": error.details}},
        ),
    )
    session.commit()
    raise error
