"""identity and market reference

Revision ID: bcac46d3a68b
Revises:
Create Date: 2026-11-23 10:41:10.499890
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "bcac46d3a68b"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # The no-overlap rule on service history needs = on text inside a GiST index.
    op.execute("CREATE EXTENSION IF NOT EXISTS btree_gist")
    op.create_table(
        "entities",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("duns", sa.String(length=13), nullable=True),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("email", sa.Text(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "duns IS NULL OR duns ~ '^[0-9]{9}([0-9]{4})?$'", name=op.f("ck_entities_duns_format")
        ),
        sa.CheckConstraint(
            "role IN ('customer', 'operator', 'regulator', 'service') OR duns IS NOT NULL",
            name=op.f("ck_entities_companies_have_duns"),
        ),
        sa.CheckConstraint(
            "role IN ('tdsp', 'rep', 'csp', 'customer', 'regulator', 'operator', 'service')",
            name=op.f("ck_entities_role_known"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_entities")),
        sa.UniqueConstraint("duns", name=op.f("uq_entities_duns")),
    )
    op.create_table(
        "esiids",
        sa.Column("esiid", sa.String(length=64), nullable=False),
        sa.Column("tdsp_duns", sa.String(length=13), nullable=False),
        sa.Column("premise_type", sa.String(length=16), nullable=False),
        sa.Column("address_line", sa.Text(), nullable=True),
        sa.Column("city", sa.Text(), nullable=True),
        sa.Column("state", sa.String(length=2), nullable=True),
        sa.Column("zip_code", sa.String(length=10), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("esiid ~ '^[A-Za-z0-9]{1,64}$'", name=op.f("ck_esiids_esiid_format")),
        sa.PrimaryKeyConstraint("esiid", name=op.f("pk_esiids")),
    )
    op.create_index("ix_esiids_tdsp_duns", "esiids", ["tdsp_duns"], unique=False)
    op.create_table(
        "api_clients",
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("entity_id", sa.Uuid(), nullable=False),
        sa.Column("secret_hash", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("disabled_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["entity_id"], ["entities.id"], name=op.f("fk_api_clients_entity_id_entities")
        ),
        sa.PrimaryKeyConstraint("client_id", name=op.f("pk_api_clients")),
    )
    op.create_index(op.f("ix_api_clients_entity_id"), "api_clients", ["entity_id"], unique=False)
    op.create_table(
        "customer_accounts",
        sa.Column("entity_id", sa.Uuid(), nullable=False),
        sa.Column("username", sa.String(length=128), nullable=False),
        sa.Column("password_hash", sa.Text(), nullable=False),
        sa.Column("email", sa.Text(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["entity_id"], ["entities.id"], name=op.f("fk_customer_accounts_entity_id_entities")
        ),
        sa.PrimaryKeyConstraint("entity_id", name=op.f("pk_customer_accounts")),
        sa.UniqueConstraint("username", name=op.f("uq_customer_accounts_username")),
    )
    op.create_table(
        "meters",
        sa.Column("esiid", sa.String(length=64), nullable=False),
        sa.Column("meter_number", sa.String(length=64), nullable=False),
        sa.Column("multiplier", sa.Numeric(precision=12, scale=4), nullable=False),
        sa.Column("manufacturer", sa.Text(), nullable=True),
        sa.Column("model", sa.Text(), nullable=True),
        sa.Column("firmware_version", sa.Text(), nullable=True),
        sa.Column("install_date", sa.Date(), nullable=True),
        sa.Column("provision_date", sa.Date(), nullable=True),
        sa.Column("removal_date", sa.Date(), nullable=True),
        sa.ForeignKeyConstraint(["esiid"], ["esiids.esiid"], name=op.f("fk_meters_esiid_esiids")),
        sa.PrimaryKeyConstraint("esiid", "meter_number", name=op.f("pk_meters")),
    )
    op.create_table(
        "service_history",
        sa.Column("esiid", sa.String(length=64), nullable=False),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("end_date", sa.Date(), nullable=True),
        sa.Column("rep_duns", sa.String(length=13), nullable=False),
        postgresql.ExcludeConstraint(
            (sa.column("esiid"), "="),
            (sa.text("daterange(start_date, end_date)"), "&&"),
            using="gist",
            name="service_history_no_overlap",
        ),
        sa.CheckConstraint(
            "end_date IS NULL OR end_date > start_date",
            name=op.f("ck_service_history_period_ordered"),
        ),
        sa.ForeignKeyConstraint(
            ["esiid"], ["esiids.esiid"], name=op.f("fk_service_history_esiid_esiids")
        ),
        sa.PrimaryKeyConstraint("esiid", "start_date", name=op.f("pk_service_history")),
    )
    op.create_index(
        "ix_service_history_rep_duns", "service_history", ["rep_duns", "start_date"], unique=False
    )
    op.create_table(
        "customer_esiid_links",
        sa.Column("entity_id", sa.Uuid(), nullable=False),
        sa.Column("esiid", sa.String(length=64), nullable=False),
        sa.Column("meter_number", sa.String(length=64), nullable=False),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("end_date", sa.Date(), nullable=True),
        sa.CheckConstraint(
            "end_date IS NULL OR end_date > start_date",
            name=op.f("ck_customer_esiid_links_period_ordered"),
        ),
        sa.ForeignKeyConstraint(
            ["entity_id"],
            ["customer_accounts.entity_id"],
            name=op.f("fk_customer_esiid_links_entity_id_customer_accounts"),
        ),
        sa.PrimaryKeyConstraint(
            "entity_id", "esiid", "start_date", name=op.f("pk_customer_esiid_links")
        ),
    )
    op.create_index(
        "ix_customer_esiid_links_esiid", "customer_esiid_links", ["esiid"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_customer_esiid_links_esiid", table_name="customer_esiid_links")
    op.drop_table("customer_esiid_links")
    op.drop_index("ix_service_history_rep_duns", table_name="service_history")
    op.drop_table("service_history")
    op.drop_table("meters")
    op.drop_table("customer_accounts")
    op.drop_index(op.f("ix_api_clients_entity_id"), table_name="api_clients")
    op.drop_table("api_clients")
    op.drop_index("ix_esiids_tdsp_duns", table_name="esiids")
    op.drop_table("esiids")
    op.drop_table("entities")
