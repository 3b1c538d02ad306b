"""Admin page /admin/questions: questions Loa could not answer, grouped; teach it in one click.

An editor attaches a group to a topic (its wording becomes a sample question of that topic) or
marks it out of scope. The matcher is rebuilt at once, and the action goes to the audit log.
"""
from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from bot import officers, questions
from bot.store.models_officers import Role
from bot.web import auth
from bot.web.admin import NAV, render

VN = dt.timezone(dt.timedelta(hours=7))
REVIEWERS = (Role.EDITOR,)          # admins pass every check too
MAX_IDS = 1000


def _services(request: web.Request) -> Any:
    from bot.app import SERVICES
    services = request.app[SERVICES]
    assert services.db is not None
    return services


def _local(moment: dt.datetime | None) -> str:
    """Vietnam time; SQLite gives back UTC times without their zone."""
    if moment is None:
        return ""
    aware = moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
    return aware.astimezone(VN).strftime("%d/%m/%Y %H:%M")


def _topics(services: Any) -> list[tuple[str, str]]:
    content = services.conversation.contents["vi"]
    return [(t.id, f"{t.menu_label} — {t.title}") for t in content.topics.values()]


async def _page(request: web.Request, status: int = 200, error: str | None = None,
                done: str | None = None) -> web.Response:
    services = _services(request)
    async with services.db.connect() as conn:
        rows = await questions.pending_questions(conn)
        learned = await questions.recent_learned(conn)
    groups = questions.group_questions(rows)
    labels = {t.id: t.menu_label for t in services.conversation.contents["vi"].topics.values()}
    return render(request, "review.html", status=status, groups=groups, topics=_topics(services),
                  labels=labels,
                  learned=learned, error=error, done=done, local=_local,
                  retention=services.settings.question_retention_days)


async def review_page(request: web.Request) -> web.Response:
    await auth.require_officer(request, *REVIEWERS)
    done = request.query.get("done")
    return await _page(request, done=done if done in {"attached", "out_of_scope"} else None)


async def review_action(request: web.Request) -> web.Response:
    officer = await auth.require_officer(request, *REVIEWERS)
    form = await request.post()
    auth.check_csrf(officer, form)
    services = _services(request)
    t = services.translator.gettext
    action = str(form.get("action", ""))
    text = " ".join(str(form.get("text", "")).split())
    topic = str(form.get("topic", ""))
    try:
        ids = [int(i) for i in str(form.get("ids", "")).split(",") if i.strip()][:MAX_IDS]
    except ValueError:
        ids = []
    if action not in {"attach", "out_of_scope"} or not ids:
        return await _page(request, 400, t("vi", "The form was incomplete; nothing was changed."))
    if not text or len(text) > questions.SAMPLE_CHARS:
        return await _page(request, 400, t("vi", "The question text must be 1 to {n} characters.",
                                           n=questions.SAMPLE_CHARS))
    if action == "attach" and topic not in services.conversation.contents["vi"].topics:
        return await _page(request, 400, t("vi", "Choose the topic that answers this question."))
    target = topic if action == "attach" else None
    async with services.db.begin() as conn:
        changed = await questions.resolve(conn, ids, target, text, officer.actor)
        if changed:
            await officers.audit(conn, officer.actor, f"question.{action}",
                                 f"topic:{target}" if target else "out_of_scope", None,
                                 {"questions": changed, "sample": text}, officer.unit_id)
    if changed:
        await questions.refresh_matcher(services.db, services.conversation)
        if services.cluster is not None:   # and in the other Loa processes
            services.cluster.notify("loa_learned", str(services.cluster.instance_id))
    raise web.HTTPSeeOther("/admin/questions?done=" + ("attached" if target else "out_of_scope"))


async def _retention(app: web.Application) -> AsyncIterator[None]:
    from bot.app import SERVICES
    services = app[SERVICES]
    assert services.db is not None
    cluster, refreshes = services.cluster, set()

    def learned_elsewhere(sender: str) -> None:   # another process attached a sample
        if cluster is not None and sender != str(cluster.instance_id):
            task = asyncio.create_task(questions.refresh_matcher(services.db,
                                                                 services.conversation))
            refreshes.add(task)
            task.add_done_callback(refreshes.discard)

    if cluster is not None:
        cluster.on("loa_learned", learned_elsewhere)
    async for _ in questions.retention_context(services.db, services.conversation,
                                               services.settings.question_retention_days):
        yield


def setup_review(app: web.Application) -> None:
    entry = ("/admin/questions", "Questions", REVIEWERS)
    if entry not in NAV:
        NAV.append(entry)
    app.router.add_get("/admin/questions", review_page)
    app.router.add_post("/admin/questions", review_action)
    app.cleanup_ctx.append(_retention)
