"""Questions Loa could not answer well (kept for review, then deleted) and what officers taught it.

`question` is the one table that keeps citizens' words: under their pseudonym, for at most
BOT_QUESTION_RETENTION_DAYS, erased with the rest of their data on request, and shown only to
the unit of the commune the contact had chosen (and to the province). `learned_sample` changes
what every citizen is told, so a sample is proposed by one officer and used only once a second
officer of the province approved it (migration 0012).
"""
from __future__ import annotations

import datetime as dt
from enum import StrEnum

from sqlalchemy import Column, Index, Text
from sqlmodel import Field, SQLModel

from bot.store.erasure import Erasure
from bot.store.models import utcnow


class QuestionStatus(StrEnum):
    NEW = "new"                    # waiting for an officer
    ATTACHED = "attached"          # added as a sample question of a topic
    OUT_OF_SCOPE = "out_of_scope"  # marked as not about 2G
    PROPOSED = "proposed"          # a learned sample was proposed from it; awaiting approval


class SampleStatus(StrEnum):
    PENDING = "pending"            # proposed, not used by the matcher yet
    ACTIVE = "active"              # approved by a second province officer: in the matcher
    REJECTED = "rejected"          # refused by a province officer (or withdrawn by its author)
    REMOVED = "removed"            # taken out of the matcher by a province administrator


class ReviewQuestion(SQLModel, table=True):
    """A question that got no answer, a clarification, or an answer with low confidence."""

    __tablename__ = "question"
    __table_args__ = (Index("ix_question_status_at", "status", "asked_at"),
                      Index("ix_question_asked_at", "asked_at"),
                      Index("ix_question_pseudonym", "contact_pseudonym"),
                      Index("ix_question_commune_status", "commune_code", "status"))
    id: int | None = Field(default=None, primary_key=True)
    asked_at: dt.datetime = Field(default_factory=utcnow)
    channel: str = Field(max_length=16)
    language: str = Field(default="vi", max_length=16)
    contact_pseudonym: str = Field(max_length=64)
    text: str = Field(sa_column=Column(Text, nullable=False))
    outcome: str = Field(max_length=16)           # MatchKind, or "answer" with low confidence
    score: float = 0.0
    topic: str | None = Field(default=None, max_length=64)       # best guess
    runner_up: str | None = Field(default=None, max_length=64)
    status: str = Field(default=QuestionStatus.NEW, max_length=16)
    reviewed_by: str | None = Field(default=None, max_length=80)
    reviewed_at: dt.datetime | None = None
    reviewed_topic: str | None = Field(default=None, max_length=64)
    # The commune the contact had chosen when asking: which unit may see the question (None:
    # the province only). The learned sample proposed from it, while it is pending or used.
    commune_code: str | None = Field(default=None, max_length=8)
    sample_id: int | None = None


class LearnedSample(SQLModel, table=True):
    """A sample question taught to Loa; topic None means "out of scope". Its text is the stored
    question's text (never typed by the officer); the matcher uses it only while ACTIVE."""

    __tablename__ = "learned_sample"
    __table_args__ = (Index("ix_learned_sample_status", "status"),)
    id: int | None = Field(default=None, primary_key=True)
    topic: str | None = Field(default=None, max_length=64)
    text: str = Field(sa_column=Column(Text, nullable=False))
    created_by: str = Field(max_length=80)              # the proposer, "officer:12"
    created_at: dt.datetime = Field(default_factory=utcnow)
    status: str = Field(default=SampleStatus.PENDING, max_length=16)
    unit_id: int | None = None                          # the proposer's unit
    question_id: int | None = None                      # the question it was taken from
    from_kind: str | None = Field(default=None, max_length=16)    # what Loa did before
    from_topic: str | None = Field(default=None, max_length=64)
    decided_by: str | None = Field(default=None, max_length=80)   # approved or rejected by
    decided_at: dt.datetime | None = None
    removed_by: str | None = Field(default=None, max_length=80)
    removed_at: dt.datetime | None = None


# A citizen's erasure (bot/features/privacy/forget.py) deletes the questions they asked.
ERASURE: tuple[Erasure, ...] = (
    Erasure(ReviewQuestion.__table__, "contact_pseudonym"),   # type: ignore[attr-defined]
)
