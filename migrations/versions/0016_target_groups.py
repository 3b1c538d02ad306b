"""outreach_entry.target_groups; rollups of communication runs and of target groups

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-04
"""
import sqlalchemy as sa
from alembic import op

revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None

# The report counts as communication runs only answers, verdicts and announcements (issue 17);
# every chat turn stays an interaction. The rollup rows already stored keep their meaning (every
# row of `run`) and are not touched; the new dims below sum the communication runs and their
# target groups, backfilled here from `run`. Those are plain counts of rows that are never
# deleted (an erasure only blanks their pseudonym), so the backfill gives the same numbers as
# add_runs would have (the SQL is bot.delivery.runs.counted_inserts, copied so that this
# migration does not change when the code does).
_NEW_DIMS = ("counted", "c_topic", "c_lang", "c_comm", "c_served", "group")
_COUNTED = "(form <> 'chatbot_qa' OR kind IN ('answer', 'verdict'))"
_LANG = "coalesce(language, 'vi')"
_GROUPS = (
    ("elderly", "(coalesce(topic, '') = 'helping_family' OR "
                "substr(coalesce(topic, ''), 1, 15) = 'helping_family.')"),
    ("seafarers", "(coalesce(topic, '') = 'at_sea' OR substr(coalesce(topic, ''), 1, 7) = "
                  "'at_sea.')"),
    ("minorities", f"({_LANG} <> 'vi' AND substr({_LANG}, 1, 3) <> 'vi-')"),
)


def _month(dialect: str) -> str:
    if dialect == 'postgresql':
        return "to_char((at AT TIME ZONE 'UTC') + interval '7 hours', 'YYYY-MM')"
    return "strftime('%Y-%m', at, '+7 hours')"


def upgrade() -> None:
    # Who an offline entry reached: group codes, comma-separated; '' = not recorded (entries
    # logged before this revision, and any logged without it).
    with op.batch_alter_table('outreach_entry') as batch:
        batch.add_column(sa.Column('target_groups', sa.String(length=200), nullable=False,
                                   server_default=''))
    month = _month(op.get_bind().dialect.name)
    runs = (f"(SELECT {month} AS m, unit, form, medium, kind, topic, language, commune_code, "
            "served_language FROM run) AS r")
    head = "INSERT INTO run_rollup (month, dim, unit, form, medium, value, runs, people) "
    op.execute(f"{head}SELECT m, 'counted', unit, form, medium, '', count(*), 0 FROM {runs} "
               f"WHERE {_COUNTED} GROUP BY m, unit, form, medium")
    for dim, column in (("c_topic", "topic"), ("c_lang", "language"),
                        ("c_comm", "commune_code"), ("c_served", "served_language")):
        only = f" AND {column} IS NOT NULL" if dim == "c_served" else ""
        op.execute(f"{head}SELECT m, '{dim}', unit, form, medium, coalesce({column}, ''), "
                   f"count(*), 0 FROM {runs} WHERE {_COUNTED}{only} "
                   f"GROUP BY m, unit, form, medium, coalesce({column}, '')")
    general = "NOT (" + " OR ".join(c for _, c in _GROUPS) + ")"
    for group, condition in (*_GROUPS, ("general", general)):
        op.execute(f"{head}SELECT m, 'group', unit, form, medium, '{group}', count(*), 0 "
                   f"FROM {runs} WHERE {_COUNTED} AND {condition} "
                   "GROUP BY m, unit, form, medium")


def downgrade() -> None:
    op.execute("DELETE FROM run_rollup WHERE dim IN ("
               + ", ".join(f"'{d}'" for d in _NEW_DIMS) + ")")
    with op.batch_alter_table('outreach_entry') as batch:
        batch.drop_column('target_groups')
