"""inbox.contact_key: one contact's messages handled in order across processes

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-03
"""
import sqlalchemy as sa
from alembic import op

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Stamped by the handler on rows it leaves for later (bot/delivery/handler.py) and cleared
    # when a row is handled, so the partial index holds only the few rows waiting their turn.
    with op.batch_alter_table("inbox") as batch:
        batch.add_column(sa.Column("contact_key", sa.String(length=32), nullable=True))
    op.create_index("ix_inbox_contact", "inbox", ["contact_key"],
                    postgresql_where=sa.text("contact_key IS NOT NULL"),
                    sqlite_where=sa.text("contact_key IS NOT NULL"))


def downgrade() -> None:
    op.drop_index("ix_inbox_contact", table_name="inbox")
    with op.batch_alter_table("inbox") as batch:
        batch.drop_column("contact_key")
