"""Tables owned by the ingest (further tables) service.

Revision ID: 0007_ingest_extra
Revises: 0006_notifier
"""

from collections.abc import Sequence

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision: str = "0007_ingest_extra"
down_revision: str | None = "0006_notifier"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
