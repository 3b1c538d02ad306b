"""outreach: offline entries, submissions, amendments, reminders, chat dialog, run rollups

Revision ID: 0004
Revises: 0001
Depends on: 0003 (units and officers)
Create Date: 2026-11-27
"""
from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0001'
branch_labels = None
depends_on = ('0003',)


def upgrade() -> None:
    op.create_table('outreach_entry',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('unit_id', sa.Integer(), nullable=False),
    sa.Column('month', sa.String(length=7), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('form', sa.String(length=32), nullable=False),
    sa.Column('form_other', sa.String(length=120), nullable=True),
    sa.Column('medium', sa.String(length=120), nullable=False),
    sa.Column('runs', sa.Integer(), nullable=False),
    sa.Column('reached', sa.Integer(), nullable=True),
    sa.Column('communes', sa.String(length=1000), nullable=False),
    sa.Column('languages', sa.String(length=120), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('evidence_path', sa.String(length=200), nullable=True),
    sa.Column('evidence_name', sa.String(length=200), nullable=True),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('created_by', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('deleted_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['unit_id'], ['unit.id'], ),
    sa.ForeignKeyConstraint(['created_by'], ['officer.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_outreach_entry_month', 'outreach_entry', ['month', 'unit_id'])

    op.create_table('report_submission',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('unit_id', sa.Integer(), nullable=False),
    sa.Column('month', sa.String(length=7), nullable=False),
    sa.Column('submitted_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('submitted_by', sa.Integer(), nullable=True),
    sa.Column('amendments', sa.Integer(), nullable=False),
    sa.Column('last_amended_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['unit_id'], ['unit.id'], ),
    sa.ForeignKeyConstraint(['submitted_by'], ['officer.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('unit_id', 'month', name='uq_report_submission')
    )

    op.create_table('report_amendment',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('unit_id', sa.Integer(), nullable=False),
    sa.Column('month', sa.String(length=7), nullable=False),
    sa.Column('entry_id', sa.Integer(), nullable=True),
    sa.Column('action', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('officer_id', sa.Integer(), nullable=True),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('before', sa.Text(), nullable=True),
    sa.Column('after', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['unit_id'], ['unit.id'], ),
    sa.ForeignKeyConstraint(['entry_id'], ['outreach_entry.id'], ),
    sa.ForeignKeyConstraint(['officer_id'], ['officer.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_report_amendment_month', 'report_amendment', ['month', 'unit_id'])

    op.create_table('report_reminder',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('unit_id', sa.Integer(), nullable=False),
    sa.Column('month', sa.String(length=7), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('recipients', sa.Integer(), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['unit_id'], ['unit.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('unit_id', 'month', 'day', name='uq_report_reminder')
    )

    op.create_table('outreach_dialog',
    sa.Column('officer_id', sa.Integer(), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('pseudonym', sa.String(length=64), nullable=False),
    sa.Column('state', sa.Text(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['officer_id'], ['officer.id'], ),
    sa.PrimaryKeyConstraint('officer_id')
    )
    op.create_index('ix_outreach_dialog_contact', 'outreach_dialog', ['channel', 'pseudonym'])

    op.create_table('run_rollup',
    sa.Column('month', sa.String(length=7), nullable=False),
    sa.Column('dim', sa.String(length=8), nullable=False),
    sa.Column('unit', sa.String(length=200), nullable=False),
    sa.Column('form', sa.String(length=32), nullable=False),
    sa.Column('medium', sa.String(length=16), nullable=False),
    sa.Column('value', sa.String(length=64), nullable=False),
    sa.Column('runs', sa.BigInteger(), nullable=False),
    sa.Column('people', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('month', 'dim', 'unit', 'form', 'medium', 'value')
    )
    op.create_table('run_reach',
    sa.Column('month', sa.String(length=7), nullable=False),
    sa.Column('unit', sa.String(length=200), nullable=False),
    sa.Column('form', sa.String(length=32), nullable=False),
    sa.Column('medium', sa.String(length=16), nullable=False),
    sa.Column('pseudonym', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('month', 'unit', 'form', 'medium', 'pseudonym')
    )
    _backfill()


def _backfill() -> None:
    """Sum the runs already stored (the same SQL as bot.delivery.runs.rebuild_rollups)."""
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        month = "to_char((at AT TIME ZONE 'UTC') + interval '7 hours', 'YYYY-MM')"
    else:
        month = "strftime('%Y-%m', at, '+7 hours')"
    runs = (f"(SELECT {month} AS m, unit, form, medium, kind, topic, language, commune_code, "
            "contact_pseudonym, reached FROM run) AS r")
    op.execute(f"INSERT INTO run_reach (month, unit, form, medium, pseudonym) "
               f"SELECT DISTINCT m, unit, form, medium, contact_pseudonym FROM {runs} "
               "WHERE contact_pseudonym IS NOT NULL")
    op.execute(f"INSERT INTO run_rollup (month, dim, unit, form, medium, value, runs, people) "
               f"SELECT m, 'total', unit, form, medium, '', count(*), "
               f"coalesce(sum(CASE WHEN contact_pseudonym IS NULL THEN reached ELSE 0 END), 0)"
               f" + count(DISTINCT contact_pseudonym) FROM {runs} GROUP BY m, unit, form, medium")
    for dim, column in (("topic", "topic"), ("language", "language"),
                        ("commune", "commune_code"), ("kind", "kind")):
        op.execute(f"INSERT INTO run_rollup (month, dim, unit, form, medium, value, runs, people) "
                   f"SELECT m, '{dim}', unit, form, medium, coalesce({column}, ''), count(*), 0 "
                   f"FROM {runs} GROUP BY m, unit, form, medium, coalesce({column}, '')")


def downgrade() -> None:
    op.drop_table('run_reach')
    op.drop_table('run_rollup')
    op.drop_index('ix_outreach_dialog_contact', table_name='outreach_dialog')
    op.drop_table('outreach_dialog')
    op.drop_table('report_reminder')
    op.drop_index('ix_report_amendment_month', table_name='report_amendment')
    op.drop_table('report_amendment')
    op.drop_table('report_submission')
    op.drop_index('ix_outreach_entry_month', table_name='outreach_entry')
    op.drop_table('outreach_entry')
