"""Ingest: interval values stored as the text they were loaded as.

``interval_reads.kwh`` becomes ``text`` holding the array in PostgreSQL's literal form,
``{0.251,NULL,1.1}``: the canonical decimal texts of the LSE file (no trailing fractional
zeros), NULL for a missing interval. ``kwh::numeric[]`` gives the numbers exactly.

Why: every value is read as text far more often than it is summed (API reads, CSV and Green
Button, 240M values a day into the FTPS files), and ``numeric`` paid a parse on every load and
a format on every read: the bare COPY of a day was half numeric parsing, and numeric output
was a third of publishing. The text is also smaller (~575 against ~970 bytes a day-row).
Rows of earlier versions convert exactly: ingest gave numeric the canonical text, and numeric
prints what it was given.

Revision ID: 0010_interval_kwh_as_text
Revises: 0009_drop_interval_kwh_text
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0010_interval_kwh_as_text"
down_revision: str | None = "0009_drop_interval_kwh_text"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # numeric keeps the scale it was given and ingest gave it canonical text, so numeric's own
    # output is that text again. A cast per row, no function call per value: this rewrites
    # every partition, and a year of data is ~900M rows.
    op.execute("ALTER TABLE interval_reads ALTER COLUMN kwh TYPE text USING kwh::text")


def downgrade() -> None:
    op.execute("ALTER TABLE interval_reads ALTER COLUMN kwh TYPE numeric[] USING kwh::numeric[]")
