"""merge the feature branches of the migration tree into one head

The features were built in parallel, each migration starting from the revision it needed;
from here on the tree has one head, so `alembic upgrade head` works as well as `heads`.

Revision ID: 0011
Revises: 0002, 0004, 0005, 0007, 0008, 0009, 0010
Create Date: 2026-12-02
"""

revision = '0011'
down_revision = ('0002', '0004', '0005', '0007', '0008', '0009', '0010')
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
