"""Scheduled jobs: one claim row per (job, period), so a job runs once per period across every
Loa process on the database; the lease lets another process finish the work of one that died.
"""
from __future__ import annotations

import datetime as dt

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from bot.store.models import utcnow


class JobLease(SQLModel, table=True):
    __tablename__ = "job_lease"
    __table_args__ = (UniqueConstraint("job", "period", name="uq_job_lease_job_period"),)
    id: int | None = Field(default=None, primary_key=True)
    job: str = Field(max_length=40)             # e.g. "retention", "report_reminders"
    period: str = Field(max_length=20)          # e.g. "2026-12-10" for a daily job
    holder: str = Field(max_length=80)          # host:pid:random of the process running it
    claimed_at: dt.datetime = Field(default_factory=utcnow)
    expires_at: dt.datetime                     # after this, another process may take over
    finished_at: dt.datetime | None = None      # set once: the period's work is done
    attempts: int = 1                           # claims so far (a takeover adds one)
    outcome: str | None = Field(default=None, max_length=200)   # counts or the error class
