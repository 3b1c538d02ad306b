"""The review log: questions Loa could not answer well, and what officers teach it from them.

This is the one place where citizens' words are kept: under the contact's pseudonym, with long
numbers (phones, ID cards) masked, for at most `question_retention_days`, and erased with the
rest of a citizen's data (`erase_questions`). What an officer attaches as a sample or marks out
of scope is copied, after the officer's edit, into `learned_sample` without any pseudonym, and
the matcher is rebuilt from it at once (no restart).
"""
from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import re
from collections import Counter
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from rapidfuzz import fuzz, process
from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.core.conversation import MAX_TEXT, Conversation
from bot.core.matching import LOW_CONFIDENCE, Example, Matcher
from bot.core.messages import Event, Inbound, InboundKind, RunKind
from bot.core.text import normalize_query
from bot.store.db import Database
from bot.store.models import utcnow
from bot.store.models_questions import LearnedSample, QuestionStatus, ReviewQuestion

log = logging.getLogger(__name__)

QUESTION = ReviewQuestion.__table__
LEARNED = LearnedSample.__table__
STORED_CHARS = 500              # a question is kept up to here
SAMPLE_CHARS = 300              # a taught sample is at most this long
GROUP_SIMILARITY = 80           # rapidfuzz token_sort_ratio of two questions in one group
PURGE_EVERY_S = 3600.0
# Nine or more digits, perhaps spaced or dotted: a phone or ID card number, never needed here.
_LONG_NUMBER = re.compile(r"\d(?:[\s.\-]?\d){8,}")


def mask(text: str) -> str:
    """The question as stored: trimmed, long numbers masked, at most STORED_CHARS."""
    return _LONG_NUMBER.sub("[…]", " ".join(text.split()))[:STORED_CHARS]


def review_row(matcher: Matcher, inbound: Inbound, events: Sequence[Event], *, channel: str,
               language: str, pseudonym: str, at: dt.datetime) -> dict[str, Any] | None:
    """The row to keep when a typed question went unanswered or was answered unsurely."""
    if inbound.kind is not InboundKind.TEXT or not inbound.text.strip():
        return None
    unmatched = any(e.kind is RunKind.UNMATCHED for e in events)
    answered = [e for e in events if e.kind is RunKind.ANSWER and e.score is not None]
    if not unmatched and (not answered or (answered[0].score or 0.0) >= LOW_CONFIDENCE):
        return None           # answered surely, or a typed menu number
    match = matcher.match(inbound.text[:MAX_TEXT])
    return {"asked_at": at, "channel": channel, "language": language,
            "contact_pseudonym": pseudonym, "text": mask(inbound.text), "outcome": match.kind,
            "score": match.score, "topic": match.topic or match.runner_up,
            "runner_up": match.runner_up if match.topic else None,
            "status": QuestionStatus.NEW}


async def insert_questions(conn: AsyncConnection, rows: list[dict[str, Any]]) -> None:
    if rows:
        await conn.execute(QUESTION.insert(), rows)


async def erase_questions(conn: AsyncConnection, pseudonym: str) -> int:
    """Delete every kept question of one contact (their /forget request); returns how many."""
    result = await conn.execute(delete(QUESTION).where(QUESTION.c.contact_pseudonym == pseudonym))
    return result.rowcount or 0


async def purge_questions(conn: AsyncConnection, days: int, now: dt.datetime | None = None) -> int:
    """Delete questions older than the retention limit; returns how many."""
    cutoff = (now or utcnow()) - dt.timedelta(days=days)
    result = await conn.execute(delete(QUESTION).where(QUESTION.c.asked_at < cutoff))
    return result.rowcount or 0


# -- grouping for the review page -------------------------------------------------------------

@dataclass
class QuestionGroup:
    """Similar questions shown as one line: newest first, with how often they were asked."""

    ids: list[int] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)      # distinct wordings, newest first
    newest: dt.datetime | None = None
    contacts: set[str] = field(default_factory=set)
    guesses: Counter[str] = field(default_factory=Counter)
    outcomes: Counter[str] = field(default_factory=Counter)

    @property
    def count(self) -> int:
        return len(self.ids)

    @property
    def text(self) -> str:
        return self.texts[0]

    @property
    def guess(self) -> str | None:
        return self.guesses.most_common(1)[0][0] if self.guesses else None

    @property
    def key(self) -> str:
        """Identifies the group in forms: its question ids."""
        return ",".join(str(i) for i in self.ids)


def group_questions(rows: Iterable[Any], similarity: int = GROUP_SIMILARITY) -> list[QuestionGroup]:
    """Group rows (newest first) whose folded words are alike; groups keep that order."""
    groups: list[QuestionGroup] = []
    keys: list[str] = []
    for row in rows:
        key = " ".join(normalize_query(row.text)) or row.text.lower()
        found = process.extractOne(key, keys, scorer=fuzz.token_sort_ratio,
                                   score_cutoff=similarity) if keys else None
        if found is None:
            group = QuestionGroup()
            groups.append(group)
            keys.append(key)
        else:
            group = groups[found[2]]
        group.ids.append(row.id)
        if row.text not in group.texts and len(group.texts) < 5:
            group.texts.append(row.text)
        group.newest = group.newest or row.asked_at
        group.contacts.add(row.contact_pseudonym)
        if row.topic:
            group.guesses[row.topic] += 1
        group.outcomes[row.outcome] += 1
    return groups


async def pending_questions(conn: AsyncConnection, limit: int = 500) -> list[Any]:
    """Questions waiting for review, newest first."""
    return list((await conn.execute(
        select(QUESTION).where(QUESTION.c.status == QuestionStatus.NEW)
        .order_by(QUESTION.c.asked_at.desc(), QUESTION.c.id.desc()).limit(limit))).all())


async def count_pending(conn: AsyncConnection) -> int:
    return (await conn.execute(select(func.count()).select_from(QUESTION)
                               .where(QUESTION.c.status == QuestionStatus.NEW))).scalar_one()


# -- what officers teach ----------------------------------------------------------------------

async def resolve(conn: AsyncConnection, ids: Sequence[int], topic: str | None, text: str,
                  actor: str) -> int:
    """Attach the questions to `topic` (None: out of scope): one learned sample of `text`,
    and the questions marked reviewed by `actor`. Returns how many questions changed."""
    now = utcnow()
    result = await conn.execute(
        update(QUESTION).where(QUESTION.c.id.in_(list(ids)),
                               QUESTION.c.status == QuestionStatus.NEW)
        .values(status=QuestionStatus.ATTACHED if topic else QuestionStatus.OUT_OF_SCOPE,
                reviewed_by=actor[:80], reviewed_at=now, reviewed_topic=topic))
    changed = result.rowcount or 0
    sample = " ".join(text.split())[:SAMPLE_CHARS]
    if changed and sample:
        await conn.execute(LEARNED.insert().values(topic=topic, text=sample,
                                                   created_by=actor[:80], created_at=now))
    return changed


async def recent_learned(conn: AsyncConnection, limit: int = 20) -> list[Any]:
    """What officers taught most recently, with who and when."""
    return list((await conn.execute(select(LEARNED).order_by(LEARNED.c.id.desc())
                                    .limit(limit))).all())


async def learned_examples(conn: AsyncConnection) -> list[Example]:
    rows = (await conn.execute(select(LEARNED.c.topic, LEARNED.c.text)
                               .order_by(LEARNED.c.id))).all()
    return [Example(row.topic, row.text) for row in rows]


async def refresh_matcher(db: Database, conversation: Conversation) -> int:
    """Rebuild the conversation's matcher with every learned example; returns their number."""
    async with db.connect() as conn:
        examples = await learned_examples(conn)
    matcher = await asyncio.to_thread(conversation.matcher.rebuilt, examples)
    conversation.matcher = matcher     # one assignment: turns in progress keep the old one
    return len(examples)


async def retention_context(db: Database, conversation: Conversation,
                            days: int) -> AsyncIterator[None]:
    """Startup: learned samples into the matcher, expired questions out; then hourly purges."""
    try:
        taught = await refresh_matcher(db, conversation)
        if taught:
            log.info("matcher rebuilt with %d learned examples", taught)
    except Exception as exc:   # an old database without the table must not stop Loa
        log.warning("learned examples not loaded (%s)", exc.__class__.__name__)

    async def purge_forever() -> None:
        while True:
            try:
                async with db.begin() as conn:
                    gone = await purge_questions(conn, days)
                if gone:
                    log.info("deleted %d questions older than %d days", gone, days)
            except Exception as exc:
                log.warning("question purge failed (%s)", exc.__class__.__name__)
            await asyncio.sleep(PURGE_EVERY_S)

    task = asyncio.create_task(purge_forever(), name="question-retention")
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
