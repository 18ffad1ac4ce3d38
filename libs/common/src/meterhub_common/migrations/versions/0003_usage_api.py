"""Tables owned by the usage-api service.

Revision ID: 0003_usage_api
Revises: 501e498da37d
"""

from collections.abc import Sequence

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision: str = "0003_usage_api"
down_revision: str | None = "501e498da37d"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
