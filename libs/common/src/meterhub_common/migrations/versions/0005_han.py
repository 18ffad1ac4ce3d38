"""Tables owned by the han service: devices, status history, messages, outbox.

Revision ID: 0005_han
Revises: 0004_ftps_publisher
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy import Text
from sqlalchemy.dialects import postgresql

revision: str = "0005_han"
down_revision: str | None = "0004_ftps_publisher"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies of the model's status lists: a migration must not change when the model does.
DEVICE_STATUSES = (
    "'Add Acknowledged', 'Add Failed', 'Add Pending', 'Add Rejected', 'Device Added',"
    " 'Device Removed', 'Meter Ready', 'Remove Acknowledged', 'Remove Failed', "
    "'Remove Pending', 'Remove Rejected'"
)
SLOT_STATUSES = (
    "'Add Acknowledged', 'Add Pending', 'Device Added', 'Meter Ready', 'Remove "
    "Acknowledged', 'Remove Failed', 'Remove Pending'"
)


def upgrade() -> None:
    # One sequence for every request and cancellation id (and Smart Energy event ids).
    op.execute("CREATE SEQUENCE han_request_id_seq")
    op.create_table(
        "han_devices",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("esiid", sa.String(length=64), nullable=False),
        sa.Column("meter_number", sa.String(length=64), nullable=False),
        sa.Column("tdsp_duns", sa.String(length=13), nullable=False),
        sa.Column("rep_duns", sa.String(length=13), nullable=False),
        sa.Column("mac_address", sa.String(length=16), nullable=False),
        sa.Column("install_code", sa.String(length=36), nullable=False),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("add_request_id", sa.String(length=16), nullable=False),
        sa.Column("remove_request_id", sa.String(length=16), nullable=True),
        sa.Column("status_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "install_code ~ '^([0-9A-F]{16}|[0-9A-F]{20}|[0-9A-F]{28}|[0-9A-F]{36})$'",
            name=op.f("ck_han_devices_install_code_format"),
        ),
        sa.CheckConstraint(
            "mac_address ~ '^[0-9A-F]{16}$'", name=op.f("ck_han_devices_mac_format")
        ),
        sa.CheckConstraint(
            f"status IN ({DEVICE_STATUSES})", name=op.f("ck_han_devices_status_known")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_han_devices")),
        sa.UniqueConstraint("add_request_id", name=op.f("uq_han_devices_add_request_id")),
        sa.UniqueConstraint("remove_request_id", name=op.f("uq_han_devices_remove_request_id")),
    )
    op.create_index("ix_han_devices_esiid", "han_devices", ["esiid"], unique=False)
    op.create_index(
        "ix_han_devices_mac_in_slot",
        "han_devices",
        ["mac_address"],
        unique=True,
        postgresql_where=sa.text(f"status IN ({SLOT_STATUSES})"),
    )
    op.create_index(
        "ix_han_devices_tdsp_duns_status", "han_devices", ["tdsp_duns", "status"], unique=False
    )
    op.create_table(
        "han_messages",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("reference_id", sa.String(length=16), nullable=False),
        sa.Column("target_reference_id", sa.String(length=16), nullable=True),
        sa.Column("category", sa.String(length=3), nullable=False),
        sa.Column("esiid", sa.String(length=64), nullable=False),
        sa.Column("meter_number", sa.String(length=64), nullable=False),
        sa.Column("tdsp_duns", sa.String(length=13), nullable=False),
        sa.Column("rep_duns", sa.String(length=13), nullable=False),
        sa.Column("se_id", sa.BigInteger(), nullable=False),
        sa.Column("payload", postgresql.JSONB(astext_type=Text()), nullable=False),
        sa.Column("status", sa.String(length=3), nullable=False),
        sa.Column("status_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "category IN ('CAL', 'CLE', 'CSM', 'LCE', 'PRM', 'STM')",
            name=op.f("ck_han_messages_category_known"),
        ),
        sa.CheckConstraint(
            "status IN ('ACK', 'CON', 'FLR', 'OPT', 'PEN', 'RQA', 'STR')",
            name=op.f("ck_han_messages_status_known"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_han_messages")),
        sa.UniqueConstraint("reference_id", name=op.f("uq_han_messages_reference_id")),
    )
    op.create_index("ix_han_messages_esiid", "han_messages", ["esiid", "created_at"], unique=False)
    op.create_index(
        "ix_han_messages_rep_duns_created_at",
        "han_messages",
        ["rep_duns", "created_at"],
        unique=False,
    )
    op.create_index(
        "ix_han_messages_target_reference_id", "han_messages", ["target_reference_id"], unique=False
    )
    op.create_table(
        "han_outbox",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("idempotency_key", sa.String(length=16), nullable=False),
        sa.Column("tdsp_duns", sa.String(length=13), nullable=False),
        sa.Column("esiid", sa.String(length=64), nullable=False),
        sa.Column("operation", sa.String(length=16), nullable=False),
        sa.Column("payload", postgresql.JSONB(astext_type=Text()), nullable=False),
        sa.Column("state", sa.String(length=12), server_default="pending", nullable=False),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column(
            "next_attempt_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "operation IN ('AddDevice', 'CancelMessage', 'RemoveDevice', 'SendMessage')",
            name=op.f("ck_han_outbox_operation_known"),
        ),
        sa.CheckConstraint(
            "state IN ('delivered', 'pending', 'rejected')", name=op.f("ck_han_outbox_state_known")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_han_outbox")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_han_outbox_idempotency_key")),
    )
    op.create_index(
        "ix_han_outbox_due",
        "han_outbox",
        ["next_attempt_at"],
        unique=False,
        postgresql_where=sa.text("state = 'pending'"),
    )
    op.create_index(
        "ix_han_outbox_pending_esiid",
        "han_outbox",
        ["esiid", "id"],
        unique=False,
        postgresql_where=sa.text("state = 'pending'"),
    )
    op.create_table(
        "han_refused_reports",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("tdsp_duns", sa.String(length=13), nullable=False),
        sa.Column("reference_id", sa.String(length=16), nullable=False),
        sa.Column("device_mac", sa.String(length=16), nullable=True),
        sa.Column("reported_status", sa.Text(), nullable=False),
        sa.Column("current_status", sa.Text(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column(
            "received_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_han_refused_reports")),
    )
    op.create_index(
        "ix_han_refused_reports_tdsp_duns",
        "han_refused_reports",
        ["tdsp_duns", "received_at"],
        unique=False,
    )
    op.create_table(
        "han_device_history",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("device_id", sa.Uuid(), nullable=False),
        sa.Column("esiid", sa.String(length=64), nullable=False),
        sa.Column("mac_address", sa.String(length=16), nullable=False),
        sa.Column("request_id", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("reported_by", sa.String(length=8), nullable=False),
        sa.Column("status_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "recorded_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "reported_by IN ('meterhub', 'rep', 'tdsp')",
            name=op.f("ck_han_device_history_reporter_known"),
        ),
        sa.CheckConstraint(
            f"status IN ({DEVICE_STATUSES})", name=op.f("ck_han_device_history_status_known")
        ),
        sa.ForeignKeyConstraint(
            ["device_id"],
            ["han_devices.id"],
            name=op.f("fk_han_device_history_device_id_han_devices"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_han_device_history")),
    )
    op.create_index(
        "ix_han_device_history_device_id", "han_device_history", ["device_id", "id"], unique=False
    )
    op.create_index(
        "ix_han_device_history_esiid", "han_device_history", ["esiid", "id"], unique=False
    )
    op.create_table(
        "han_message_status_log",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("message_id", sa.BigInteger(), nullable=False),
        sa.Column("device_mac", sa.String(length=16), nullable=True),
        sa.Column("status_code", sa.String(length=3), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("reported_by", sa.String(length=8), nullable=False),
        sa.Column("status_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "recorded_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "reported_by IN ('meterhub', 'rep', 'tdsp')",
            name=op.f("ck_han_message_status_log_reporter_known"),
        ),
        sa.CheckConstraint(
            "status_code IN ('ACK', 'CON', 'FLR', 'OPT', 'PEN', 'RQA', 'STR')",
            name=op.f("ck_han_message_status_log_status_known"),
        ),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["han_messages.id"],
            name=op.f("fk_han_message_status_log_message_id_han_messages"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_han_message_status_log")),
    )
    op.create_index(
        "ix_han_message_status_log_message",
        "han_message_status_log",
        ["message_id", "device_mac", "id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_han_message_status_log_message", table_name="han_message_status_log")
    op.drop_table("han_message_status_log")
    op.drop_index("ix_han_device_history_esiid", table_name="han_device_history")
    op.drop_index("ix_han_device_history_device_id", table_name="han_device_history")
    op.drop_table("han_device_history")
    op.drop_index("ix_han_refused_reports_tdsp_duns", table_name="han_refused_reports")
    op.drop_table("han_refused_reports")
    op.drop_index(
        "ix_han_outbox_pending_esiid",
        table_name="han_outbox",
        postgresql_where=sa.text("state = 'pending'"),
    )
    op.drop_index(
        "ix_han_outbox_due", table_name="han_outbox", postgresql_where=sa.text("state = 'pending'")
    )
    op.drop_table("han_outbox")
    op.drop_index("ix_han_messages_target_reference_id", table_name="han_messages")
    op.drop_index("ix_han_messages_rep_duns_created_at", table_name="han_messages")
    op.drop_index("ix_han_messages_esiid", table_name="han_messages")
    op.drop_table("han_messages")
    op.drop_index("ix_han_devices_tdsp_duns_status", table_name="han_devices")
    op.drop_index(
        "ix_han_devices_mac_in_slot",
        table_name="han_devices",
        postgresql_where=sa.text(f"status IN ({SLOT_STATUSES})"),
    )
    op.drop_index("ix_han_devices_esiid", table_name="han_devices")
    op.drop_table("han_devices")
    op.execute("DROP SEQUENCE han_request_id_seq")
