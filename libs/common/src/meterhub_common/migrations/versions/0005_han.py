"""Tables owned by the han service.

Revision ID: 0005_han
Revises: 0004_ftps_publisher
"""

from collections.abc import Sequence

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision: str = "0005_han"
down_revision: str | None = "0004_ftps_publisher"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
