"""Tables owned by the ftps-publisher service: FTPS accounts, REP keys, the publishing cursor,
the delivery log, scheduled vs actual deliveries and the retrieval log.

Revision ID: 0004_ftps_publisher
Revises: 0003_usage_api
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004_ftps_publisher"
down_revision: str | None = "0003_usage_api"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "ftps_accounts",
        sa.Column("rep_duns", sa.String(length=13), nullable=False),
        sa.Column("password_hash", sa.Text(), nullable=True),
        sa.Column("allowed_networks", postgresql.ARRAY(sa.Text()), nullable=True),
        sa.Column("disabled", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("failed_logins", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("first_failed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_login_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("password_changed_at", sa.DateTime(timezone=True), nullable=True),
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
        sa.CheckConstraint(
            "rep_duns ~ '^[0-9]{9}([0-9]{4})?$'", name=op.f("ck_ftps_accounts_duns_format")
        ),
        sa.CheckConstraint(
            "failed_logins >= 0", name=op.f("ck_ftps_accounts_failed_logins_positive")
        ),
        sa.PrimaryKeyConstraint("rep_duns", name=op.f("pk_ftps_accounts")),
    )
    op.create_table(
        "ftps_deliveries",
        sa.Column("rep_duns", sa.String(length=13), nullable=False),
        sa.Column("operating_day", sa.Date(), nullable=False),
        sa.Column("data_received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("scheduled_by", sa.DateTime(timezone=True), nullable=False),
        sa.Column("first_delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("files_delivered", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.PrimaryKeyConstraint("rep_duns", "operating_day", name=op.f("pk_ftps_deliveries")),
    )
    op.create_index("ix_ftps_deliveries_day", "ftps_deliveries", ["operating_day"], unique=False)
    op.create_table(
        "ftps_handled_events",
        sa.Column("event_id", sa.BigInteger(), nullable=False),
        sa.Column(
            "handled_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_ftps_handled_events")),
    )
    op.create_table(
        "ftps_published_files",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("rep_duns", sa.String(length=13), nullable=False),
        sa.Column("file_name", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("source", sa.String(length=8), nullable=False),
        sa.Column("operating_day", sa.Date(), nullable=True),
        sa.Column("supplemental", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("record_count", sa.BigInteger(), nullable=False),
        sa.Column("esiid_count", sa.Integer(), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("key_fingerprint", sa.String(length=64), nullable=False),
        sa.Column("last_event_id", sa.BigInteger(), nullable=True),
        sa.Column("placed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("purged_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "kind IN ('interval', 'daily', 'adhoc')",
            name=op.f("ck_ftps_published_files_kind_known"),
        ),
        sa.CheckConstraint(
            "source IN ('event', 'sweep', 'adhoc')",
            name=op.f("ck_ftps_published_files_source_known"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ftps_published_files")),
    )
    op.create_index(
        "ix_ftps_published_files_live",
        "ftps_published_files",
        ["placed_at"],
        unique=False,
        postgresql_where=sa.text("purged_at IS NULL"),
    )
    op.create_index(
        "ix_ftps_published_files_rep_day",
        "ftps_published_files",
        ["rep_duns", "operating_day", "kind"],
        unique=False,
    )
    op.create_index(
        "ix_ftps_published_files_rep_placed",
        "ftps_published_files",
        ["rep_duns", "placed_at"],
        unique=False,
    )
    op.create_index(
        "uq_ftps_published_files_name",
        "ftps_published_files",
        ["rep_duns", "file_name"],
        unique=True,
    )
    op.create_table(
        "ftps_publisher_cursor",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("last_event_id", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_ftps_publisher_cursor")),
    )
    op.create_table(
        "ftps_rep_keys",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("rep_duns", sa.String(length=13), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("armored", sa.Text(), nullable=False),
        sa.Column(
            "uids", postgresql.ARRAY(sa.Text()), server_default=sa.text("'{}'"), nullable=False
        ),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('pending', 'active', 'retired')", name=op.f("ck_ftps_rep_keys_status_known")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ftps_rep_keys")),
    )
    op.create_index(
        "uq_ftps_rep_keys_one_active",
        "ftps_rep_keys",
        ["rep_duns"],
        unique=True,
        postgresql_where=sa.text("status = 'active'"),
    )
    op.create_index(
        "uq_ftps_rep_keys_rep_fingerprint",
        "ftps_rep_keys",
        ["rep_duns", "fingerprint"],
        unique=True,
    )
    op.create_table(
        "ftps_retrievals",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("rep_duns", sa.String(length=13), nullable=False),
        sa.Column("file_name", sa.Text(), nullable=False),
        sa.Column("published_file_id", sa.BigInteger(), nullable=True),
        sa.Column("bytes_sent", sa.BigInteger(), nullable=False),
        sa.Column("file_size", sa.BigInteger(), nullable=True),
        sa.Column("completed", sa.Boolean(), nullable=False),
        sa.Column("remote_address", sa.String(length=64), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ftps_retrievals")),
    )
    op.create_index(
        "ix_ftps_retrievals_rep_finished",
        "ftps_retrievals",
        ["rep_duns", "finished_at"],
        unique=False,
    )
    # From event 0: a fresh install publishes every day already loaded.
    op.execute(
        "INSERT INTO ftps_publisher_cursor (name, last_event_id) VALUES ('usage_change_events', 0)"
    )


def downgrade() -> None:
    op.drop_index("ix_ftps_retrievals_rep_finished", table_name="ftps_retrievals")
    op.drop_table("ftps_retrievals")
    op.drop_index("uq_ftps_rep_keys_rep_fingerprint", table_name="ftps_rep_keys")
    op.drop_index(
        "uq_ftps_rep_keys_one_active",
        table_name="ftps_rep_keys",
        postgresql_where=sa.text("status = 'active'"),
    )
    op.drop_table("ftps_rep_keys")
    op.drop_table("ftps_publisher_cursor")
    op.drop_index("uq_ftps_published_files_name", table_name="ftps_published_files")
    op.drop_index("ix_ftps_published_files_rep_placed", table_name="ftps_published_files")
    op.drop_index("ix_ftps_published_files_rep_day", table_name="ftps_published_files")
    op.drop_index(
        "ix_ftps_published_files_live",
        table_name="ftps_published_files",
        postgresql_where=sa.text("purged_at IS NULL"),
    )
    op.drop_table("ftps_published_files")
    op.drop_table("ftps_handled_events")
    op.drop_index("ix_ftps_deliveries_day", table_name="ftps_deliveries")
    op.drop_table("ftps_deliveries")
    op.drop_table("ftps_accounts")
