"""The ledger: every change of a domain's monthly run-rate, with who and when."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import Index, Numeric, String
from sqlalchemy.orm import Mapped, mapped_column

from .audit import BigId
from .base import Base, Id, UTCDateTime


class LedgerEntry(Base):
    __tablename__ = "ledger_entries"
    __table_args__ = (Index("ix_ledger_entries_domain_id_id", "domain_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    domain_id: Mapped[str] = mapped_column(Id())
    item: Mapped[str] = mapped_column(String(40))
    amount: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    currency: Mapped[str] = mapped_column(String(3))
    actor: Mapped[str] = mapped_column(String(100))
    operation: Mapped[str] = mapped_column(String(64))
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    request_id: Mapped[str | None] = mapped_column(String(128))
    audit_event_id: Mapped[int | None] = mapped_column(BigId)
