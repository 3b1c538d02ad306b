"""people reached: a chat contact only once Loa answered them, on every medium; audit_log.target

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-03
"""
import sqlalchemy as sa
from alembic import op

revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None

# Issue 17: a chatbot contact on Telegram or Zalo is a person reached ("số người tiếp cận")
# only once Loa answered them a topic or gave the phone check's verdict, as on the web chat
# since 0013 (bot.delivery.runs.counts_people). The people already summed in run_rollup follow
# the old rule (a menu or a language screen was enough).
#
# - Months a unit has submitted keep their numbers: a report the unit handed in does not change
#   under it. Loa's own runs (the chatbot's) are the province unit's (reports/model.py), so
#   their month is closed once the province unit, or a unit of the rollup's name, submitted it.
# - Other months follow the new rule: the citizens of run_reach whose chat turns of that month,
#   unit and medium include no answer nor verdict leave run_reach, and the month's people go
#   down by as many. That is what rebuild_rollups gives under the new rule, except for citizens
#   who erased their data: erasure (bot/store/erasure.py) blanks the pseudonym of their runs and
#   deletes their run_reach rows, keeping them in the month's people. A recount from `run` can
#   no longer tell them apart (it would count each of their answers as a person and drop the
#   rest), so they are left as counted: nothing here inserts into run_reach, so nobody erased
#   comes back into it.
_CHATBOT = "'chatbot_qa'"
_ANSWERS = "('answer', 'verdict')"
_ANSWERED = 'people_0017_answered'    # helper table, dropped at the end


def _month(dialect: str) -> str:
    if dialect == 'postgresql':
        return "to_char((at AT TIME ZONE 'UTC') + interval '7 hours', 'YYYY-MM')"
    return "strftime('%Y-%m', at, '+7 hours')"


def _open(table: str) -> str:
    """`table`'s (month, unit) is in a month not submitted (see above)."""
    return ("NOT EXISTS (SELECT 1 FROM report_submission s JOIN unit u ON u.id = s.unit_id "
            f"WHERE s.month = {table}.month AND (u.name = {table}.unit OR u.code = 'tinh'))")


def _unanswered(table: str) -> str:
    """`table`'s (month, unit, form, medium, pseudonym) got no answer nor verdict."""
    return (f"NOT EXISTS (SELECT 1 FROM {_ANSWERED} a WHERE a.month = {table}.month "
            f"AND a.unit = {table}.unit AND a.form = {table}.form "
            f"AND a.medium = {table}.medium AND a.pseudonym = {table}.pseudonym)")


def upgrade() -> None:
    op.create_index('ix_audit_target', 'audit_log', ['target'], unique=False)

    op.create_table(
        _ANSWERED,
        sa.Column('month', sa.String(length=7), nullable=False),
        sa.Column('unit', sa.String(length=200), nullable=False),
        sa.Column('form', sa.String(length=32), nullable=False),
        sa.Column('medium', sa.String(length=16), nullable=False),
        sa.Column('pseudonym', sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint('month', 'unit', 'form', 'medium', 'pseudonym'),
    )
    month = _month(op.get_bind().dialect.name)
    op.execute(f"INSERT INTO {_ANSWERED} (month, unit, form, medium, pseudonym) "
               f"SELECT DISTINCT {month}, unit, form, medium, contact_pseudonym FROM run "
               f"WHERE form = {_CHATBOT} AND kind IN {_ANSWERS} "
               "AND contact_pseudonym IS NOT NULL")
    op.execute(
        "UPDATE run_rollup SET people = people - (SELECT count(*) FROM run_reach r "
        "WHERE r.month = run_rollup.month AND r.unit = run_rollup.unit "
        f"AND r.form = run_rollup.form AND r.medium = run_rollup.medium AND {_unanswered('r')}) "
        f"WHERE dim = 'total' AND form = {_CHATBOT} AND {_open('run_rollup')}")
    op.execute(f"DELETE FROM run_reach WHERE form = {_CHATBOT} AND {_open('run_reach')} "
               f"AND {_unanswered('run_reach')}")
    op.drop_table(_ANSWERED)


def downgrade() -> None:
    # The people counts stay under the new rule: the old rule's extra citizens are not put back
    # (rebuild_rollups of the code then running recounts a month from `run` if wanted).
    op.drop_index('ix_audit_target', table_name='audit_log')
