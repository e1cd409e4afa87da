"""The accounting office's portal and its employees (portal users)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, Id, UTCDateTime


class Portal(Base):
    __tablename__ = "portals"

    id: Mapped[str] = mapped_column(Id(), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    country: Mapped[str | None] = mapped_column(String(2))


class PortalUser(Base):
    """An office employee ("BO user"); `role` is exactly one portal role."""

    __tablename__ = "portal_users"
    __table_args__ = (Index("ix_portal_users_portal_id_id", "portal_id", "id"),)

    id: Mapped[str] = mapped_column(Id(), primary_key=True)
    portal_id: Mapped[str] = mapped_column(Id(), ForeignKey("portals.id"))
    email: Mapped[str] = mapped_column(String(320))
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(32))
    scope: Mapped[str] = mapped_column(String(16), default="portal")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    converted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
