"""The audit chain: append events in the caller's transaction; verify the chain end to end.

Each event stores the hash of the previous one and its own hash over a canonical JSON form of its
fields, so changing, inserting or deleting a row breaks the chain at that row. Appends must be
serialized; governed operations hold the write gate (`service.operations.write_gate`) first.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.models import AuditEvent

GENESIS = "0" * 64
# The fields the hash covers, in this order.
HASHED = (
    "at",
    "actor",
    "api_key",
    "operation",
    "outcome",
    "reasons",
    "target_type",
    "target_id",
    "portal_id",
    "domain_id",
    "before",
    "after",
    "run_rate_change",
    "request_id",
)


def canonical(value: Any) -> str:
    """Return the one JSON text of `value`: sorted keys, no spaces, decimals and dates as text."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def _stamp(at: dt.datetime) -> str:
    return at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def event_hash(prev_hash: str, event: AuditEvent) -> str:
    fields = {name: getattr(event, name) for name in HASHED}
    fields["at"] = _stamp(event.at)
    payload = prev_hash + "\n" + canonical(fields)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def last_hash(session: Session) -> str:
    found = session.scalar(select(AuditEvent.hash).order_by(AuditEvent.id.desc()).limit(1))
    return found or GENESIS


def append(
    session: Session,
    *,
    actor: str,
    operation: str,
    outcome: str,
    target_type: str,
    target_id: str,
    portal_id: str | None = None,
    domain_id: str | None = None,
    reasons: list[str] | tuple[str, ...] = (),
    before: Any = None,
    after: Any = None,
    run_rate_change: Any = None,
    api_key: str | None = None,
    request_id: str | None = None,
    at: dt.datetime | None = None,
) -> AuditEvent:
    """Add one event at the end of the chain (in the caller's transaction) and return it."""
    at = (at or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    event = AuditEvent(
        at=at,
        actor=actor,
        api_key=api_key,
        operation=operation,
        outcome=outcome,
        reasons=canonical(list(reasons)),
        target_type=target_type,
        target_id=target_id,
        portal_id=portal_id,
        domain_id=domain_id,
        before=canonical(before),
        after=canonical(after),
        run_rate_change=canonical(run_rate_change),
        request_id=request_id,
    )
    event.prev_hash = last_hash(session)
    event.hash = event_hash(event.prev_hash, event)
    session.add(event)
    session.flush()
    return event


@dataclass(frozen=True)
class Verification:
    ok: bool
    checked: int
    first_broken_id: int | None = None
    problem: str | None = None
    # The hash of the last event verified: record it elsewhere to detect a truncated tail later.
    head: str = GENESIS


def _events(session: Session, batch: int = 1000) -> Iterator[AuditEvent]:
    last_id = 0
    while True:
        rows = list(
            session.scalars(
                select(AuditEvent)
                .where(AuditEvent.id > last_id)
                .order_by(AuditEvent.id)
                .limit(batch)
            )
        )
        if not rows:
            return
        yield from rows
        last_id = rows[-1].id
        session.expunge_all()


def verify(session: Session) -> Verification:
    """Walk the chain from the first event; name the first event whose link or hash is wrong."""
    expected_prev = GENESIS
    checked = 0
    for event in _events(session):
        if event.prev_hash != expected_prev:
            return Verification(False, checked, event.id, "previous-hash link broken")
        if event_hash(event.prev_hash, event) != event.hash:
            return Verification(False, checked, event.id, "contents do not match the hash")
        expected_prev = event.hash
        checked += 1
    return Verification(True, checked, head=expected_prev)


def as_dict(event: AuditEvent) -> dict[str, Any]:
    """Return an event as the API shows it (JSON columns decoded)."""
    return {
        "id": event.id,
        "at": event.at.isoformat(),
        "actor": event.actor,
        "api_key": event.api_key,
        "operation": event.operation,
        "outcome": event.outcome,
        "reasons": json.loads(event.reasons),
        "target": {"type": event.target_type, "id": event.target_id},
        "portal_id": event.portal_id,
        "domain_id": event.domain_id,
        "before": json.loads(event.before),
        "after": json.loads(event.after),
        "run_rate_change": json.loads(event.run_rate_change),
        "request_id": event.request_id,
        "prev_hash": event.prev_hash,
        "hash": event.hash,
    }
