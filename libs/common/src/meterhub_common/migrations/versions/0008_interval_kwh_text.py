"""Ingest: interval values also kept as the text they were loaded as.

The FTPS publisher prints every interval value of a day into the REPs' files (240M values for
2.5M records), and PostgreSQL's numeric output was more than half of its database time.
Ingest already holds each value as canonical decimal text, so it writes that text next to the
numeric array at no parsing cost. Nullable with no backfill: rows loaded before this revision
have NULL and readers fall back to formatting ``kwh``.

Revision ID: 0008_interval_kwh_text
Revises: 0007_ingest_extra
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_interval_kwh_text"
down_revision: str | None = "0007_ingest_extra"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A nullable column without a default is a catalog change only: no table rewrite.
    op.add_column("interval_reads", sa.Column("kwh_text", sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column("interval_reads", "kwh_text")
