"""Questions Loa could not answer well (kept for review, then deleted) and what officers taught it.

`question` is the one table that keeps citizens' words: under their pseudonym, for at most
BOT_QUESTION_RETENTION_DAYS, erased with the rest of their data on request.
"""
from __future__ import annotations

import datetime as dt
from enum import StrEnum

from sqlalchemy import Column, Index, Text
from sqlmodel import Field, SQLModel

from bot.store.models import utcnow


class QuestionStatus(StrEnum):
    NEW = "new"                    # waiting for an officer
    ATTACHED = "attached"          # added as a sample question of a topic
    OUT_OF_SCOPE = "out_of_scope"  # marked as not about 2G


class ReviewQuestion(SQLModel, table=True):
    """A question that got no answer, a clarification, or an answer with low confidence."""

    __tablename__ = "question"
    __table_args__ = (Index("ix_question_status_at", "status", "asked_at"),
                      Index("ix_question_asked_at", "asked_at"),
                      Index("ix_question_pseudonym", "contact_pseudonym"))
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


class LearnedSample(SQLModel, table=True):
    """A sample question an officer taught Loa; topic None means "out of scope"."""

    __tablename__ = "learned_sample"
    id: int | None = Field(default=None, primary_key=True)
    topic: str | None = Field(default=None, max_length=64)
    text: str = Field(sa_column=Column(Text, nullable=False))
    created_by: str = Field(max_length=80)
    created_at: dt.datetime = Field(default_factory=utcnow)
