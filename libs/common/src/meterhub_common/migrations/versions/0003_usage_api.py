"""Tables owned by the usage-api service: access agreements, read audit, sign-in failures.

Revision ID: 0003_usage_api
Revises: 501e498da37d
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_usage_api"
down_revision: str | None = "501e498da37d"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "access_agreements",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("grantee_entity_id", sa.Uuid(), nullable=False),
        sa.Column("grantor_entity_id", sa.Uuid(), nullable=False),
        sa.Column("esiid", sa.String(length=64), nullable=False),
        sa.Column("meter_number", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("ends_on", sa.Date(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('pending', 'accepted', 'declined', 'expired', 'revoked')",
            name=op.f("ck_access_agreements_status_known"),
        ),
        sa.CheckConstraint("ends_on > starts_on", name=op.f("ck_access_agreements_period_ordered")),
        sa.CheckConstraint(
            "esiid ~ '^[A-Za-z0-9]{1,64}$'", name=op.f("ck_access_agreements_esiid_format")
        ),
        sa.ForeignKeyConstraint(
            ["grantee_entity_id"],
            ["entities.id"],
            name=op.f("fk_access_agreements_grantee_entity_id_entities"),
        ),
        sa.ForeignKeyConstraint(
            ["grantor_entity_id"],
            ["entities.id"],
            name=op.f("fk_access_agreements_grantor_entity_id_entities"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_access_agreements")),
    )
    op.create_index(
        "ix_access_agreements_grantee_esiid",
        "access_agreements",
        ["grantee_entity_id", "esiid"],
        unique=False,
    )
    op.create_index(
        "ix_access_agreements_grantor", "access_agreements", ["grantor_entity_id"], unique=False
    )
    op.create_index("ix_access_agreements_esiid", "access_agreements", ["esiid"], unique=False)

    op.execute(sa.schema.CreateSequence(sa.Sequence("read_audit_id_seq")))
    op.create_table(
        "read_audit",
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "id",
            sa.BigInteger(),
            server_default=sa.text("nextval('read_audit_id_seq'::regclass)"),
            nullable=False,
        ),
        sa.Column("entity_id", sa.Uuid(), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("client_id", sa.Text(), nullable=False),
        sa.Column("endpoint", sa.Text(), nullable=False),
        sa.Column("esiid", sa.String(length=64), nullable=True),
        sa.Column("range_start", sa.Date(), nullable=True),
        sa.Column("range_end", sa.Date(), nullable=True),
        sa.Column("row_count", sa.Integer(), nullable=False),
        sa.Column("status_code", sa.SmallInteger(), nullable=False),
        sa.Column("request_id", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("occurred_at", "id", name=op.f("pk_read_audit")),
        postgresql_partition_by="RANGE (occurred_at)",
    )
    op.execute("ALTER SEQUENCE read_audit_id_seq OWNED BY read_audit.id")
    op.create_index(
        "ix_read_audit_esiid_occurred", "read_audit", ["esiid", "occurred_at"], unique=False
    )
    op.create_index(
        "ix_read_audit_entity_occurred", "read_audit", ["entity_id", "occurred_at"], unique=False
    )

    op.create_table(
        "token_failures",
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("window_started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_failure_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("subject", name=op.f("pk_token_failures")),
    )
    op.create_index(
        "ix_token_failures_last_failure_at", "token_failures", ["last_failure_at"], unique=False
    )

    # ---- agreements' lifecycle, ad-hoc reports, on-demand reads (agreements/, reports/,
    # odr/): this block and the matching one at the start of downgrade() ------------------
    op.create_table(
        "agreement_requests",
        sa.Column("agreement_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("requested_by_entity_id", sa.Uuid(), nullable=False),
        sa.Column("requested_by_client_id", sa.Text(), nullable=False),
        sa.Column("decider_entity_id", sa.Uuid(), nullable=False),
        sa.Column("term_months", sa.SmallInteger(), nullable=False),
        sa.Column("invitee_login", sa.Text(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "kind IN ('data_sharing', 'friend')", name=op.f("ck_agreement_requests_kind_known")
        ),
        sa.CheckConstraint(
            "term_months IN (1, 3, 6, 9, 12, 24, 36)", name=op.f("ck_agreement_requests_term_known")
        ),
        sa.ForeignKeyConstraint(
            ["agreement_id"],
            ["access_agreements.id"],
            name=op.f("fk_agreement_requests_agreement_id_access_agreements"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["decider_entity_id"],
            ["entities.id"],
            name=op.f("fk_agreement_requests_decider_entity_id_entities"),
        ),
        sa.ForeignKeyConstraint(
            ["requested_by_entity_id"],
            ["entities.id"],
            name=op.f("fk_agreement_requests_requested_by_entity_id_entities"),
        ),
        sa.PrimaryKeyConstraint("agreement_id", name=op.f("pk_agreement_requests")),
    )
    op.create_index(
        "ix_agreement_requests_decider", "agreement_requests", ["decider_entity_id"], unique=False
    )
    op.create_index(
        "ix_agreement_requests_requested_by",
        "agreement_requests",
        ["requested_by_entity_id"],
        unique=False,
    )

    op.create_table(
        "agreement_events",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("agreement_id", sa.Uuid(), nullable=False),
        sa.Column("from_status", sa.String(length=16), nullable=True),
        sa.Column("to_status", sa.String(length=16), nullable=False),
        sa.Column("actor_entity_id", sa.Uuid(), nullable=True),
        sa.Column("actor_role", sa.String(length=16), nullable=True),
        sa.Column("actor_client_id", sa.Text(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column(
            "occurred_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["agreement_id"],
            ["access_agreements.id"],
            name=op.f("fk_agreement_events_agreement_id_access_agreements"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agreement_events")),
    )
    op.create_index(
        "ix_agreement_events_agreement", "agreement_events", ["agreement_id", "id"], unique=False
    )

    op.create_table(
        "agreement_mails",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("agreement_id", sa.Uuid(), nullable=False),
        sa.Column("purpose", sa.String(length=16), nullable=False),
        sa.Column("recipient", sa.Text(), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column(
            "status", sa.String(length=16), server_default=sa.text("'pending'"), nullable=False
        ),
        sa.Column("attempts", sa.SmallInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column(
            "next_attempt_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "purpose IN ('request', 'invitation', 'decision', 'revocation')",
            name=op.f("ck_agreement_mails_purpose_known"),
        ),
        sa.CheckConstraint(
            "status IN ('pending', 'sent', 'failed')", name=op.f("ck_agreement_mails_status_known")
        ),
        sa.ForeignKeyConstraint(
            ["agreement_id"],
            ["access_agreements.id"],
            name=op.f("fk_agreement_mails_agreement_id_access_agreements"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agreement_mails")),
    )
    op.create_index(
        "ix_agreement_mails_agreement", "agreement_mails", ["agreement_id"], unique=False
    )
    op.create_index(
        "ix_agreement_mails_due",
        "agreement_mails",
        ["next_attempt_at"],
        unique=False,
        postgresql_where=sa.text("status = 'pending'"),
    )

    op.create_table(
        "report_requests",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("requester_entity_id", sa.Uuid(), nullable=False),
        sa.Column("requester_role", sa.String(length=16), nullable=False),
        sa.Column("requester_duns", sa.String(length=13), nullable=False),
        sa.Column("client_id", sa.Text(), nullable=False),
        sa.Column("report_type", sa.String(length=16), nullable=False),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("end_date", sa.Date(), nullable=False),
        sa.Column("versions", sa.String(length=8), nullable=False),
        sa.Column("file_format", sa.String(length=8), nullable=False),
        sa.Column(
            "status", sa.String(length=16), server_default=sa.text("'queued'"), nullable=False
        ),
        sa.Column("esiid_count", sa.Integer(), nullable=False),
        sa.Column("included_count", sa.Integer(), nullable=True),
        sa.Column("excluded_count", sa.Integer(), nullable=True),
        sa.Column("record_count", sa.BigInteger(), nullable=True),
        sa.Column("chunk_count", sa.Integer(), nullable=True),
        sa.Column("attempts", sa.SmallInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("worker", sa.Text(), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "not_before",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("scoped_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("end_date >= start_date", name=op.f("ck_report_requests_range_ordered")),
        sa.CheckConstraint(
            "file_format IN ('csv', 'lse')", name=op.f("ck_report_requests_format_known")
        ),
        sa.CheckConstraint(
            "report_type IN ('interval', 'daily', 'monthly')",
            name=op.f("ck_report_requests_type_known"),
        ),
        sa.CheckConstraint(
            "status IN ('queued', 'running', 'completed', 'failed')",
            name=op.f("ck_report_requests_status_known"),
        ),
        sa.CheckConstraint(
            "versions IN ('latest', 'all')", name=op.f("ck_report_requests_versions_known")
        ),
        sa.ForeignKeyConstraint(
            ["requester_entity_id"],
            ["entities.id"],
            name=op.f("fk_report_requests_requester_entity_id_entities"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_report_requests")),
    )
    op.create_index(
        "ix_report_requests_open",
        "report_requests",
        ["created_at"],
        unique=False,
        postgresql_where=sa.text("status IN ('queued', 'running')"),
    )
    op.create_index(
        "ix_report_requests_requester",
        "report_requests",
        ["requester_entity_id", "created_at"],
        unique=False,
    )

    op.create_table(
        "report_esiids",
        sa.Column("report_id", sa.Uuid(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("esiid", sa.String(length=64), nullable=False),
        sa.Column("included", sa.Boolean(), nullable=True),
        sa.ForeignKeyConstraint(
            ["report_id"],
            ["report_requests.id"],
            name=op.f("fk_report_esiids_report_id_report_requests"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("report_id", "position", name=op.f("pk_report_esiids")),
    )

    op.create_table(
        "report_chunks",
        sa.Column("report_id", sa.Uuid(), nullable=False),
        sa.Column("chunk_no", sa.Integer(), nullable=False),
        sa.Column("first_position", sa.Integer(), nullable=False),
        sa.Column("last_position", sa.Integer(), nullable=False),
        sa.Column("record_count", sa.BigInteger(), nullable=True),
        sa.Column("byte_count", sa.BigInteger(), nullable=True),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "last_position > first_position", name=op.f("ck_report_chunks_range_ordered")
        ),
        sa.ForeignKeyConstraint(
            ["report_id"],
            ["report_requests.id"],
            name=op.f("fk_report_chunks_report_id_report_requests"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("report_id", "chunk_no", name=op.f("pk_report_chunks")),
    )

    op.create_table(
        "report_files",
        sa.Column("report_id", sa.Uuid(), nullable=False),
        sa.Column("file_no", sa.Integer(), nullable=False),
        sa.Column("file_name", sa.Text(), nullable=False),
        sa.Column("chunk_nos", sa.ARRAY(sa.Integer()), nullable=False),
        sa.Column("record_count", sa.BigInteger(), nullable=False),
        sa.Column("byte_count", sa.BigInteger(), nullable=False),
        sa.Column("placed_name", sa.Text(), nullable=True),
        sa.Column("delivery_ref", sa.Text(), nullable=True),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["report_id"],
            ["report_requests.id"],
            name=op.f("fk_report_files_report_id_report_requests"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("report_id", "file_no", name=op.f("pk_report_files")),
    )

    op.create_table(
        "odr_requests",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("esiid", sa.String(length=64), nullable=False),
        sa.Column("meter_number", sa.String(length=64), nullable=False),
        sa.Column("tdsp_duns", sa.String(length=13), nullable=False),
        sa.Column("requester_entity_id", sa.Uuid(), nullable=False),
        sa.Column("requester_role", sa.String(length=16), nullable=False),
        sa.Column("client_id", sa.Text(), nullable=False),
        sa.Column(
            "status", sa.String(length=16), server_default=sa.text("'PENDING'"), nullable=False
        ),
        sa.Column("register_kwh", sa.Numeric(), nullable=True),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("failure_reason", sa.Text(), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('PENDING', 'COMPLETED', 'FAILED')",
            name=op.f("ck_odr_requests_status_known"),
        ),
        sa.ForeignKeyConstraint(
            ["requester_entity_id"],
            ["entities.id"],
            name=op.f("fk_odr_requests_requester_entity_id_entities"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_odr_requests")),
    )
    op.create_index("ix_odr_requests_esiid", "odr_requests", ["esiid", "created_at"], unique=False)
    op.create_index(
        "ix_odr_requests_requester_esiid",
        "odr_requests",
        ["requester_entity_id", "esiid", "created_at"],
        unique=False,
    )

    op.create_table(
        "odr_daily_counts",
        sa.Column("tdsp_duns", sa.String(length=13), nullable=False),
        sa.Column("operating_day", sa.Date(), nullable=False),
        sa.Column("request_count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("tdsp_duns", "operating_day", name=op.f("pk_odr_daily_counts")),
    )


def downgrade() -> None:
    # ---- agreements' lifecycle, ad-hoc reports, on-demand reads (see the end of upgrade) --
    op.drop_table("odr_daily_counts")
    op.drop_index("ix_odr_requests_requester_esiid", table_name="odr_requests")
    op.drop_index("ix_odr_requests_esiid", table_name="odr_requests")
    op.drop_table("odr_requests")
    op.drop_table("report_files")
    op.drop_table("report_chunks")
    op.drop_table("report_esiids")
    op.drop_index("ix_report_requests_requester", table_name="report_requests")
    op.drop_index("ix_report_requests_open", table_name="report_requests")
    op.drop_table("report_requests")
    op.drop_index("ix_agreement_mails_due", table_name="agreement_mails")
    op.drop_index("ix_agreement_mails_agreement", table_name="agreement_mails")
    op.drop_table("agreement_mails")
    op.drop_index("ix_agreement_events_agreement", table_name="agreement_events")
    op.drop_table("agreement_events")
    op.drop_index("ix_agreement_requests_requested_by", table_name="agreement_requests")
    op.drop_index("ix_agreement_requests_decider", table_name="agreement_requests")
    op.drop_table("agreement_requests")
    # ---- end of the agreements/reports/odr block ------------------------------------------

    op.drop_index("ix_token_failures_last_failure_at", table_name="token_failures")
    op.drop_table("token_failures")
    op.drop_index("ix_read_audit_entity_occurred", table_name="read_audit")
    op.drop_index("ix_read_audit_esiid_occurred", table_name="read_audit")
    # Dropping the table drops its monthly partitions and the sequence it owns.
    op.drop_table("read_audit")
    op.drop_index("ix_access_agreements_esiid", table_name="access_agreements")
    op.drop_index("ix_access_agreements_grantor", table_name="access_agreements")
    op.drop_index("ix_access_agreements_grantee_esiid", table_name="access_agreements")
    op.drop_table("access_agreements")
