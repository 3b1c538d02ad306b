"""zalo: OA token pair with its refresh lease, and free-reply windows

Revision ID: 0005
Revises: 0001
Create Date: 2026-11-27
"""
import sqlalchemy as sa
from alembic import op


revision = '0005'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('zalo_token',
    sa.Column('app_id', sa.String(length=32), nullable=False),
    sa.Column('access_token', sa.Text(), nullable=True),
    sa.Column('refresh_token', sa.Text(), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('seed_hash', sa.String(length=64), nullable=False),
    sa.Column('lease_owner', sa.String(length=32), nullable=True),
    sa.Column('lease_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('refreshed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('refresh_count', sa.Integer(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('app_id')
    )
    op.create_table('zalo_window',
    sa.Column('pseudonym', sa.String(length=64), nullable=False),
    sa.Column('opened_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('used', sa.Integer(), nullable=False),
    sa.Column('paid', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('pseudonym')
    )


def downgrade() -> None:
    op.drop_table('zalo_window')
    op.drop_table('zalo_token')
