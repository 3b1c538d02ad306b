"""learned samples approved by a second province officer; questions tied to their unit

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02

`learned_sample` gets a status (pending / active / rejected / removed), the proposer's unit, the
question it came from, what it changes, and who decided or removed it. Samples taught before
this revision were never approved by anyone, so they become `pending`: the matcher stops using
them until a province officer other than their author approves them on /admin/questions.
`question` gets the commune of the contact (NULL for old rows: the province sees those) and
the sample proposed from it; stored questions have invite codes and phone numbers masked here
as the application now does before storing (a frozen copy of bot.features.questions.service.mask, so that this
revision keeps doing the same whatever the code becomes).
"""
import re

import sqlalchemy as sa
from alembic import op

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None

MASKED = "[…]"
_REGISTER = re.compile(r"(/dangky(?:@\w+)?)\s+\S+", re.IGNORECASE)
_INVITE = re.compile(r"(?<!\w)[0-9A-Fa-f]{8}(?!\w)")
_NUMBER = re.compile(r"\+?\(?\d(?:[\s.\-()]{0,3}\d)+\)?")
_HOTLINE = re.compile(r"1[89]00\d{4}")
_DATE = re.compile(r"\d{1,2}[./-]\d{1,2}[./-]\d{4}|(?:19|20)\d\d\s*[-–]\s*(?:19|20)\d\d")


def _number(found: re.Match) -> str:
    text = found.group(0)
    digits = re.sub(r"\D", "", text)
    if len(digits) >= 9 or (len(digits) == 8 and not _HOTLINE.fullmatch(digits)
                            and not _DATE.fullmatch(text.strip("()+"))):
        return MASKED
    return text


def _mask(text: str) -> str:
    text = " ".join(text.split())
    text = _REGISTER.sub(lambda m: f"{m.group(1)} {MASKED}", text)
    text = _INVITE.sub(lambda m: m.group(0) if _HOTLINE.fullmatch(m.group(0)) else MASKED, text)
    return _NUMBER.sub(_number, text)[:500]


def _mask_rows(table: str) -> None:
    bind = op.get_bind()
    rows = bind.execute(sa.text(f"SELECT id, text FROM {table}")).all()
    changed = [{"id": row.id, "text": _mask(row.text)} for row in rows
               if _mask(row.text) != row.text]
    if changed:
        bind.execute(sa.text(f"UPDATE {table} SET text = :text WHERE id = :id"), changed)


def upgrade() -> None:
    with op.batch_alter_table('question', schema=None) as batch_op:
        batch_op.add_column(sa.Column('commune_code', sa.String(length=8), nullable=True))
        batch_op.add_column(sa.Column('sample_id', sa.Integer(), nullable=True))
        batch_op.create_index('ix_question_commune_status', ['commune_code', 'status'],
                              unique=False)
    with op.batch_alter_table('learned_sample', schema=None) as batch_op:
        batch_op.add_column(sa.Column('status', sa.String(length=16), nullable=False,
                                      server_default='pending'))
        batch_op.add_column(sa.Column('unit_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('question_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('from_kind', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('from_topic', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('decided_by', sa.String(length=80), nullable=True))
        batch_op.add_column(sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('removed_by', sa.String(length=80), nullable=True))
        batch_op.add_column(sa.Column('removed_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index('ix_learned_sample_status', ['status'], unique=False)
    _mask_rows('question')
    _mask_rows('learned_sample')


def downgrade() -> None:
    # Only samples that were approved keep working under the old rules (which used every row).
    op.execute("DELETE FROM learned_sample WHERE status <> 'active'")
    op.execute("UPDATE question SET status = 'new' WHERE status = 'proposed'")
    with op.batch_alter_table('learned_sample', schema=None) as batch_op:
        batch_op.drop_index('ix_learned_sample_status')
        for column in ('removed_at', 'removed_by', 'decided_at', 'decided_by', 'from_topic',
                       'from_kind', 'question_id', 'unit_id', 'status'):
            batch_op.drop_column(column)
    with op.batch_alter_table('question', schema=None) as batch_op:
        batch_op.drop_index('ix_question_commune_status')
        batch_op.drop_column('sample_id')
        batch_op.drop_column('commune_code')
