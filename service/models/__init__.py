"""Typed SQLAlchemy 2 models; no Flask imports here."""

from .base import Base, UTCDateTime
from .domain import Administration, Domain, StaffAssignment
from .domain_user import DomainUser, DomainUserAdministration, DomainUserRole
from .portal import Portal, PortalUser
from .revision import DataRevision, bump_revision, current_revision

__all__ = [
    "Administration",
    "Base",
    "DataRevision",
    "Domain",
    "DomainUser",
    "DomainUserAdministration",
    "DomainUserRole",
    "Portal",
    "PortalUser",
    "StaffAssignment",
    "UTCDateTime",
    "bump_revision",
    "current_revision",
]
