"""Tables owned by the ftps-publisher service.

Revision ID: 0004_ftps_publisher
Revises: 0003_usage_api
"""

from collections.abc import Sequence

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision: str = "0004_ftps_publisher"
down_revision: str | None = "0003_usage_api"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
