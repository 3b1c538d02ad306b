"""Translation reviews (approve / send back, with who, organisation, when and source hash) and
uploaded voice clips. The texts themselves live in files (content/<lang>/, locales/<lang>/)."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import Column, Index, Text
from sqlmodel import Field, SQLModel

from bot.store.models import utcnow


class TranslationReview(SQLModel, table=True):
    """One reviewer decision on one unit (interface string, topic text or voice clip).

    The latest decision per (lang, unit) counts, and only for the exact text or clip it was
    made on (`target_hash`); it serves citizens while `source_hash` is the current Vietnamese.
    """

    __tablename__ = "translation_review"
    __table_args__ = (Index("ix_translation_review_unit", "lang", "unit", "id"),)
    id: int | None = Field(default=None, primary_key=True)
    lang: str = Field(max_length=16)
    unit: str = Field(max_length=80)            # "s:<msgid hash>", "t:<topic id>", "c:<clip>"
    label: str = Field(max_length=200)          # what was reviewed, for people
    decision: str = Field(max_length=12)        # approved | sent_back
    target_hash: str = Field(max_length=64)     # hash of the translation / clip file approved
    source_hash: str = Field(max_length=64)     # hash of the Vietnamese approved against
    note: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    officer_id: int | None = Field(default=None, foreign_key="officer.id")
    reviewer: str = Field(max_length=120)       # the officer's name at the time
    organisation: str = Field(max_length=200)   # the officer's unit at the time
    at: dt.datetime = Field(default_factory=utcnow)


class VoiceClip(SQLModel, table=True):
    """A voice clip uploaded for a topic and language (file under content/media/<lang>/)."""

    __tablename__ = "voice_clip"
    __table_args__ = (Index("ix_voice_clip_topic", "lang", "topic", "id"),)
    id: int | None = Field(default=None, primary_key=True)
    lang: str = Field(max_length=16)
    topic: str = Field(max_length=64)
    path: str = Field(max_length=200)           # relative to content/media
    sha256: str = Field(max_length=64)
    size: int = 0
    duration_s: float = 0.0
    speaker: str = Field(max_length=120)
    editor: str = Field(max_length=120)
    recorded: dt.date
    licence: str = Field(max_length=200)
    source_hash: str = Field(max_length=64)     # the Vietnamese topic text the clip reads
    uploaded_by: int | None = Field(default=None, foreign_key="officer.id")
    uploaded_at: dt.datetime = Field(default_factory=utcnow)
