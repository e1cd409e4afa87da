"""Client domains, their staff functions and their administrations."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, Date, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, Id


class Domain(Base):
    """A client environment; plan, pricing model and the Back Office Access switches."""

    __tablename__ = "domains"
    __table_args__ = (Index("ix_domains_portal_id_id", "portal_id", "id"),)

    id: Mapped[str] = mapped_column(Id(), primary_key=True)
    portal_id: Mapped[str] = mapped_column(Id(), ForeignKey("portals.id"))
    name: Mapped[str] = mapped_column(String(200))
    plan: Mapped[str] = mapped_column(String(16))
    pricing_model: Mapped[str] = mapped_column(String(16), default="bundle")
    shielded: Mapped[bool] = mapped_column(Boolean, default=False)
    bo_access_authorized: Mapped[bool] = mapped_column(Boolean, default=False)
    # A downgrade waits for the 1st of the next month (Europe/Brussels business date).
    pending_plan: Mapped[str | None] = mapped_column(String(16))
    pending_plan_from: Mapped[dt.date | None] = mapped_column(Date)
    # The converted-guest discount entitlement (domain.md section 3), or all three null.
    guest_discount_percent: Mapped[int | None] = mapped_column(Integer)
    guest_discount_months: Mapped[int | None] = mapped_column(Integer)
    guest_discount_starts_on: Mapped[dt.date | None] = mapped_column(Date)


class StaffAssignment(Base):
    """A staff function on a domain ("Assigner des employes"): one holder per function."""

    __tablename__ = "staff_assignments"
    __table_args__ = (Index("ix_staff_assignments_user_id_domain_id", "user_id", "domain_id"),)

    domain_id: Mapped[str] = mapped_column(Id(), ForeignKey("domains.id"), primary_key=True)
    function: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[str] = mapped_column(Id(), ForeignKey("portal_users.id"))


class Administration(Base):
    """A legal entity kept in a domain."""

    __tablename__ = "administrations"

    id: Mapped[str] = mapped_column(Id(), primary_key=True)
    domain_id: Mapped[str] = mapped_column(Id(), ForeignKey("domains.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
