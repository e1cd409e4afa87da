"""The data revision: bumped in the transaction of every write, so caches keyed by it stay fresh."""

from __future__ import annotations

from sqlalchemy import BigInteger, Integer, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from .base import Base


class DataRevision(Base):
    __tablename__ = "data_revision"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger, default=0)


def bump_revision(session: Session) -> int:
    """Advance the data revision inside the caller's transaction and return the new value."""
    row = session.get(DataRevision, 1, with_for_update=True)
    if row is None:
        row = DataRevision(id=1, value=0)
        session.add(row)
    row.value = (row.value or 0) + 1
    session.flush()
    return row.value


def current_revision(session: Session) -> int:
    value = session.scalar(select(DataRevision.value).where(DataRevision.id == 1))
    return int(value or 0)
