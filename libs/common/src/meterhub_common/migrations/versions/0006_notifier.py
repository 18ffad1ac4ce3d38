"""Tables owned by the notifier service.

Revision ID: 0006_notifier
Revises: 0005_han
"""

from collections.abc import Sequence

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision: str = "0006_notifier"
down_revision: str | None = "0005_han"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
