"""Reviewer decisions and uploaded voice clips in the database; refreshing what citizens see."""
from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.delivery.runs import COUNTED_KINDS
from bot.features.officers import service as officers
from bot.features.translations.models import TranslationReview, VoiceClip
from bot.features.translations.rules import Clip, Decision
from bot.features.translations.service import Translations
from bot.store.models import CommunicationRun, utcnow

REVIEW = TranslationReview.__table__
CLIP = VoiceClip.__table__
RUN = CommunicationRun.__table__
DECISIONS = ("approved", "sent_back")


async def latest_decisions(conn: AsyncConnection) -> list[tuple[str, Decision]]:
    """(lang, decision) of the newest decision of every unit."""
    newest = (select(func.max(REVIEW.c.id)).group_by(REVIEW.c.lang, REVIEW.c.unit)
              .scalar_subquery())
    rows = (await conn.execute(select(REVIEW).where(REVIEW.c.id.in_(newest)))).all()
    return [(r.lang, Decision(r.unit, r.decision, r.target_hash, r.source_hash, r.reviewer,
                              r.organisation, r.at, r.note or "")) for r in rows]


async def history(conn: AsyncConnection, lang: str, limit: int = 50) -> list[Any]:
    """The language's decisions, newest first: the reviewable approval record."""
    return list((await conn.execute(select(REVIEW).where(REVIEW.c.lang == lang)
                                    .order_by(REVIEW.c.id.desc()).limit(limit))).all())


async def uploaded_clips(conn: AsyncConnection) -> list[Clip]:
    rows = (await conn.execute(select(CLIP).order_by(CLIP.c.id.desc()))).all()
    return [Clip(r.lang, r.topic, r.path, r.sha256, r.speaker, r.editor,
                 r.recorded.isoformat(), r.licence, r.source_hash, id=r.id,
                 duration_s=r.duration_s) for r in rows]


async def refresh(conn: AsyncConnection, service: Translations) -> None:
    """Re-read files and the database's decisions and clips (then call service.install)."""
    service.reload(await latest_decisions(conn), await uploaded_clips(conn))


async def record_decision(conn: AsyncConnection, officer: Any, lang: str, unit: str,
                          label: str, decision: str, target_hash: str, source_hash: str,
                          note: str = "") -> None:
    """Store a reviewer's decision with who, which organisation, when and the source hash."""
    if decision not in DECISIONS:
        raise ValueError(decision)
    values = {"lang": lang, "unit": unit, "label": label[:200], "decision": decision,
              "target_hash": target_hash, "source_hash": source_hash,
              "note": note.strip()[:1000] or None, "officer_id": officer.id,
              "reviewer": officer.name[:120], "organisation": officer.unit_name[:200],
              "at": utcnow()}
    await conn.execute(REVIEW.insert().values(**values))
    await officers.audit(conn, officer.actor, f"translation.{decision}", f"{lang}:{unit}"[:120],
                         None, {k: v for k, v in values.items() if k not in ("at",)},
                         officer.unit_id)


async def add_clip(conn: AsyncConnection, officer: Any, clip: Clip, size: int) -> int:
    clip_id = (await conn.execute(CLIP.insert().values(
        lang=clip.lang, topic=clip.topic, path=clip.path, sha256=clip.sha256, size=size,
        duration_s=clip.duration_s, speaker=clip.speaker, editor=clip.editor,
        recorded=dt.date.fromisoformat(clip.recorded), licence=clip.licence,
        source_hash=clip.source_hash, uploaded_by=officer.id, uploaded_at=utcnow())
        .returning(CLIP.c.id))).scalar_one()
    await officers.audit(conn, officer.actor, "translation.clip_upload",
                         f"{clip.lang}:{clip.topic}", None,
                         {"clip": clip_id, "path": clip.path, "speaker": clip.speaker,
                          "editor": clip.editor, "recorded": clip.recorded,
                          "licence": clip.licence, "source_hash": clip.source_hash},
                         officer.unit_id)
    return int(clip_id)


async def served_counts(conn: AsyncConnection, since: dt.datetime,
                        until: dt.datetime) -> list[tuple[str, str, int, int]]:
    """(chosen language, served language, communication runs, interactions) of the chatbot in
    a period: runs are its answers and verdicts (COUNTED_KINDS, as the monthly report counts
    them), interactions every chat turn, answers included."""
    served = func.coalesce(RUN.c.served_language, RUN.c.language)
    runs = func.sum(case((RUN.c.kind.in_(COUNTED_KINDS), 1), else_=0))
    rows = await conn.execute(
        select(RUN.c.language, served, runs, func.count()).where(
            RUN.c.at >= since, RUN.c.at < until, RUN.c.form == "chatbot_qa")
        .group_by(RUN.c.language, served).order_by(RUN.c.language, served))
    return [(str(a), str(b), int(n or 0), int(m)) for a, b, n, m in rows.all()]
