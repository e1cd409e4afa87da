"""Entrepreneur-side users of a domain, their roles and their administration access."""

from __future__ import annotations

from sqlalchemy import Boolean, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, Id


class DomainUser(Base):
    """A user of one domain; `all_administrations` is true when no list limits them."""

    __tablename__ = "domain_users"
    __table_args__ = (Index("ix_domain_users_domain_id_id", "domain_id", "id"),)

    id: Mapped[str] = mapped_column(Id(), primary_key=True)
    domain_id: Mapped[str] = mapped_column(Id(), ForeignKey("domains.id"))
    email: Mapped[str] = mapped_column(String(320))
    name: Mapped[str] = mapped_column(String(200))
    is_owner: Mapped[bool] = mapped_column(Boolean, default=False)
    all_administrations: Mapped[bool] = mapped_column(Boolean, default=True)


class DomainUserRole(Base):
    __tablename__ = "domain_user_roles"
    __table_args__ = (Index("ix_domain_user_roles_role_user_id", "role", "user_id"),)

    user_id: Mapped[str] = mapped_column(Id(), ForeignKey("domain_users.id"), primary_key=True)
    role: Mapped[str] = mapped_column(String(32), primary_key=True)


class DomainUserAdministration(Base):
    __tablename__ = "domain_user_administrations"

    user_id: Mapped[str] = mapped_column(Id(), ForeignKey("domain_users.id"), primary_key=True)
    administration_id: Mapped[str] = mapped_column(
        Id(), ForeignKey("administrations.id"), primary_key=True
    )
