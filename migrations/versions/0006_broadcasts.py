"""broadcasts, poll answers, contact opt-in, outbox broadcast columns

Revision ID: 0006
Revises: 0003
Create Date: 2026-11-26
"""
import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'broadcast',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('unit_id', sa.Integer(), nullable=False),
        sa.Column('author_id', sa.Integer(), nullable=True),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('topic', sa.String(length=64), nullable=True),
        sa.Column('text', sa.Text(), nullable=False),
        sa.Column('variants', sa.Text(), nullable=False),
        sa.Column('variants_approved', sa.Text(), nullable=False, server_default='{}'),
        sa.Column('audience', sa.Text(), nullable=False),
        sa.Column('send_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('status', sa.String(length=20), nullable=False),
        sa.Column('approver_id', sa.Integer(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('approved_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('recipients', sa.Integer(), nullable=False),
        sa.Column('progress_address', sa.String(length=128), nullable=True),
        sa.Column('progress_message_id', sa.String(length=40), nullable=True),
        sa.ForeignKeyConstraint(['unit_id'], ['unit.id']),
        sa.ForeignKeyConstraint(['author_id'], ['officer.id']),
        sa.ForeignKeyConstraint(['approver_id'], ['officer.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_table(
        'poll_answer',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('broadcast_id', sa.Integer(), nullable=False),
        sa.Column('contact_pseudonym', sa.String(length=64), nullable=False),
        sa.Column('unit_id', sa.Integer(), nullable=True),
        sa.Column('commune_code', sa.String(length=8), nullable=True),
        sa.Column('answer', sa.String(length=16), nullable=False),
        sa.Column('at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['broadcast_id'], ['broadcast.id']),
        sa.ForeignKeyConstraint(['unit_id'], ['unit.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('broadcast_id', 'contact_pseudonym', name='uq_poll_answer'),
    )
    with op.batch_alter_table('contact') as batch:
        batch.add_column(sa.Column('subscribed', sa.Boolean(), nullable=False,
                                   server_default=sa.false()))
    with op.batch_alter_table('outbox') as batch:
        batch.add_column(sa.Column('broadcast_id', sa.Integer(), nullable=True))
        batch.add_column(sa.Column('external_message_id', sa.String(length=40), nullable=True))
        batch.add_column(sa.Column('retracted_at', sa.DateTime(timezone=True), nullable=True))
        batch.create_foreign_key('fk_outbox_broadcast', 'broadcast', ['broadcast_id'], ['id'])
        batch.create_unique_constraint('uq_outbox_broadcast_contact',
                                       ['broadcast_id', 'contact_id'])
        batch.create_index('ix_outbox_lane_due', ['channel', 'lane', 'status', 'not_before'])
        batch.create_index('ix_outbox_broadcast', ['broadcast_id', 'status'])
    op.create_index('ix_contact_audience', 'contact', ['subscribed', 'status', 'channel'])


def downgrade() -> None:
    op.drop_index('ix_contact_audience', table_name='contact')
    with op.batch_alter_table('outbox') as batch:
        batch.drop_index('ix_outbox_broadcast')
        batch.drop_index('ix_outbox_lane_due')
        batch.drop_constraint('uq_outbox_broadcast_contact', type_='unique')
        batch.drop_constraint('fk_outbox_broadcast', type_='foreignkey')
        batch.drop_column('retracted_at')
        batch.drop_column('external_message_id')
        batch.drop_column('broadcast_id')
    with op.batch_alter_table('contact') as batch:
        batch.drop_column('subscribed')
    op.drop_table('poll_answer')
    op.drop_table('broadcast')
