# yuki-authz: who may do what with Yuki's Back Office Access (oso 0.27.3).
#
# This file is the single source of every rule the service enforces. The rules come from
# ../shared/domain.md; R1-R20 point at the original FAQ (2022-02-01), D1-D14 at later help pages.
#
# How to read it
# - A request is allow(actor, action, resource, ctx). Deny by default: only what an `allow` rule
#   below permits is allowed.
# - Actors are `PortalUser` (office employees) and `DomainUser` (entrepreneur-side users).
#   Resources are `Portal`, `PortalUser`, `Domain`, `Administration` and `DomainUser`.
# - `ctx.date` is the request's business date in Europe/Brussels, "YYYY-MM-DD" (the service
#   converts the request time `context.at`, default now, to that zone). Every time rule below is a
#   rule about Brussels dates; ISO dates compare correctly as text.
# - When a request is denied, the `deny_reason` rules say why, with the codes of domain.md. Each
#   one stands next to the `allow` rule it explains. A deny always has at least one reason and an
#   allow never has one (the test suite proves it on random worlds).
# - Lists (list-resources, list-actors) are computed from these same `allow` rules by oso's data
#   filtering, so the `allow` rules use only equality and comparisons of fields (no `not`).
# - Nothing crosses portals: every rule that lets a portal user act requires the resource to be in
#   their own portal, and every rule that lets a domain user act requires their own domain.
# - Written for oso's speed, without changing what a rule means:
#   - a rule names its action in its head where it can: oso then finds it without trying, and
#     copying, every other rule; a long list of actions is a table of facts;
#   - a body tests the actor's own facts (role, scope) before the resource's, so that a rule
#     that cannot hold stops early, in checks and in lists;
#   - the rules behind the lists asked most (which domains a portal user opens, processes...)
#     state what they ask of the domain as patterns (`domain matches {shielded: false}`): oso
#     turns a pattern into a list filter several times faster than a comparison of fields. In a
#     check, both mean the same.


# The two questions this policy answers (oso's own three-argument `allow` gains the context).
type allow(actor, action, resource, ctx);
type deny_reason(actor, action, resource, ctx, reason);
type seat_holder(user, domain, ctx);


# ============================================================================ the vocabulary
# Each action, the actor type it concerns and the resource type it acts on. Any other combination
# is denied with `action_not_applicable`.

concerns(_: PortalUser, "view", _: Portal);
concerns(_: PortalUser, "list_users", _: Portal);
concerns(_: PortalUser, "create_user", _: Portal);
concerns(_: PortalUser, "create_guest", _: Portal);
concerns(_: PortalUser, "create_domain", _: Portal);
concerns(_: PortalUser, "convert_guests", _: Portal);
concerns(_: PortalUser, "delete", _: PortalUser);
concerns(_: PortalUser, "change_role", _: PortalUser);
concerns(_: PortalUser, "open", _: Domain);
concerns(_: PortalUser, "process", _: Domain);
concerns(_: PortalUser, "data_entry", _: Domain);
concerns(_: PortalUser, "view_settings", _: Domain);
concerns(_: PortalUser, "manage_settings", _: Domain);
concerns(_: PortalUser, "assign_staff", _: Domain);
concerns(_: PortalUser, "authorize_bo_access", _: Domain);
concerns(_: PortalUser, "revoke_bo_access", _: Domain);
concerns(_: DomainUser, "open", _: Domain);
concerns(_: DomainUser, "process", _: Domain);
concerns(_: DomainUser, "data_entry", _: Domain);
concerns(_: DomainUser, "manage_users", _: Domain);
concerns(_: DomainUser, "add_extra_user", _: Domain);
concerns(_: DomainUser, "grant_backoffice", _: Domain);
concerns(_: DomainUser, "change_plan", _: Domain);
concerns(_: DomainUser, "view_subscription", _: Domain);
concerns(_: DomainUser, "use_sales", _: Domain);
concerns(_: DomainUser, "use_purchase", _: Domain);
concerns(_: DomainUser, "use_hrm", _: Domain);
concerns(_: DomainUser, "use_finance", _: Domain);
concerns(_: PortalUser, "access", _: Administration);
concerns(_: DomainUser, "access", _: Administration);
concerns(_: DomainUser, "delete", _: DomainUser);
concerns(_: DomainUser, "grant_role", _: DomainUser);

# An id the service cannot find is denied before anything else.
deny_reason(_: Unknown{kind: "actor"}, _action, _resource, _ctx, "unknown_actor");
deny_reason(_actor, _action, _: Unknown{kind: "resource"}, _ctx, "unknown_resource");

deny_reason(actor, action, resource, _ctx, "action_not_applicable") if
    not actor matches Unknown and
    not resource matches Unknown and
    not concerns(actor, action, resource);


# ============================================================================ constants
# Plans that include Back Office Access, with the `bundle` pricing model (R4, R11, D2).
# Minimal and Trial never do (R11).
eligible_plan("Small");
eligible_plan("Medium");
eligible_plan("Large");
eligible_plan("Unlimited");

# Plans on which an entrepreneur may add extra (paying) users (R15).
extra_user_plan("Medium");
extra_user_plan("Large");
extra_user_plan("Unlimited");

# No portal guest can be created from this Brussels date on (R8, R9).
guest_creation_closes_on("2021-09-01");

# Roles of office employees who see the list of portal users.
office_staff_role("PortalAdministrator");
office_staff_role("PortalBackoffice");
office_staff_role("PortalDataEntry");

# Roles that open domains through the whole portal or through their staff functions.
office_employee_role("PortalBackoffice");
office_employee_role("PortalDataEntry");

# Portal roles that may use the Back-office menu (`process`) where they may open (R1).
office_processing_role("PortalAdministrator");
office_processing_role("PortalBackoffice");
office_processing_role("PortalGuest");

# Portal roles that may view a domain's settings where they may open.
settings_viewer_role("PortalAdministrator");
settings_viewer_role("PortalBackoffice");

# The entrepreneur-side modules and the domain roles that open them. ReadOnlyUser opens none.
module_role("use_sales", "Sales");
module_role("use_sales", "FinAdmin");
module_role("use_purchase", "Purchase");
module_role("use_purchase", "FinAdmin");
module_role("use_hrm", "HRM");
module_role("use_finance", "FinAdmin");
module_role("use_finance", "Accountant");


# ============================================================================ who is who
# An office employee acts inside their own portal, and a converted legacy guest no longer acts at
# all (R2, R3, D14).
office_member(user: PortalUser, portal_id) if
    user.portal_id = portal_id and
    user.converted_at = nil;

# The domains of an office member's own portal (a converted guest has none).
office_domain(user: PortalUser, domain: Domain) if
    user.converted_at = nil and
    domain matches {portal_id: user.portal_id};

portal_administrator(user: PortalUser, portal_id) if
    user.role = "PortalAdministrator" and
    office_member(user, portal_id);

# The portal administrator administers every domain of their portal.
administers(user: PortalUser, domain: Domain) if
    user.role = "PortalAdministrator" and
    office_domain(user, domain);

# A domain user acts inside their own domain only.
domain_member(user: DomainUser, domain_id) if
    user.domain_id = domain_id;

# A domain user's roles are a set; `holds` asks for one of them.
holds(user: DomainUser, role) if
    granted in user.roles and
    granted.role = role;

# The staff functions an office employee holds on a domain ("Assigner des employes", D8).
has_function(user: PortalUser, domain: Domain, function) if
    staff in domain.staff and
    staff matches {user_id: user.id, function: function};

# The portal and the domain each resource belongs to.
portal_of(portal: Portal, portal_id) if portal_id = portal.id;
portal_of(target: PortalUser, portal_id) if portal_id = target.portal_id;
portal_of(domain: Domain, portal_id) if portal_id = domain.portal_id;
portal_of(administration: Administration, portal_id) if
    portal_id = administration.domain.portal_id;

domain_of(domain: Domain, domain_id) if domain_id = domain.id;
domain_of(administration: Administration, domain_id) if domain_id = administration.domain_id;
domain_of(target: DomainUser, domain_id) if domain_id = target.domain_id;

# Nothing crosses portals or domains: outsiders are told only that they are not members.
deny_reason(user: PortalUser, action, resource, _ctx, "not_member") if
    concerns(user, action, resource) and
    portal_of(resource, portal_id) and
    user.portal_id != portal_id;

deny_reason(user: DomainUser, action, resource, _ctx, "not_member") if
    concerns(user, action, resource) and
    domain_of(resource, domain_id) and
    user.domain_id != domain_id;

# A converted guest keeps no portal rights (D14).
deny_reason(user: PortalUser, action, resource, _ctx, "guest_converted") if
    concerns(user, action, resource) and
    portal_of(resource, portal_id) and
    user.portal_id = portal_id and
    user.converted_at != nil;

# The further reasons below are given to members only: `acting_in` is a member acting on a
# resource of their own portal or domain.
acting_in(user: PortalUser, action, resource) if
    concerns(user, action, resource) and
    portal_of(resource, portal_id) and
    office_member(user, portal_id);

acting_in(user: DomainUser, action, resource) if
    concerns(user, action, resource) and
    domain_of(resource, domain_id) and
    domain_member(user, domain_id);


# ============================================================================ time
# The plan in force on a date. Upgrades apply at once; a downgrade is pending until its date,
# the 1st of the next month in Europe/Brussels (D10), and is in force from that date on.
plan_in_force(domain: Domain, _ctx, plan) if
    domain.pending_plan = nil and
    plan = domain.plan;

plan_in_force(domain: Domain, ctx, plan) if
    domain.pending_plan != nil and
    domain.pending_plan_from > ctx.date and
    plan = domain.plan;

plan_in_force(domain: Domain, ctx, plan) if
    domain.pending_plan != nil and
    domain.pending_plan_from <= ctx.date and
    plan = domain.pending_plan;

# Back Office Access needs the bundle pricing model and an eligible plan in force (R4, R11, D2).
bo_eligible(domain: Domain, ctx) if
    domain.pricing_model = "bundle" and
    plan_in_force(domain, ctx, plan) and
    eligible_plan(plan);

bo_ineligible_reason(domain: Domain, _ctx, "legacy_pricing") if
    domain.pricing_model = "legacy_modules";

bo_ineligible_reason(domain: Domain, ctx, "plan_not_eligible") if
    plan_in_force(domain, ctx, plan) and
    not eligible_plan(plan);

# Effective Back Office Access: the Backoffice role, the accountant's authorization (R13) and an
# eligible plan in force. A Backoffice role without the other two stays assigned but is dormant:
# it grants nothing (Decision, domain.md section 2).
effective_bo_access(user: DomainUser, domain: Domain, ctx) if
    domain_member(user, domain.id) and
    holds(user, "Backoffice") and
    domain.bo_access_authorized = true and
    bo_eligible(domain, ctx);

effective_bo_access_missing(user: DomainUser, _domain: Domain, _ctx, "role_missing") if
    not holds(user, "Backoffice");

effective_bo_access_missing(_user: DomainUser, domain: Domain, _ctx, "bo_access_not_authorized") if
    domain.bo_access_authorized = false;

effective_bo_access_missing(_user: DomainUser, domain: Domain, ctx, reason) if
    bo_ineligible_reason(domain, ctx, reason);


# ============================================================================ Portal
# Any member views the portal (converted guests are no longer members).
allow(user: PortalUser, "view", portal: Portal, _ctx) if
    office_member(user, portal.id);

# All office employees see the list of portal users; a legacy guest does not.
allow(user: PortalUser, "list_users", portal: Portal, _ctx) if
    office_member(user, portal.id) and
    office_staff_role(user.role);

deny_reason(user: PortalUser, "list_users", portal: Portal, _ctx, "role_missing") if
    acting_in(user, "list_users", portal) and
    not office_staff_role(user.role);

# Only the portal administrator creates portal users.
allow(user: PortalUser, "create_user", portal: Portal, _ctx) if
    portal_administrator(user, portal.id);

# Only the portal administrator converts the portal's legacy guests (domain.md section 4).
allow(user: PortalUser, "convert_guests", portal: Portal, _ctx) if
    portal_administrator(user, portal.id);

# A portal guest could be created only before 2021-09-01, Europe/Brussels (R8, R9).
allow(user: PortalUser, "create_guest", portal: Portal, ctx) if
    portal_administrator(user, portal.id) and
    guest_creation_closes_on(closing_date) and
    ctx.date < closing_date;

deny_reason(user: PortalUser, "create_guest", portal: Portal, ctx, "portal_guest_creation_closed") if
    acting_in(user, "create_guest", portal) and
    guest_creation_closes_on(closing_date) and
    ctx.date >= closing_date;

# The administrator creates domains, and so does a back-office employee with the whole portal in
# scope; a subcontractor (scope "assigned") does not.
allow(user: PortalUser, "create_domain", portal: Portal, _ctx) if
    portal_administrator(user, portal.id);

allow(user: PortalUser, "create_domain", portal: Portal, _ctx) if
    office_member(user, portal.id) and
    user.role = "PortalBackoffice" and
    user.scope = "portal";

deny_reason(user: PortalUser, "create_domain", portal: Portal, _ctx, "role_missing") if
    acting_in(user, "create_domain", portal) and
    user.role != "PortalAdministrator" and
    not (user.role = "PortalBackoffice" and user.scope = "portal");

# Actions only the administrator may take give `not_portal_administrator` to everyone else.
deny_reason(user: PortalUser, action, resource, _ctx, "not_portal_administrator") if
    administrator_only(action, resource) and
    acting_in(user, action, resource) and
    user.role != "PortalAdministrator";

administrator_only("create_user", _: Portal);
administrator_only("create_guest", _: Portal);
administrator_only("convert_guests", _: Portal);
administrator_only("delete", _: PortalUser);
administrator_only("change_role", _: PortalUser);
administrator_only("manage_settings", _: Domain);
administrator_only("assign_staff", _: Domain);
administrator_only("authorize_bo_access", _: Domain);
administrator_only("revoke_bo_access", _: Domain);


# ============================================================================ PortalUser
# Only the portal administrator deletes office users or changes their role, guests included
# (R16), and never their own account.
allow(user: PortalUser, "delete", target: PortalUser, _ctx) if administers_other(user, target);
allow(user: PortalUser, "change_role", target: PortalUser, _ctx) if administers_other(user, target);

administers_other(user: PortalUser, target: PortalUser) if
    portal_administrator(user, target.portal_id) and
    user.id != target.id;

deny_reason(user: PortalUser, action, target: PortalUser, _ctx, "self_target") if
    acting_in(user, action, target) and
    user.id = target.id;


# ============================================================================ Domain, office side
# A portal user opens a domain where one of the `opens` rules below holds.
allow(user: PortalUser, "open", domain: Domain, _ctx) if
    opens(user, domain);

# The administrator opens every domain of the portal, shielded ones too (D7).
opens(user: PortalUser, domain) if
    administers(user, domain);

# Back-office and data-entry employees with the whole portal in scope open every unshielded
# domain (D7).
opens(user: PortalUser, domain) if
    office_employee_role(user.role) and
    user.scope = "portal" and
    office_domain(user, domain) and
    domain matches {shielded: false};

# They open any domain where they hold a staff function, shielded or not; a subcontractor
# (scope "assigned") opens only those (R19, R20).
opens(user: PortalUser, domain) if
    office_employee_role(user.role) and
    office_domain(user, domain) and
    has_function(user, domain, _function);

# A legacy guest, until converted, opens only the domains where they are Responsible (R2, R3).
opens(user: PortalUser, domain) if
    user.role = "PortalGuest" and
    office_domain(user, domain) and
    has_function(user, domain, "Responsible");

# Why a member who may work in domains cannot open this one. These reasons also refuse them
# everything they would do in it (processing, data entry, settings, its administrations).
deny_reason(user: PortalUser, "open", domain: Domain, _ctx, reason) if
    cannot_open(user, domain, reason);

cannot_open(user: PortalUser, domain: Domain, "domain_shielded") if
    office_employee_role(user.role) and
    user.scope = "portal" and
    acting_in(user, "open", domain) and
    domain.shielded = true and
    not has_function(user, domain, _);

cannot_open(user: PortalUser, domain: Domain, "not_assigned") if
    office_employee_role(user.role) and
    user.scope = "assigned" and
    acting_in(user, "open", domain) and
    not has_function(user, domain, _);

cannot_open(user: PortalUser, domain: Domain, "not_assigned") if
    user.role = "PortalGuest" and
    acting_in(user, "open", domain) and
    not has_function(user, domain, "Responsible");

# The Back-office menu: administrators, back-office employees and legacy guests, wherever they
# may open. The office keeps this right when the entrepreneur has Back Office Access (R1).
allow(user: PortalUser, "process", domain: Domain, _ctx) if
    processes(user, domain);

processes(user: PortalUser, domain) if
    office_processing_role(user.role) and
    opens(user, domain);

deny_reason(user: PortalUser, "process", domain: Domain, _ctx, "role_missing") if
    acting_in(user, "process", domain) and
    not office_processing_role(user.role);

# Data entry: whoever may process, and data-entry employees wherever they may open (D9).
allow(user: PortalUser, "data_entry", domain: Domain, _ctx) if
    processes(user, domain);

allow(user: PortalUser, "data_entry", domain: Domain, _ctx) if
    user.role = "PortalDataEntry" and
    opens(user, domain);

# Viewing a domain's settings: administrators and back-office employees where they may open.
allow(user: PortalUser, "view_settings", domain: Domain, _ctx) if
    settings_viewer_role(user.role) and
    opens(user, domain);

deny_reason(user: PortalUser, "view_settings", domain: Domain, _ctx, "role_missing") if
    acting_in(user, "view_settings", domain) and
    not settings_viewer_role(user.role);

# Whatever keeps a portal user from opening a domain also keeps them from working in it.
deny_reason(user: PortalUser, "process", domain: Domain, _ctx, reason) if
    cannot_open(user, domain, reason);
deny_reason(user: PortalUser, "data_entry", domain: Domain, _ctx, reason) if
    cannot_open(user, domain, reason);
deny_reason(user: PortalUser, "view_settings", domain: Domain, _ctx, reason) if
    cannot_open(user, domain, reason);

# The administrator manages settings (shielding, status), assigns staff and revokes Back Office
# Access (D1, D7, D8).
allow(user: PortalUser, "manage_settings", domain: Domain, _ctx) if
    administers(user, domain);
allow(user: PortalUser, "assign_staff", domain: Domain, _ctx) if
    administers(user, domain);
allow(user: PortalUser, "revoke_bo_access", domain: Domain, _ctx) if
    administers(user, domain);

# The administrator authorizes Back Office Access, when the plan in force is eligible
# (R7, R11, R13, D1, D2).
allow(user: PortalUser, "authorize_bo_access", domain: Domain, ctx) if
    administers(user, domain) and
    bo_eligible(domain, ctx);

deny_reason(user: PortalUser, "authorize_bo_access", domain: Domain, ctx, reason) if
    acting_in(user, "authorize_bo_access", domain) and
    bo_ineligible_reason(domain, ctx, reason);


# ============================================================================ Domain, entrepreneur side
# Every user of the domain opens it.
allow(user: DomainUser, "open", domain: Domain, _ctx) if
    domain_member(user, domain.id);

# The Back-office menu and data entry need effective Back Office Access (R4, R11-R14).
allow(user: DomainUser, "process", domain: Domain, ctx) if
    effective_bo_access(user, domain, ctx);
allow(user: DomainUser, "data_entry", domain: Domain, ctx) if
    effective_bo_access(user, domain, ctx);

deny_reason(user: DomainUser, "process", domain: Domain, ctx, reason) if
    acting_in(user, "process", domain) and
    effective_bo_access_missing(user, domain, ctx, reason);
deny_reason(user: DomainUser, "data_entry", domain: Domain, ctx, reason) if
    acting_in(user, "data_entry", domain) and
    effective_bo_access_missing(user, domain, ctx, reason);

# Management manages the domain's users (within what the plan includes), its plan and its
# subscription (R14, D4, D13).
allow(user: DomainUser, "manage_users", domain: Domain, _ctx) if manages(user, domain);
allow(user: DomainUser, "change_plan", domain: Domain, _ctx) if manages(user, domain);
allow(user: DomainUser, "view_subscription", domain: Domain, _ctx) if manages(user, domain);

manages(user: DomainUser, domain: Domain) if
    domain_member(user, domain.id) and
    holds(user, "Management");

# Management adds extra users, on Medium, Large and Unlimited only (R15).
allow(user: DomainUser, "add_extra_user", domain: Domain, ctx) if
    domain_member(user, domain.id) and
    holds(user, "Management") and
    plan_in_force(domain, ctx, plan) and
    extra_user_plan(plan);

deny_reason(user: DomainUser, "add_extra_user", domain: Domain, ctx, "extra_users_not_in_plan") if
    acting_in(user, "add_extra_user", domain) and
    plan_in_force(domain, ctx, plan) and
    not extra_user_plan(plan);

# Management grants the Backoffice role, to themselves or to any user of the domain, once the
# accountant has authorized Back Office Access and the plan in force is eligible (R12-R14).
allow(user: DomainUser, "grant_backoffice", domain: Domain, ctx) if
    domain_member(user, domain.id) and
    holds(user, "Management") and
    domain.bo_access_authorized = true and
    bo_eligible(domain, ctx);

deny_reason(user: DomainUser, "grant_backoffice", domain: Domain, _ctx, "bo_access_not_authorized") if
    acting_in(user, "grant_backoffice", domain) and
    domain.bo_access_authorized = false;

deny_reason(user: DomainUser, "grant_backoffice", domain: Domain, ctx, reason) if
    acting_in(user, "grant_backoffice", domain) and
    bo_ineligible_reason(domain, ctx, reason);

# Everything Management does on the domain is refused to others with `not_management`.
deny_reason(user: DomainUser, action, domain: Domain, _ctx, "not_management") if
    management_only(action) and
    acting_in(user, action, domain) and
    not holds(user, "Management");

management_only("manage_users");
management_only("add_extra_user");
management_only("grant_backoffice");
management_only("change_plan");
management_only("view_subscription");

# The modules open to the roles that use them.
allow(user: DomainUser, module, domain: Domain, _ctx) if
    module_role(module, role) and
    domain_member(user, domain.id) and
    holds(user, role);

deny_reason(user: DomainUser, module, domain: Domain, _ctx, "role_missing") if
    module in ["use_sales", "use_purchase", "use_hrm", "use_finance"] and
    acting_in(user, module, domain) and
    not (module_role(module, role) and holds(user, role));


# ============================================================================ Administration
# Office staff reach an administration wherever they may open its domain.
allow(user: PortalUser, "access", administration: Administration, _ctx) if
    opens(user, administration.domain);

deny_reason(user: PortalUser, "access", administration: Administration, _ctx, reason) if
    cannot_open(user, administration.domain, reason);

# A domain user reaches every administration of the domain when no list limits them...
allow(user: DomainUser, "access", administration: Administration, _ctx) if
    domain_member(user, administration.domain_id) and
    user.all_administrations = true;

# ...or the administrations their list names...
allow(user: DomainUser, "access", administration: Administration, _ctx) if
    domain_member(user, administration.domain_id) and
    link in user.administrations and
    link.administration_id = administration.id;

# ...and with effective Back Office Access every administration, whatever the list (D3).
allow(user: DomainUser, "access", administration: Administration, ctx) if
    effective_bo_access(user, administration.domain, ctx);

deny_reason(user: DomainUser, "access", administration: Administration, ctx, "not_assigned") if
    acting_in(user, "access", administration) and
    user.all_administrations = false and
    not (link in user.administrations and link.administration_id = administration.id) and
    not effective_bo_access(user, administration.domain, ctx);


# ============================================================================ DomainUser
# Management deletes the domain's users, never the owner.
allow(user: DomainUser, "delete", target: DomainUser, _ctx) if
    domain_member(user, target.domain_id) and
    holds(user, "Management") and
    target.is_owner = false;

deny_reason(user: DomainUser, "delete", target: DomainUser, _ctx, "owner_protected") if
    acting_in(user, "delete", target) and
    target.is_owner = true;

# Management grants the domain's users their roles; Backoffice is granted through the domain's
# `grant_backoffice` instead (R14).
allow(user: DomainUser, "grant_role", target: DomainUser, _ctx) if
    domain_member(user, target.domain_id) and
    holds(user, "Management");

deny_reason(user: DomainUser, action, target: DomainUser, _ctx, "not_management") if
    action in ["delete", "grant_role"] and
    acting_in(user, action, target) and
    not holds(user, "Management");


# ============================================================================ billing
# A Back Office seat is counted for each user with effective Back Office Access (R6): a dormant
# Backoffice role costs nothing (Decision, domain.md section 2). The pricing module bills
# max(0, holders - 1) of them; it takes the count from this rule.
seat_holder(user: DomainUser, domain: Domain, ctx) if
    effective_bo_access(user, domain, ctx);
