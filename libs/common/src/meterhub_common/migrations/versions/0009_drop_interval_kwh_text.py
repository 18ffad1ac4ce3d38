"""Ingest: no second, text copy of the interval values.

Revision 0008 added ``interval_reads.kwh_text`` for the FTPS publisher. Measured on the full
ingest benchmark (2.5M records), the ~575 more bytes a row made the load 20-35% slower
(I/O-bound: heap and WAL grow with every byte), more than publishing saved: ingest plus
publishing took longer. The publisher formats ``kwh`` again.

Revision ID: 0009_drop_interval_kwh_text
Revises: 0008_interval_kwh_text
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009_drop_interval_kwh_text"
down_revision: str | None = "0008_interval_kwh_text"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_column("interval_reads", "kwh_text")


def downgrade() -> None:
    op.add_column("interval_reads", sa.Column("kwh_text", sa.Text(), nullable=True))
