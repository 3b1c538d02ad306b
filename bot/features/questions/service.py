"""The review log: questions Loa could not answer well, and what officers teach it from them.

This is the one place where citizens' words are kept: under the contact's pseudonym, with phone
numbers, ID card numbers and invite codes masked before they are stored, for at most
`question_retention_days`, erased with the rest of a citizen's data (`erase_questions`), and
shown only to the unit of the commune the contact had chosen (and to the province).

A learned sample changes what every citizen is told, so it is governed: an officer proposes one
from a stored question (its text is the question's own text, never typed), a second officer of
the province approves it, and only then does the matcher use it; a province administrator can
remove it at once. Before a proposal and an approval, the evaluation sets are run with and
without the sample: a sample that would change the answer to any of them is refused.
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
from pathlib import Path
from typing import Any

from rapidfuzz import fuzz, process
from sqlalchemy import ColumnElement, delete, false, func, select, true, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.core.conversation import MAX_TEXT, Conversation
from bot.core.evaluation import Labelled, load_labelled
from bot.core.matching import LOW_CONFIDENCE, Example, Matcher, MatchKind
from bot.core.messages import Event, Inbound, InboundKind, RunKind
from bot.core.text import clean_input, normalize_query
from bot.features.officers.models import Officer, Unit
from bot.features.questions.models import (
    LearnedSample,
    QuestionStatus,
    ReviewQuestion,
    SampleStatus,
)
from bot.store.db import Database
from bot.store.models import utcnow
from bot.store.queries import execute_built
from bot.store.retention import Sweep, count_rows

log = logging.getLogger(__name__)

QUESTION = ReviewQuestion.__table__
_INSERT_QUESTION = QUESTION.insert()   # built once: see bot/store/queries.py
LEARNED = LearnedSample.__table__
OFFICER = Officer.__table__
UNIT = Unit.__table__
STORED_CHARS = 500              # a question is kept up to here
SAMPLE_CHARS = 300              # a taught sample is at most this long
GROUP_SIMILARITY = 80           # rapidfuzz token_sort_ratio of two questions in one group
PURGE_EVERY_S = 3600.0
MASKED = "[…]"

# -- masking: what must never be kept -----------------------------------------------------------
# An officer's invite code (features/officers: 8 hexadecimal characters, typed in any case), also
# when typed as the registration command into the wrong chat.
_REGISTER = re.compile(r"(/dangky(?:@\w+)?)\s+\S+", re.IGNORECASE)
_INVITE = re.compile(r"(?<!\w)[0-9A-Fa-f]{8}(?!\w)")
# Runs of digits with spaces, dots, dashes or brackets between them: phone numbers in every
# shape people write them (0912345678, 0912 345 678, 091.234.5678, +84912345678,
# (0262) 3812 345), ID card numbers. Judged by how many digits they hold (_masked_number).
_NUMBER = re.compile(r"\+?\(?\d(?:[\s.\-()]{0,3}\d)+\)?")
_HOTLINE = re.compile(r"1[89]00\d{4}")          # 1800/1900 numbers: public hotlines, kept
_DATE = re.compile(r"\d{1,2}[./-]\d{1,2}[./-]\d{4}|(?:19|20)\d\d\s*[-–]\s*(?:19|20)\d\d")


def _masked_number(found: re.Match[str]) -> str:
    """Nine digits or more is a phone (mobile with or without 0 or +84, landline with its area
    code) or an ID number; eight is a city landline, unless it is a hotline, a date or years."""
    text = found.group(0)
    digits = re.sub(r"\D", "", text)
    if len(digits) >= 9 or (len(digits) == 8 and not _HOTLINE.fullmatch(digits)
                            and not _DATE.fullmatch(text.strip("()+"))):
        return MASKED
    return text


def _masked_invite(found: re.Match[str]) -> str:
    return found.group(0) if _HOTLINE.fullmatch(found.group(0)) else MASKED


def mask(text: str) -> str:
    """The question as stored: trimmed, invite codes and phone/ID numbers masked, at most
    STORED_CHARS. Hotlines (1800/1900 …) stay: they are public and tell what was asked."""
    text = " ".join(text.split())
    text = _REGISTER.sub(lambda m: f"{m.group(1)} {MASKED}", text)
    text = _INVITE.sub(_masked_invite, text)
    return _NUMBER.sub(_masked_number, text)[:STORED_CHARS]


def review_row(matcher: Matcher, inbound: Inbound, events: Sequence[Event], *, channel: str,
               language: str, pseudonym: str, at: dt.datetime,
               commune: str | None = None) -> dict[str, Any] | None:
    """The row to keep when a typed question went unanswered or was answered unsurely.
    `commune` is the commune the contact had chosen: only that unit (and the province) sees it."""
    if inbound.kind is not InboundKind.TEXT or not inbound.text.strip():
        return None
    unmatched = any(e.kind is RunKind.UNMATCHED for e in events)
    answered = [e for e in events if e.kind is RunKind.ANSWER and e.score is not None]
    if not unmatched and (not answered or (answered[0].score or 0.0) >= LOW_CONFIDENCE):
        return None           # answered surely, or a typed menu number
    text = clean_input(inbound.text)   # as the conversation read it; storable
    match = matcher.match(text[:MAX_TEXT])
    return {"asked_at": at, "channel": channel, "language": language,
            "contact_pseudonym": pseudonym, "text": mask(text), "outcome": match.kind,
            "score": match.score, "topic": match.topic or match.runner_up,
            "runner_up": match.runner_up if match.topic else None,
            "commune_code": commune, "status": QuestionStatus.NEW}


async def insert_questions(conn: AsyncConnection, rows: list[dict[str, Any]]) -> None:
    if rows:
        await execute_built(conn, _INSERT_QUESTION, rows)


async def erase_questions(conn: AsyncConnection, pseudonym: str) -> int:
    """Delete every kept question of one contact (their /forget request); returns how many."""
    result = await conn.execute(delete(QUESTION).where(QUESTION.c.contact_pseudonym == pseudonym))
    return result.rowcount or 0


async def purge_questions(conn: AsyncConnection, days: int, now: dt.datetime | None = None) -> int:
    """Delete questions older than the retention limit; returns how many."""
    cutoff = (now or utcnow()) - dt.timedelta(days=days)
    result = await conn.execute(delete(QUESTION).where(QUESTION.c.asked_at < cutoff))
    return result.rowcount or 0


def retention(question_days: int | None) -> Sweep:
    """The daily retention pass (bot/features/privacy/retention.py) over kept questions: those
    older than BOT_RETENTION_DAYS go, or than `question_days` (BOT_QUESTION_RETENTION_DAYS)
    when that is the shorter limit."""
    async def run(db: Database, now: dt.datetime, cutoff: dt.datetime, dry_run: bool,
                  batch: int) -> dict[str, int]:
        days = (now - cutoff).days
        question_cutoff = now - dt.timedelta(days=min(days, question_days or days))
        if dry_run:
            return {"questions": await count_rows(db, QUESTION,
                                                  QUESTION.c.asked_at < question_cutoff)}
        async with db.begin() as conn:
            return {"questions": await purge_questions(conn, (now - question_cutoff).days, now)}

    return Sweep("questions", run)


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


@dataclass(frozen=True)
class Scope:
    """Whose questions an officer sees: the province sees all; a commune unit only questions
    asked by contacts who had chosen that commune; any other unit none (questions without a
    commune are the province's)."""

    province: bool
    commune: str | None = None

    def where(self) -> ColumnElement[bool]:
        if self.province:
            return true()
        if self.commune:
            return QUESTION.c.commune_code == self.commune
        return false()


PROVINCE = Scope(province=True)


async def pending_questions(conn: AsyncConnection, scope: Scope = PROVINCE,
                            limit: int = 500) -> list[Any]:
    """Questions waiting for review that `scope` may see, newest first."""
    return list((await conn.execute(
        select(QUESTION).where(QUESTION.c.status == QuestionStatus.NEW, scope.where())
        .order_by(QUESTION.c.asked_at.desc(), QUESTION.c.id.desc()).limit(limit))).all())


async def count_pending(conn: AsyncConnection, scope: Scope = PROVINCE) -> int:
    return (await conn.execute(select(func.count()).select_from(QUESTION)
                               .where(QUESTION.c.status == QuestionStatus.NEW,
                                      scope.where()))).scalar_one()


async def questions_by_ids(conn: AsyncConnection, ids: Sequence[int]) -> list[Any]:
    """The rows of these ids, in the order given (unknown ids left out)."""
    found = {row.id: row for row in (await conn.execute(
        select(QUESTION).where(QUESTION.c.id.in_(list(ids))))).all()}
    return [found[i] for i in dict.fromkeys(ids) if i in found]


def visible(row: Any, scope: Scope) -> bool:
    return scope.province or (scope.commune is not None and row.commune_code == scope.commune)


# -- learned samples: proposed, checked, approved by a second province officer, removable -----

def verdict(matcher: Matcher, text: str) -> tuple[str, str | None]:
    """What a citizen gets for `text`: the kind of reply and the topic answered (or offered
    first in a "which one?"); what the evaluation guard compares."""
    match = matcher.match(text[:MAX_TEXT])
    return match.kind.value, match.topic if match.kind in (MatchKind.ANSWER,
                                                           MatchKind.CLARIFY) else None


@dataclass(frozen=True)
class Change:
    """An evaluation question whose reply a sample would change."""

    text: str
    before: tuple[str, str | None]
    after: tuple[str, str | None]


_eval_cache: dict[tuple[str, ...], tuple[tuple[float, ...], list[Labelled]]] = {}
_baseline: dict[str, Any] = {}


def evaluation_items(paths: Sequence[Path]) -> list[Labelled]:
    """The questions of the evaluation sets (re-read when a file changes). Raises OSError or
    LabelledSetError when a set cannot be read: the caller refuses the sample then."""
    key = tuple(str(p) for p in paths)
    stamps = tuple(p.stat().st_mtime for p in paths)
    cached = _eval_cache.get(key)
    if cached is None or cached[0] != stamps:
        items = [item for path in paths for item in load_labelled(path)]
        if not items:
            raise OSError("the evaluation sets hold no question")
        _eval_cache[key] = cached = (stamps, items)
    return cached[1]


def evaluation_changes(matcher: Matcher, active: Sequence[Example], new: Example,
                       items: Sequence[Labelled]) -> list[Change]:
    """The evaluation questions whose reply changes when `new` joins the `active` samples.
    CPU-bound (two matchers, two passes over the sets, about a second): run it in a thread.
    The pass without the new sample is kept for the next check of the same active set."""
    key = (id(matcher.content), tuple(active), tuple(items))
    entry = _baseline.get("entry")        # (key, verdicts), swapped in as one object
    if entry is None or entry[0] != key:
        base = matcher.rebuilt(active)
        entry = _baseline["entry"] = (key, [verdict(base, item.text) for item in items])
    before = entry[1]
    candidate = matcher.rebuilt([*active, new])
    return [Change(item.text, was, now) for item, was in zip(items, before, strict=True)
            if (now := verdict(candidate, item.text)) != was]


async def active_examples(conn: AsyncConnection) -> list[Example]:
    """The samples the matcher uses: approved and not removed, oldest first."""
    rows = (await conn.execute(select(LEARNED.c.topic, LEARNED.c.text)
                               .where(LEARNED.c.status == SampleStatus.ACTIVE)
                               .order_by(LEARNED.c.id))).all()
    return [Example(row.topic, row.text) for row in rows]


async def duplicate_sample(conn: AsyncConnection, text: str, topic: str | None) -> bool:
    """The same text already proposed or in use for the same topic (or out of scope)."""
    topic_is = LEARNED.c.topic.is_(None) if topic is None else LEARNED.c.topic == topic
    return (await conn.execute(select(func.count()).select_from(LEARNED).where(
        LEARNED.c.text == text, topic_is,
        LEARNED.c.status.in_([SampleStatus.PENDING, SampleStatus.ACTIVE])))).scalar_one() > 0


async def propose(conn: AsyncConnection, rows: Sequence[Any], topic: str | None,
                  before: tuple[str, str | None], actor: str, unit_id: int | None) -> int | None:
    """A pending sample of `topic` (None: out of scope) with the first question's own text;
    the questions leave the queue while it is decided. None if the first one was taken."""
    now = utcnow()
    first = rows[0]
    taken = await conn.execute(update(QUESTION).where(QUESTION.c.id == first.id,
                                                      QUESTION.c.status == QuestionStatus.NEW)
                               .values(status=QuestionStatus.PROPOSED))
    if not taken.rowcount:
        return None
    sample_id = (await conn.execute(LEARNED.insert().values(
        topic=topic, text=first.text[:SAMPLE_CHARS], created_by=actor[:80], created_at=now,
        status=SampleStatus.PENDING, unit_id=unit_id, question_id=first.id,
        from_kind=before[0], from_topic=before[1]).returning(LEARNED.c.id))).scalar_one()
    await conn.execute(update(QUESTION).where(QUESTION.c.id.in_([r.id for r in rows]),
                                              QUESTION.c.status.in_([QuestionStatus.NEW,
                                                                     QuestionStatus.PROPOSED]))
                       .values(status=QuestionStatus.PROPOSED, sample_id=sample_id,
                               reviewed_by=actor[:80], reviewed_at=now, reviewed_topic=topic))
    return sample_id


async def sample_by_id(conn: AsyncConnection, sample_id: int) -> Any:
    return (await conn.execute(select(LEARNED).where(LEARNED.c.id == sample_id))).first()


async def decide(conn: AsyncConnection, sample: Any, approve: bool, actor: str) -> bool:
    """Approve (the matcher uses it from now on) or reject a pending sample; its questions are
    marked answered, or go back to the queue. False if someone decided first."""
    now = utcnow()
    done = await conn.execute(update(LEARNED).where(LEARNED.c.id == sample.id,
                                                    LEARNED.c.status == SampleStatus.PENDING)
                              .values(status=SampleStatus.ACTIVE if approve
                                      else SampleStatus.REJECTED,
                                      decided_by=actor[:80], decided_at=now))
    if not done.rowcount:
        return False
    linked = QUESTION.c.sample_id == sample.id
    if approve:
        await conn.execute(update(QUESTION).where(linked).values(
            status=QuestionStatus.ATTACHED if sample.topic else QuestionStatus.OUT_OF_SCOPE))
    else:
        await conn.execute(update(QUESTION).where(linked).values(
            status=QuestionStatus.NEW, sample_id=None, reviewed_by=None, reviewed_at=None,
            reviewed_topic=None))
    return True


async def remove(conn: AsyncConnection, sample: Any, actor: str) -> bool:
    """Take a sample in use out of the matcher (the caller rebuilds it and tells the others)."""
    done = await conn.execute(update(LEARNED).where(LEARNED.c.id == sample.id,
                                                    LEARNED.c.status == SampleStatus.ACTIVE)
                              .values(status=SampleStatus.REMOVED, removed_by=actor[:80],
                                      removed_at=utcnow()))
    return bool(done.rowcount)


async def learned_list(conn: AsyncConnection, unit_id: int | None = None,
                       limit: int = 200) -> list[Any]:
    """Samples, pending first then newest, with the proposer's unit (`unit_id`: only those
    that unit proposed)."""
    stmt = (select(LEARNED, UNIT.c.name.label("unit_name"))
            .select_from(LEARNED.outerjoin(UNIT, UNIT.c.id == LEARNED.c.unit_id))
            .order_by((LEARNED.c.status == SampleStatus.PENDING).desc(), LEARNED.c.id.desc())
            .limit(limit))
    if unit_id is not None:
        stmt = stmt.where(LEARNED.c.unit_id == unit_id)
    return list((await conn.execute(stmt)).all())


async def officer_names(conn: AsyncConnection, actors: Iterable[str]) -> dict[str, str]:
    """"officer:12" -> the officer's name, for proposers and deciders shown on the page."""
    ids = {int(a.split(":", 1)[1]) for a in actors
           if a and a.startswith("officer:") and a.split(":", 1)[1].isdigit()}
    if not ids:
        return {}
    rows = (await conn.execute(select(OFFICER.c.id, OFFICER.c.name)
                               .where(OFFICER.c.id.in_(ids)))).all()
    return {f"officer:{r.id}": r.name for r in rows}


async def refresh_matcher(db: Database, conversation: Conversation) -> int:
    """Rebuild the conversation's matcher with the samples in use; returns their number."""
    async with db.connect() as conn:
        examples = await active_examples(conn)
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
