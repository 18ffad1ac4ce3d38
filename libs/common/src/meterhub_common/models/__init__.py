"""ORM models, one module per owning service; only the owner writes its tables.

Importing this package registers every table on ``Base.metadata`` (Alembic needs all of them).
"""

from meterhub_common.models import ftps_publisher, han, ingest, notifier, usage_api
from meterhub_common.models.base import Base

__all__ = ["Base", "ftps_publisher", "han", "ingest", "notifier", "usage_api"]
