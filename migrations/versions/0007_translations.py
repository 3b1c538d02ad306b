"""translation reviews, voice clips, run.served_language

Revision ID: 0007
Revises: 0003
Create Date: 2026-11-27
"""
import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'translation_review',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('lang', sa.String(length=16), nullable=False),
        sa.Column('unit', sa.String(length=80), nullable=False),
        sa.Column('label', sa.String(length=200), nullable=False),
        sa.Column('decision', sa.String(length=12), nullable=False),
        sa.Column('target_hash', sa.String(length=64), nullable=False),
        sa.Column('source_hash', sa.String(length=64), nullable=False),
        sa.Column('note', sa.Text(), nullable=True),
        sa.Column('officer_id', sa.Integer(), nullable=True),
        sa.Column('reviewer', sa.String(length=120), nullable=False),
        sa.Column('organisation', sa.String(length=200), nullable=False),
        sa.Column('at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['officer_id'], ['officer.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_translation_review_unit', 'translation_review',
                    ['lang', 'unit', 'id'])
    op.create_table(
        'voice_clip',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('lang', sa.String(length=16), nullable=False),
        sa.Column('topic', sa.String(length=64), nullable=False),
        sa.Column('path', sa.String(length=200), nullable=False),
        sa.Column('sha256', sa.String(length=64), nullable=False),
        sa.Column('size', sa.Integer(), nullable=False),
        sa.Column('duration_s', sa.Float(), nullable=False),
        sa.Column('speaker', sa.String(length=120), nullable=False),
        sa.Column('editor', sa.String(length=120), nullable=False),
        sa.Column('recorded', sa.Date(), nullable=False),
        sa.Column('licence', sa.String(length=200), nullable=False),
        sa.Column('source_hash', sa.String(length=64), nullable=False),
        sa.Column('uploaded_by', sa.Integer(), nullable=True),
        sa.Column('uploaded_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['uploaded_by'], ['officer.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_voice_clip_topic', 'voice_clip', ['lang', 'topic', 'id'])
    # Which language each answer was really served in (fallbacks to Vietnamese counted).
    with op.batch_alter_table('run') as batch:
        batch.add_column(sa.Column('served_language', sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('run') as batch:
        batch.drop_column('served_language')
    op.drop_index('ix_voice_clip_topic', table_name='voice_clip')
    op.drop_table('voice_clip')
    op.drop_index('ix_translation_review_unit', table_name='translation_review')
    op.drop_table('translation_review')
