"""The single Alembic history for every service's tables."""
