"""The policy's vocabulary as typed enums: every value is a string `policies/access.polar` uses.

A test proves these sets equal the policy's own `concerns` table, so the two cannot drift.
"""

from __future__ import annotations

import re
from enum import StrEnum

# Anchored for the OpenAPI document (ECMA-262 has no \A or \Z); match it with `is_id` or
# `fullmatch` only: `$` also matches before a final newline, so `.match` would let "d-1\n" in.
ID_PATTERN = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


def is_id(value: object) -> bool:
    """Tell whether `value` is an id: 1-64 characters of A-Za-z0-9._:- and nothing else."""
    return isinstance(value, str) and ID_PATTERN.fullmatch(value) is not None


class ActorType(StrEnum):
    DOMAIN_USER = "DomainUser"
    PORTAL_USER = "PortalUser"


class ResourceType(StrEnum):
    ADMINISTRATION = "Administration"
    DOMAIN = "Domain"
    DOMAIN_USER = "DomainUser"
    PORTAL = "Portal"
    PORTAL_USER = "PortalUser"


class Action(StrEnum):
    ACCESS = "access"
    ADD_EXTRA_USER = "add_extra_user"
    ASSIGN_STAFF = "assign_staff"
    AUTHORIZE_BO_ACCESS = "authorize_bo_access"
    CHANGE_PLAN = "change_plan"
    CHANGE_ROLE = "change_role"
    CONVERT_GUESTS = "convert_guests"
    CREATE_DOMAIN = "create_domain"
    CREATE_GUEST = "create_guest"
    CREATE_USER = "create_user"
    DATA_ENTRY = "data_entry"
    DELETE = "delete"
    GRANT_BACKOFFICE = "grant_backoffice"
    GRANT_ROLE = "grant_role"
    LIST_USERS = "list_users"
    MANAGE_SETTINGS = "manage_settings"
    MANAGE_USERS = "manage_users"
    OPEN = "open"
    PROCESS = "process"
    REVOKE_BO_ACCESS = "revoke_bo_access"
    USE_FINANCE = "use_finance"
    USE_HRM = "use_hrm"
    USE_PURCHASE = "use_purchase"
    USE_SALES = "use_sales"
    VIEW = "view"
    VIEW_SETTINGS = "view_settings"
    VIEW_SUBSCRIPTION = "view_subscription"


# Which actions exist on which resource type (domain.md section 2).
ACTIONS_BY_RESOURCE: dict[ResourceType, frozenset[Action]] = {
    ResourceType.PORTAL: frozenset(
        {
            Action.VIEW,
            Action.LIST_USERS,
            Action.CREATE_USER,
            Action.CREATE_GUEST,
            Action.CREATE_DOMAIN,
            Action.CONVERT_GUESTS,
        }
    ),
    ResourceType.PORTAL_USER: frozenset({Action.DELETE, Action.CHANGE_ROLE}),
    ResourceType.DOMAIN: frozenset(
        {
            Action.OPEN,
            Action.PROCESS,
            Action.DATA_ENTRY,
            Action.VIEW_SETTINGS,
            Action.MANAGE_SETTINGS,
            Action.ASSIGN_STAFF,
            Action.AUTHORIZE_BO_ACCESS,
            Action.REVOKE_BO_ACCESS,
            Action.MANAGE_USERS,
            Action.ADD_EXTRA_USER,
            Action.GRANT_BACKOFFICE,
            Action.CHANGE_PLAN,
            Action.VIEW_SUBSCRIPTION,
            Action.USE_SALES,
            Action.USE_PURCHASE,
            Action.USE_HRM,
            Action.USE_FINANCE,
        }
    ),
    ResourceType.ADMINISTRATION: frozenset({Action.ACCESS}),
    ResourceType.DOMAIN_USER: frozenset({Action.DELETE, Action.GRANT_ROLE}),
}


class PortalRole(StrEnum):
    PORTAL_ADMINISTRATOR = "PortalAdministrator"
    PORTAL_BACKOFFICE = "PortalBackoffice"
    PORTAL_DATA_ENTRY = "PortalDataEntry"
    PORTAL_GUEST = "PortalGuest"


class Scope(StrEnum):
    ASSIGNED = "assigned"
    PORTAL = "portal"


# Only these roles may be limited to the domains they are assigned to (R19, R20).
SCOPABLE_ROLES = frozenset({PortalRole.PORTAL_BACKOFFICE, PortalRole.PORTAL_DATA_ENTRY})


class StaffFunction(StrEnum):
    ACCOUNT_MANAGER = "AccountManager"
    BACKUP = "Backup"
    CONTROLLER = "Controller"
    RESPONSIBLE = "Responsible"


class Plan(StrEnum):
    LARGE = "Large"
    MEDIUM = "Medium"
    MINIMAL = "Minimal"
    SMALL = "Small"
    TRIAL = "Trial"
    UNLIMITED = "Unlimited"


class PricingModel(StrEnum):
    BUNDLE = "bundle"
    LEGACY_MODULES = "legacy_modules"


class DomainRole(StrEnum):
    ACCOUNTANT = "Accountant"
    BACKOFFICE = "Backoffice"
    FIN_ADMIN = "FinAdmin"
    HRM = "HRM"
    MANAGEMENT = "Management"
    PROCUREMENT = "Procurement"
    PURCHASE = "Purchase"
    READ_ONLY_USER = "ReadOnlyUser"
    SALES = "Sales"
    SECURITY_MANAGER = "SecurityManager"


class Reason(StrEnum):
    ACTION_NOT_APPLICABLE = "action_not_applicable"
    BO_ACCESS_NOT_AUTHORIZED = "bo_access_not_authorized"
    DOMAIN_SHIELDED = "domain_shielded"
    EXTRA_USERS_NOT_IN_PLAN = "extra_users_not_in_plan"
    GUEST_CONVERTED = "guest_converted"
    LEGACY_PRICING = "legacy_pricing"
    NOT_ASSIGNED = "not_assigned"
    NOT_MANAGEMENT = "not_management"
    NOT_MEMBER = "not_member"
    NOT_PORTAL_ADMINISTRATOR = "not_portal_administrator"
    OWNER_PROTECTED = "owner_protected"
    PLAN_NOT_ELIGIBLE = "plan_not_eligible"
    PORTAL_GUEST_CREATION_CLOSED = "portal_guest_creation_closed"
    ROLE_MISSING = "role_missing"
    SELF_TARGET = "self_target"
    UNKNOWN_ACTOR = "unknown_actor"
    UNKNOWN_RESOURCE = "unknown_resource"
