"""tdsp files and versioned usage

Revision ID: 501e498da37d
Revises: bcac46d3a68b
Create Date: 2026-11-23 10:45:49.219174
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "501e498da37d"
down_revision: str | None = "bcac46d3a68b"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ENSURE_PARTITIONS = """
CREATE OR REPLACE FUNCTION meterhub_ensure_month_partitions(
    parent regclass, first_day date, last_day date
) RETURNS void LANGUAGE plpgsql AS $$
-- Monthly range partitions of a table partitioned by a date column, created on demand by
-- the loader before it writes, and dropped whole by retention.
DECLARE
    month date := date_trunc('month', first_day)::date;
    name text;
BEGIN
    WHILE month <= last_day LOOP
        name := format('%s_p%s', parent::text, to_char(month, 'YYYY_MM'));
        IF to_regclass(name) IS NULL THEN
            EXECUTE format(
                'CREATE TABLE IF NOT EXISTS %I PARTITION OF %s FOR VALUES FROM (%L) TO (%L)',
                name, parent::text, month, (month + interval '1 month')::date
            );
        END IF;
        month := (month + interval '1 month')::date;
    END LOOP;
END;
$$;
"""


def upgrade() -> None:
    op.create_table(
        "daily_reads",
        sa.Column("esiid", sa.String(length=64), nullable=False),
        sa.Column("meter_number", sa.String(length=64), nullable=False),
        sa.Column("read_date", sa.Date(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("is_current", sa.Boolean(), nullable=False),
        sa.Column("start_reading", sa.Numeric(precision=14, scale=4), nullable=False),
        sa.Column("end_reading", sa.Numeric(precision=14, scale=4), nullable=False),
        sa.Column("kwh", sa.Numeric(precision=14, scale=4), nullable=False),
        sa.Column("record_created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revision_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("superseded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("source_file_id", sa.Uuid(), nullable=False),
        sa.PrimaryKeyConstraint(
            "esiid", "meter_number", "read_date", "version", name=op.f("pk_daily_reads")
        ),
    )
    op.create_index(
        "ix_daily_reads_current",
        "daily_reads",
        ["esiid", "meter_number", "read_date"],
        unique=True,
        postgresql_where=sa.text("is_current"),
    )
    op.create_table(
        "interval_reads",
        sa.Column("esiid", sa.String(length=64), nullable=False),
        sa.Column("channel", sa.SmallInteger(), nullable=False),
        sa.Column("operating_day", sa.Date(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("is_current", sa.Boolean(), nullable=False),
        sa.Column("interval_count", sa.SmallInteger(), nullable=False),
        sa.Column("kwh", postgresql.ARRAY(sa.Numeric()), nullable=False),
        sa.Column("statuses", sa.Text(), nullable=False),
        sa.Column("record_created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revision_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("superseded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("source_file_id", sa.Uuid(), nullable=False),
        sa.Column("transaction_id", sa.Text(), nullable=False),
        sa.CheckConstraint("channel IN (1, 4)", name=op.f("ck_interval_reads_channel_known")),
        sa.CheckConstraint(
            "interval_count IN (92, 96, 100)", name=op.f("ck_interval_reads_interval_count_known")
        ),
        sa.PrimaryKeyConstraint(
            "esiid", "channel", "operating_day", "version", name=op.f("pk_interval_reads")
        ),
        postgresql_partition_by="RANGE (operating_day)",
    )
    op.create_index(
        "ix_interval_reads_current",
        "interval_reads",
        ["esiid", "channel", "operating_day"],
        unique=True,
        postgresql_where=sa.text("is_current"),
    )
    op.create_table(
        "monthly_usage",
        sa.Column("esiid", sa.String(length=64), nullable=False),
        sa.Column("meter_number", sa.String(length=64), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("period_end", sa.Date(), nullable=False),
        sa.Column("is_current", sa.Boolean(), nullable=False),
        sa.Column("kwh", sa.Numeric(precision=14, scale=4), nullable=False),
        sa.Column("demand_kw", sa.Numeric(precision=14, scale=4), nullable=True),
        sa.Column("record_created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revision_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("superseded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("source_file_id", sa.Uuid(), nullable=False),
        sa.CheckConstraint(
            "period_end > period_start", name=op.f("ck_monthly_usage_period_ordered")
        ),
        sa.PrimaryKeyConstraint(
            "esiid", "meter_number", "period_start", "version", name=op.f("pk_monthly_usage")
        ),
    )
    op.create_index(
        "ix_monthly_usage_current",
        "monthly_usage",
        ["esiid", "meter_number", "period_start"],
        unique=True,
        postgresql_where=sa.text("is_current"),
    )
    op.create_table(
        "tdsp_files",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("sender_duns", sa.String(length=13), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("filename", sa.Text(), nullable=True),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("encrypted", sa.Boolean(), nullable=False),
        sa.Column("via", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("records_total", sa.Integer(), nullable=True),
        sa.Column("records_loaded", sa.Integer(), nullable=True),
        sa.Column("records_rejected", sa.Integer(), nullable=True),
        sa.Column("records_unchanged", sa.Integer(), nullable=True),
        sa.Column("error_code", sa.String(length=8), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column(
            "received_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "kind IN ('lse', 'meter-sync', 'register-reads', 'monthly-usage')",
            name=op.f("ck_tdsp_files_kind_known"),
        ),
        sa.CheckConstraint(
            "status IN ('received', 'processing', 'loaded', 'partially loaded', 'rejected')",
            name=op.f("ck_tdsp_files_status_known"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tdsp_files")),
        sa.UniqueConstraint("sender_duns", "sha256", name=op.f("uq_tdsp_files_sender_duns_sha256")),
    )
    op.create_index(
        "ix_tdsp_files_pending",
        "tdsp_files",
        ["received_at"],
        unique=False,
        postgresql_where=sa.text("status IN ('received', 'processing')"),
    )
    op.create_index(
        "ix_tdsp_files_sender_received", "tdsp_files", ["sender_duns", "received_at"], unique=False
    )
    op.create_table(
        "tdsp_file_blobs",
        sa.Column("file_id", sa.Uuid(), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["file_id"],
            ["tdsp_files.id"],
            name=op.f("fk_tdsp_file_blobs_file_id_tdsp_files"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("file_id", name=op.f("pk_tdsp_file_blobs")),
    )
    op.create_table(
        "tdsp_file_results",
        sa.Column("file_id", sa.Uuid(), nullable=False),
        sa.Column("line", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=4), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("esiid", sa.String(length=64), nullable=True),
        sa.Column("channel", sa.SmallInteger(), nullable=True),
        sa.Column("operating_day", sa.Date(), nullable=True),
        sa.ForeignKeyConstraint(
            ["file_id"],
            ["tdsp_files.id"],
            name=op.f("fk_tdsp_file_results_file_id_tdsp_files"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("file_id", "line", name=op.f("pk_tdsp_file_results")),
    )
    op.create_table(
        "usage_change_events",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("file_id", sa.Uuid(), nullable=False),
        sa.Column("rep_duns", sa.String(length=13), nullable=False),
        sa.Column("operating_day", sa.Date(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("supplemental", sa.Boolean(), nullable=False),
        sa.Column("esiid_count", sa.Integer(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["file_id"], ["tdsp_files.id"], name=op.f("fk_usage_change_events_file_id_tdsp_files")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_usage_change_events")),
    )
    op.execute(ENSURE_PARTITIONS)


def downgrade() -> None:
    op.execute("DROP FUNCTION IF EXISTS meterhub_ensure_month_partitions(regclass, date, date)")
    op.drop_table("usage_change_events")
    op.drop_table("tdsp_file_results")
    op.drop_table("tdsp_file_blobs")
    op.drop_index("ix_tdsp_files_sender_received", table_name="tdsp_files")
    op.drop_index(
        "ix_tdsp_files_pending",
        table_name="tdsp_files",
        postgresql_where=sa.text("status IN ('received', 'processing')"),
    )
    op.drop_table("tdsp_files")
    op.drop_index(
        "ix_monthly_usage_current",
        table_name="monthly_usage",
        postgresql_where=sa.text("is_current"),
    )
    op.drop_table("monthly_usage")
    op.drop_index(
        "ix_interval_reads_current",
        table_name="interval_reads",
        postgresql_where=sa.text("is_current"),
    )
    op.drop_table("interval_reads")
    op.drop_index(
        "ix_daily_reads_current", table_name="daily_reads", postgresql_where=sa.text("is_current")
    )
    op.drop_table("daily_reads")
