"""The review log as Loa registers it: its pages, the hourly purge of old questions (a job,
once across processes), taught questions loaded at start and reloaded when another process
approves or removes one."""
from __future__ import annotations

import logging

from bot.delivery.jobs import Job, hourly
from bot.delivery.runtime import Runtime
from bot.features.base import Feature
from bot.features.questions import service as questions
from bot.features.questions.web import LEARNED, setup

log = logging.getLogger(__name__)


def feature(runtime: Runtime) -> Feature:
    db, conversation = runtime.db, runtime.conversation
    days = runtime.settings.question_retention_days

    async def load_taught() -> None:
        try:
            taught = await questions.refresh_matcher(db, conversation)
        except Exception as exc:   # an old database without the table must not stop Loa
            log.warning("learned examples not loaded (%s)", exc.__class__.__name__)
            return
        if taught:
            log.info("matcher rebuilt with %d learned examples", taught)

    async def purge() -> str:
        async with db.begin() as conn:
            gone = await questions.purge_questions(conn, days)
        return f"questions deleted: {gone}"

    async def reload() -> None:
        await questions.refresh_matcher(db, conversation)

    return Feature("questions", web=setup, jobs=(Job("question_purge", hourly, purge),),
                   start=load_taught, reloads={LEARNED: reload}, turn_log=QuestionLog())


class QuestionLog:
    """Questions Loa could not answer well, kept for review (bot/delivery/handler.py TurnLog)."""

    row = staticmethod(questions.review_row)
    insert = staticmethod(questions.insert_questions)
