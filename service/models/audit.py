"""The append-only audit trail of governed operations, chained by hashes (tamper-evident)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, Id, UTCDateTime

# SQLite only auto-increments an INTEGER PRIMARY KEY.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class AuditEvent(Base):
    """One governed operation, allowed or denied. JSON columns hold canonical JSON text."""

    __tablename__ = "audit_events"
    __table_args__ = (
        Index("ix_audit_events_portal_id_id", "portal_id", "id"),
        Index("ix_audit_events_domain_id_id", "domain_id", "id"),
        Index("ix_audit_events_actor_id", "actor", "id"),
        Index("ix_audit_events_at", "at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    actor: Mapped[str] = mapped_column(String(100))
    api_key: Mapped[str | None] = mapped_column(String(64))
    operation: Mapped[str] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(16))  # "allowed" or "denied"
    reasons: Mapped[str] = mapped_column(Text, default="[]")
    target_type: Mapped[str] = mapped_column(String(32))
    target_id: Mapped[str] = mapped_column(Id())
    portal_id: Mapped[str | None] = mapped_column(Id())
    domain_id: Mapped[str | None] = mapped_column(Id())
    before: Mapped[str] = mapped_column(Text, default="null")
    after: Mapped[str] = mapped_column(Text, default="null")
    run_rate_change: Mapped[str] = mapped_column(Text, default="null")
    request_id: Mapped[str | None] = mapped_column(String(128))
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)
