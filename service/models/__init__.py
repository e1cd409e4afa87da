"""Typed SQLAlchemy 2 models; no Flask imports here."""

from .audit import AuditEvent
from .base import Base, UTCDateTime
from .billing import LedgerEntry
from .domain import Administration, Domain, StaffAssignment
from .domain_user import DomainUser, DomainUserAdministration, DomainUserRole
from .idempotency import IdempotencyRecord
from .portal import Portal, PortalUser
from .revision import DataRevision, bump_revision, current_revision

__all__ = [
    "Administration",
    "AuditEvent",
    "Base",
    "DataRevision",
    "Domain",
    "DomainUser",
    "DomainUserAdministration",
    "DomainUserRole",
    "IdempotencyRecord",
    "LedgerEntry",
    "Portal",
    "PortalUser",
    "StaffAssignment",
    "UTCDateTime",
    "bump_revision",
    "current_revision",
]
