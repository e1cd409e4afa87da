"""Initial schema: portals, portal users, domains, staff, administrations, domain users.

Revision ID: 0001
Revises:
Create Date: 2026-12-04 16:26:18.166703
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "data_revision",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_data_revision")),
    )
    op.create_table(
        "portals",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("country", sa.String(length=2), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_portals")),
    )
    op.create_table(
        "domains",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("portal_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("plan", sa.String(length=16), nullable=False),
        sa.Column("pricing_model", sa.String(length=16), nullable=False),
        sa.Column("shielded", sa.Boolean(), nullable=False),
        sa.Column("bo_access_authorized", sa.Boolean(), nullable=False),
        sa.Column("pending_plan", sa.String(length=16), nullable=True),
        sa.Column("pending_plan_from", sa.Date(), nullable=True),
        sa.Column("guest_discount_percent", sa.Integer(), nullable=True),
        sa.Column("guest_discount_months", sa.Integer(), nullable=True),
        sa.Column("guest_discount_starts_on", sa.Date(), nullable=True),
        sa.ForeignKeyConstraint(
            ["portal_id"], ["portals.id"], name=op.f("fk_domains_portal_id_portals")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_domains")),
    )
    op.create_index("ix_domains_portal_id_id", "domains", ["portal_id", "id"], unique=False)
    op.create_table(
        "portal_users",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("portal_id", sa.String(length=64), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("scope", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("converted_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["portal_id"], ["portals.id"], name=op.f("fk_portal_users_portal_id_portals")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_portal_users")),
    )
    op.create_index(
        "ix_portal_users_portal_id_id", "portal_users", ["portal_id", "id"], unique=False
    )
    op.create_table(
        "administrations",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("domain_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["domain_id"], ["domains.id"], name=op.f("fk_administrations_domain_id_domains")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_administrations")),
    )
    op.create_index(
        op.f("ix_administrations_domain_id"), "administrations", ["domain_id"], unique=False
    )
    op.create_table(
        "domain_users",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("domain_id", sa.String(length=64), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("is_owner", sa.Boolean(), nullable=False),
        sa.Column("all_administrations", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["domain_id"], ["domains.id"], name=op.f("fk_domain_users_domain_id_domains")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_domain_users")),
    )
    op.create_index(
        "ix_domain_users_domain_id_id", "domain_users", ["domain_id", "id"], unique=False
    )
    op.create_table(
        "staff_assignments",
        sa.Column("domain_id", sa.String(length=64), nullable=False),
        sa.Column("function", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["domain_id"], ["domains.id"], name=op.f("fk_staff_assignments_domain_id_domains")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["portal_users.id"], name=op.f("fk_staff_assignments_user_id_portal_users")
        ),
        sa.PrimaryKeyConstraint("domain_id", "function", name=op.f("pk_staff_assignments")),
    )
    op.create_index(
        "ix_staff_assignments_user_id_domain_id",
        "staff_assignments",
        ["user_id", "domain_id"],
        unique=False,
    )
    op.create_table(
        "domain_user_administrations",
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("administration_id", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["administration_id"],
            ["administrations.id"],
            name=op.f("fk_domain_user_administrations_administration_id_administrations"),
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["domain_users.id"],
            name=op.f("fk_domain_user_administrations_user_id_domain_users"),
        ),
        sa.PrimaryKeyConstraint(
            "user_id", "administration_id", name=op.f("pk_domain_user_administrations")
        ),
    )
    op.create_table(
        "domain_user_roles",
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["domain_users.id"], name=op.f("fk_domain_user_roles_user_id_domain_users")
        ),
        sa.PrimaryKeyConstraint("user_id", "role", name=op.f("pk_domain_user_roles")),
    )
    op.create_index(
        "ix_domain_user_roles_role_user_id", "domain_user_roles", ["role", "user_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_domain_user_roles_role_user_id", table_name="domain_user_roles")
    op.drop_table("domain_user_roles")
    op.drop_table("domain_user_administrations")
    op.drop_index("ix_staff_assignments_user_id_domain_id", table_name="staff_assignments")
    op.drop_table("staff_assignments")
    op.drop_index("ix_domain_users_domain_id_id", table_name="domain_users")
    op.drop_table("domain_users")
    op.drop_index(op.f("ix_administrations_domain_id"), table_name="administrations")
    op.drop_table("administrations")
    op.drop_index("ix_portal_users_portal_id_id", table_name="portal_users")
    op.drop_table("portal_users")
    op.drop_index("ix_domains_portal_id_id", table_name="domains")
    op.drop_table("domains")
    op.drop_table("portals")
    op.drop_table("data_revision")
