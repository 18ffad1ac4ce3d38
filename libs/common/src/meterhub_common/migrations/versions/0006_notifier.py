"""Tables owned by the notifier service.

Revision ID: 0006_notifier
Revises: 0005_han
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0006_notifier"
down_revision: str | None = "0005_han"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NOTICE_TYPES = (
    "'planned_outage', 'unplanned_outage', 'update', 'resolution', 'cancellation', 'general'"
)


def _created_at(name: str = "created_at") -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(
        name, sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
    )


def upgrade() -> None:
    op.create_table(
        "notice_threads",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("code", sa.String(length=16), nullable=False),
        sa.Column("audience_code", sa.String(length=1), nullable=False),
        sa.Column("first_date", sa.Date(), nullable=False),
        sa.Column("letter", sa.String(length=1), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("last_sequence", sa.SmallInteger(), nullable=False),
        sa.Column("reminder_due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reminder_sent_at", sa.DateTime(timezone=True), nullable=True),
        _created_at(),
        sa.CheckConstraint(
            "audience_code ~ '^[A-Z]$'", name=op.f("ck_notice_threads_audience_code_letter")
        ),
        sa.CheckConstraint("letter ~ '^[A-Z]$'", name=op.f("ck_notice_threads_letter_letter")),
        sa.CheckConstraint(f"kind IN ({NOTICE_TYPES})", name=op.f("ck_notice_threads_kind_known")),
        sa.CheckConstraint(
            "status IN ('open', 'resolved', 'cancelled')",
            name=op.f("ck_notice_threads_status_known"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notice_threads")),
        sa.UniqueConstraint("code", name=op.f("uq_notice_threads_code")),
        sa.UniqueConstraint(
            "audience_code",
            "first_date",
            "letter",
            name=op.f("uq_notice_threads_audience_code_first_date_letter"),
        ),
    )
    op.create_index(
        "ix_notice_threads_reminder_due",
        "notice_threads",
        ["reminder_due_at"],
        unique=False,
        postgresql_where=sa.text("reminder_sent_at IS NULL AND status = 'open'"),
    )
    op.create_table(
        "notices",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("notice_id", sa.String(length=16), nullable=False),
        sa.Column("thread_id", sa.Uuid(), nullable=False),
        sa.Column("sequence", sa.SmallInteger(), nullable=False),
        sa.Column("notice_type", sa.String(length=24), nullable=False),
        sa.Column("is_reminder", sa.Boolean(), nullable=False),
        sa.Column("notice_date", sa.Date(), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("issued_by", sa.String(length=64), nullable=False),
        sa.Column("short_description", sa.Text(), nullable=False),
        sa.Column("intended_audience", sa.Text(), nullable=False),
        sa.Column("affected_services", postgresql.ARRAY(sa.String(length=16)), nullable=False),
        sa.Column("days_affected", sa.Text(), nullable=False),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=True),
        sa.Column("window_end", sa.DateTime(timezone=True), nullable=True),
        sa.Column("long_description", sa.Text(), nullable=False),
        sa.Column("action_required", sa.Text(), nullable=True),
        sa.Column("additional_information", sa.Text(), nullable=True),
        sa.Column("contact", sa.Text(), nullable=False),
        sa.Column("listservs", postgresql.ARRAY(sa.String(length=64)), nullable=False),
        sa.Column("emergency", sa.Boolean(), nullable=False),
        sa.Column("cancels", sa.String(length=16), nullable=True),
        sa.CheckConstraint(f"notice_type IN ({NOTICE_TYPES})", name=op.f("ck_notices_type_known")),
        sa.CheckConstraint("sequence BETWEEN 1 AND 99", name=op.f("ck_notices_sequence_range")),
        sa.CheckConstraint(
            "window_end IS NULL OR window_start IS NULL OR window_end > window_start",
            name=op.f("ck_notices_window_ordered"),
        ),
        sa.ForeignKeyConstraint(
            ["thread_id"], ["notice_threads.id"], name=op.f("fk_notices_thread_id_notice_threads")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notices")),
        sa.UniqueConstraint("notice_id", name=op.f("uq_notices_notice_id")),
        sa.UniqueConstraint("thread_id", "sequence", name=op.f("uq_notices_thread_id_sequence")),
    )
    op.create_index("ix_notices_issued_at", "notices", ["issued_at"], unique=False)
    op.create_index(op.f("ix_notices_thread_id"), "notices", ["thread_id"], unique=False)
    op.create_table(
        "maintenance_windows",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("thread_id", sa.Uuid(), nullable=False),
        sa.Column("services", postgresql.ARRAY(sa.String(length=16)), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("emergency", sa.Boolean(), nullable=False),
        sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True),
        _created_at("updated_at"),
        sa.CheckConstraint(
            "ends_at > starts_at", name=op.f("ck_maintenance_windows_window_ordered")
        ),
        sa.ForeignKeyConstraint(
            ["thread_id"],
            ["notice_threads.id"],
            name=op.f("fk_maintenance_windows_thread_id_notice_threads"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_maintenance_windows")),
        sa.UniqueConstraint("thread_id", name=op.f("uq_maintenance_windows_thread_id")),
    )
    op.create_index(
        "ix_maintenance_windows_period",
        "maintenance_windows",
        ["starts_at", "ends_at"],
        unique=False,
    )
    op.create_table(
        "probe_minutes",
        sa.Column("service", sa.String(length=32), nullable=False),
        sa.Column("minute", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("probe_ok", sa.Boolean(), nullable=False),
        sa.Column("latency_ms", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        _created_at("recorded_at"),
        sa.CheckConstraint(
            "state IN ('up', 'down', 'maintenance')", name=op.f("ck_probe_minutes_state_known")
        ),
        sa.CheckConstraint(
            "date_trunc('minute', minute) = minute", name=op.f("ck_probe_minutes_whole_minute")
        ),
        sa.PrimaryKeyConstraint("service", "minute", name=op.f("pk_probe_minutes")),
    )
    op.create_table(
        "incidents",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("service", sa.String(length=32), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("thread_id", sa.Uuid(), nullable=True),
        sa.ForeignKeyConstraint(
            ["thread_id"], ["notice_threads.id"], name=op.f("fk_incidents_thread_id_notice_threads")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incidents")),
    )
    op.create_index(
        "ix_incidents_one_open_per_service",
        "incidents",
        ["service"],
        unique=True,
        postgresql_where=sa.text("closed_at IS NULL"),
    )
    op.create_index("ix_incidents_started_at", "incidents", ["started_at"], unique=False)
    op.create_table(
        "notice_outbox",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("notice_pk", sa.Uuid(), nullable=False),
        sa.Column("listserv", sa.String(length=64), nullable=False),
        sa.Column("recipient", sa.Text(), nullable=False),
        sa.Column("message_id", sa.Text(), nullable=False),
        sa.Column("message", sa.LargeBinary(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        _created_at(),
        sa.CheckConstraint(
            "status IN ('pending', 'sending', 'sent', 'failed', 'unknown')",
            name=op.f("ck_notice_outbox_status_known"),
        ),
        sa.ForeignKeyConstraint(
            ["notice_pk"], ["notices.id"], name=op.f("fk_notice_outbox_notice_pk_notices")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notice_outbox")),
        sa.UniqueConstraint(
            "notice_pk", "recipient", name=op.f("uq_notice_outbox_notice_pk_recipient")
        ),
    )
    op.create_index(
        "ix_notice_outbox_due",
        "notice_outbox",
        ["next_attempt_at"],
        unique=False,
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.create_index(op.f("ix_notice_outbox_notice_pk"), "notice_outbox", ["notice_pk"])
    op.create_table(
        "notice_outbox_attempts",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("mail_id", sa.Uuid(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=True),
        sa.Column("smtp_code", sa.SmallInteger(), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["mail_id"],
            ["notice_outbox.id"],
            name=op.f("fk_notice_outbox_attempts_mail_id_notice_outbox"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notice_outbox_attempts")),
    )
    op.create_index(
        op.f("ix_notice_outbox_attempts_mail_id"), "notice_outbox_attempts", ["mail_id"]
    )


def downgrade() -> None:
    op.drop_table("notice_outbox_attempts")
    op.drop_table("notice_outbox")
    op.drop_table("incidents")
    op.drop_table("probe_minutes")
    op.drop_table("maintenance_windows")
    op.drop_table("notices")
    op.drop_table("notice_threads")
