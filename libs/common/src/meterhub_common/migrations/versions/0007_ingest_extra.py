"""Ingest: activity-report lines without a per-row foreign key check.

A file's activity report has one row per record, 50,000 for a full LSE file, and checking the
foreign key to ``tdsp_files`` row by row cost as much as writing the rows. The lines are
written only by the transaction that loads their file, which holds that file's row lock, so
they cannot point at a missing file. Deleting a file still deletes its lines: a statement-level
trigger does what ``ON DELETE CASCADE`` did.

Revision ID: 0007_ingest_extra
Revises: 0006_notifier
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007_ingest_extra"
down_revision: str | None = "0006_notifier"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CASCADE_FUNCTION = """
CREATE FUNCTION meterhub_delete_file_results() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM tdsp_file_results r USING deleted_files d WHERE r.file_id = d.id;
    RETURN NULL;
END;
$$;
"""
CASCADE_TRIGGER = """
CREATE TRIGGER tdsp_files_delete_results
AFTER DELETE ON tdsp_files
REFERENCING OLD TABLE AS deleted_files
FOR EACH STATEMENT EXECUTE FUNCTION meterhub_delete_file_results();
"""


def upgrade() -> None:
    op.drop_constraint(
        "fk_tdsp_file_results_file_id_tdsp_files", "tdsp_file_results", type_="foreignkey"
    )
    op.execute(CASCADE_FUNCTION)
    op.execute(CASCADE_TRIGGER)


def downgrade() -> None:
    op.execute("DROP TRIGGER tdsp_files_delete_results ON tdsp_files")
    op.execute("DROP FUNCTION meterhub_delete_file_results()")
    op.execute(
        "DELETE FROM tdsp_file_results r WHERE NOT EXISTS "
        "(SELECT 1 FROM tdsp_files f WHERE f.id = r.file_id)"
    )
    op.create_foreign_key(
        "fk_tdsp_file_results_file_id_tdsp_files",
        "tdsp_file_results",
        "tdsp_files",
        ["file_id"],
        ["id"],
        ondelete="CASCADE",
    )
