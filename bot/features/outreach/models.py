"""Outreach tables: offline runs logged by officers, monthly submissions, amendments, reminders,
the chat dialog state, and the rollups that keep the monthly report fast as runs grow.
"""
from __future__ import annotations

import datetime as dt

from sqlalchemy import Column, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from bot.store.erasure import Erasure
from bot.store.models import utcnow


class OutreachEntry(SQLModel, table=True):
    """Offline outreach a unit did (a loudspeaker bulletin, a meeting, a TV slot ...).

    Kept apart from `run` because an officer edits it until the month is submitted, and one
    entry may cover several runs, communes and languages. Deleted entries stay (deleted_at).
    """

    __tablename__ = "outreach_entry"
    __table_args__ = (Index("ix_outreach_entry_month", "month", "unit_id"),)
    id: int | None = Field(default=None, primary_key=True)
    unit_id: int = Field(foreign_key="unit.id")
    month: str = Field(max_length=7)               # YYYY-MM of `day`, for the report
    day: dt.date
    form: str = Field(max_length=32)               # code from bot.features.outreach.reports.forms
    form_other: str | None = Field(default=None, max_length=120)
    medium: str = Field(max_length=120)
    runs: int
    reached: int | None = None                     # None: not known
    communes: str = Field(default="", max_length=1000)    # commune codes, comma-separated
    languages: str = Field(default="vi", max_length=120)   # language tags, comma-separated
    # who it reached: group codes (bot.delivery.runs.GROUPS), comma-separated; "" = not recorded
    target_groups: str = Field(default="", max_length=200)   # 0016
    note: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    evidence_path: str | None = Field(default=None, max_length=200)   # under data_dir
    evidence_name: str | None = Field(default=None, max_length=200)
    source: str = Field(default="form", max_length=16)    # form, chat, kit
    created_by: int | None = Field(default=None, foreign_key="officer.id")
    created_at: dt.datetime = Field(default_factory=utcnow)
    updated_at: dt.datetime = Field(default_factory=utcnow)
    deleted_at: dt.datetime | None = None


class ReportSubmission(SQLModel, table=True):
    """A unit marked its monthly report submitted; entries of that month are then locked."""

    __tablename__ = "report_submission"
    __table_args__ = (UniqueConstraint("unit_id", "month", name="uq_report_submission"),)
    id: int | None = Field(default=None, primary_key=True)
    unit_id: int = Field(foreign_key="unit.id")
    month: str = Field(max_length=7)
    submitted_at: dt.datetime = Field(default_factory=utcnow)
    submitted_by: int | None = Field(default=None, foreign_key="officer.id")
    amendments: int = 0
    last_amended_at: dt.datetime | None = None


class ReportAmendment(SQLModel, table=True):
    """A change to a submitted month: what changed, why, and who did it."""

    __tablename__ = "report_amendment"
    __table_args__ = (Index("ix_report_amendment_month", "month", "unit_id"),)
    id: int | None = Field(default=None, primary_key=True)
    unit_id: int = Field(foreign_key="unit.id")
    month: str = Field(max_length=7)
    entry_id: int | None = Field(default=None, foreign_key="outreach_entry.id")
    action: str = Field(max_length=16)            # create, update, delete
    reason: str = Field(sa_column=Column(Text, nullable=False))
    officer_id: int | None = Field(default=None, foreign_key="officer.id")
    at: dt.datetime = Field(default_factory=utcnow)
    before: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    after: str | None = Field(default=None, sa_column=Column(Text, nullable=True))


class ReportReminder(SQLModel, table=True):
    """One reminder per unit, month and reminder day; the unique key makes it send once."""

    __tablename__ = "report_reminder"
    __table_args__ = (UniqueConstraint("unit_id", "month", "day", name="uq_report_reminder"),)
    id: int | None = Field(default=None, primary_key=True)
    unit_id: int = Field(foreign_key="unit.id")
    month: str = Field(max_length=7)
    day: dt.date
    recipients: int = 0
    sent_at: dt.datetime = Field(default_factory=utcnow)


class OutreachDialog(SQLModel, table=True):
    """Where an officer is in the /ghinhan chat dialog (one open dialog per officer)."""

    __tablename__ = "outreach_dialog"
    __table_args__ = (Index("ix_outreach_dialog_contact", "channel", "pseudonym"),)
    officer_id: int = Field(foreign_key="officer.id", primary_key=True)
    channel: str = Field(max_length=16)
    pseudonym: str = Field(max_length=64)
    state: str = Field(sa_column=Column(Text, nullable=False))
    updated_at: dt.datetime = Field(default_factory=utcnow)


# Erasure on request (bot/features/privacy/forget.py): the /ghinhan dialog of the chat that asks
# goes, and so does the citizen's mark in run_reach, which the report's people counts are made
# of (the month's people already counted in run_rollup stay). run_reach is declared here until
# bot/delivery/models.py, where the table now lives, declares it itself.
ERASURE: tuple[Erasure, ...] = (
    Erasure(OutreachDialog.__table__, "pseudonym"),   # type: ignore[attr-defined]
)
