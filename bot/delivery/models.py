"""Tables of the delivery pipeline. Scheduled jobs: one claim row per (job, period), so a job runs
once per period across every Loa process on the database; the lease lets another process finish
the work of one that died. Run rollups: the monthly sums the report reads, kept in step with
the communication runs in the transaction that logs them (runs.py)."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, Column, UniqueConstraint
from sqlmodel import Field, SQLModel

from bot.store.erasure import Erasure
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


class RunRollup(SQLModel, table=True):
    """Monthly sums of `run` rows, updated in the transaction that inserts the runs.

    dim "total" rows carry runs and people per (unit, form, medium); "topic", "language",
    "commune" and "kind" rows carry runs per value. People: distinct citizens for runs with a
    contact (via run_reach; chat contacts only once Loa answered them, runs.counts_people),
    the `reached` count otherwise (broadcasts).
    """

    __tablename__ = "run_rollup"
    month: str = Field(primary_key=True, max_length=7)
    dim: str = Field(primary_key=True, max_length=8)
    unit: str = Field(primary_key=True, max_length=200)
    form: str = Field(primary_key=True, max_length=32)
    medium: str = Field(primary_key=True, max_length=16)
    value: str = Field(primary_key=True, max_length=64)   # "" for total and unknown values
    runs: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, default=0))
    people: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, default=0))


class RunReach(SQLModel, table=True):
    """Which citizens a unit reached in a month by form and medium (to count them once)."""

    __tablename__ = "run_reach"
    month: str = Field(primary_key=True, max_length=7)
    unit: str = Field(primary_key=True, max_length=200)
    form: str = Field(primary_key=True, max_length=32)
    medium: str = Field(primary_key=True, max_length=16)
    pseudonym: str = Field(primary_key=True, max_length=64)


# A citizen who asks to be forgotten leaves the monthly sums, but not who was reached.
ERASURE: tuple[Erasure, ...] = (
    Erasure(RunReach.__table__, "pseudonym"),   # type: ignore[attr-defined]
)
