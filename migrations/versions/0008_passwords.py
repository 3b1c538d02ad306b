"""officer password login: login name, argon2id hash, login throttle (lockout)

Revision ID: 0008
Revises: 0003
Create Date: 2026-11-28
"""
import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMN (nullable) and a unique index: no table rebuild on SQLite, so the many
    # foreign keys that point at officer are left alone.
    op.add_column('officer', sa.Column('login_name', sa.String(length=40), nullable=True))
    op.add_column('officer', sa.Column('password_hash', sa.String(length=255), nullable=True))
    op.add_column('officer', sa.Column('password_changed_at', sa.DateTime(timezone=True),
                                       nullable=True))
    op.create_index('uq_officer_login_name', 'officer', ['login_name'], unique=True)
    op.create_table(
        'login_throttle',
        sa.Column('key', sa.String(length=80), nullable=False),
        sa.Column('failures', sa.Integer(), nullable=False),
        sa.Column('window_start', sa.DateTime(timezone=True), nullable=False),
        sa.Column('locked_until', sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('key'),
    )
    op.create_index('ix_login_throttle_window', 'login_throttle', ['window_start'])


def downgrade() -> None:
    op.drop_index('ix_login_throttle_window', table_name='login_throttle')
    op.drop_table('login_throttle')
    op.drop_index('uq_officer_login_name', table_name='officer')
    with op.batch_alter_table('officer') as batch:
        batch.drop_column('password_changed_at')
        batch.drop_column('password_hash')
        batch.drop_column('login_name')
