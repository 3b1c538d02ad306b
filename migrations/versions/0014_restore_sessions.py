"""officer removal; sessions and login links invalidated on restore

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-02
"""
import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Officers are removed by deactivation (their past actions stay in the audit log); when
    # and by whom is kept on the row. Restores need no schema: they delete admin_session rows.
    with op.batch_alter_table("officer") as batch:
        batch.add_column(sa.Column("removed_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("removed_by", sa.String(length=80), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("officer") as batch:
        batch.drop_column("removed_by")
        batch.drop_column("removed_at")
