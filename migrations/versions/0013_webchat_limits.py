"""web chat limits per client address and session; web contacts counted after an answer

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02
"""
import sqlalchemy as sa
from alembic import op

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None

# Web chat sessions count as people only once Loa answered them (bot/delivery/runs.py):
# drop the reach of web sessions that never got an answer, then recount people of web rows.
_COUNTED = "('answer', 'verdict')"


def _month(dialect: str) -> str:
    if dialect == 'postgresql':
        return "to_char((run.at AT TIME ZONE 'UTC') + interval '7 hours', 'YYYY-MM')"
    return "strftime('%Y-%m', run.at, '+7 hours')"


def upgrade() -> None:
    op.create_table(
        'web_limit',
        sa.Column('key', sa.String(length=80), nullable=False),
        sa.Column('window_start', sa.Float(), nullable=False),
        sa.Column('hits', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('key'),
    )
    op.create_index('ix_web_limit_window', 'web_limit', ['window_start'])
    op.create_table(
        'web_session',
        sa.Column('pseudonym', sa.String(length=64), nullable=False),
        sa.Column('client_key', sa.String(length=64), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('last_seen_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('pseudonym'),
    )
    op.create_index('ix_web_session_seen', 'web_session', ['last_seen_at'])
    op.create_table(
        'web_client_day',
        sa.Column('day', sa.String(length=10), nullable=False),
        sa.Column('client_key', sa.String(length=64), nullable=False),
        sa.Column('runs', sa.Integer(), nullable=False),
        sa.Column('refused', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('day', 'client_key'),
    )
    month = _month(op.get_bind().dialect.name)
    op.execute(
        "DELETE FROM run_reach WHERE medium = 'web' AND form = 'chatbot_qa' "
        "AND NOT EXISTS (SELECT 1 FROM run "
        "WHERE run.medium = 'web' AND run.contact_pseudonym = run_reach.pseudonym "
        f"AND run.unit = run_reach.unit AND run.form = run_reach.form AND run.kind IN {_COUNTED} "
        f"AND {month} = run_reach.month)")
    op.execute(
        "UPDATE run_rollup SET people = (SELECT count(*) FROM run_reach r "
        "WHERE r.month = run_rollup.month AND r.unit = run_rollup.unit "
        "AND r.form = run_rollup.form AND r.medium = run_rollup.medium) + (SELECT "
        "coalesce(sum(run.reached), 0) FROM run WHERE run.medium = 'web' "
        "AND run.contact_pseudonym IS NULL AND run.unit = run_rollup.unit "
        f"AND run.form = run_rollup.form AND run.kind IN {_COUNTED} "
        f"AND {month} = run_rollup.month) "
        "WHERE medium = 'web' AND form = 'chatbot_qa' AND dim = 'total'")


def downgrade() -> None:
    op.drop_table('web_client_day')
    op.drop_index('ix_web_session_seen', table_name='web_session')
    op.drop_table('web_session')
    op.drop_index('ix_web_limit_window', table_name='web_limit')
    op.drop_table('web_limit')
