"""Admin page /admin/questions: questions Loa could not answer, and the learned samples.

An officer sees only the questions of their own commune (the province sees all) and proposes a
sample from one: the question's own text, attached to a topic or marked out of scope. A sample
changes what every citizen is told, so it takes effect only when a second officer of the
province approves it, never one whose evaluation questions it would change; a province
administrator removes one at once. Every step is checked here on the server (posting the form
by hand gets no further than the page), rebuilds the matcher in every process when it changes
what citizens get, and goes to the audit log.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import logging
from pathlib import Path
from typing import Any

from aiohttp import web

from bot.core.evaluation import LabelledSetError
from bot.core.matching import Example
from bot.delivery.runtime import Runtime
from bot.features.officers import service as officers
from bot.features.officers import web as auth
from bot.features.officers.models import Role
from bot.features.questions import service as questions
from bot.features.questions.models import SampleStatus
from bot.web.admin import NavEntry, add_page, add_templates, render
from bot.web.keys import RUNTIME

log = logging.getLogger(__name__)
VN = dt.timezone(dt.timedelta(hours=7))
REVIEWERS = (Role.EDITOR, Role.APPROVER)     # admins pass every check too
DECIDERS = (Role.EDITOR, Role.APPROVER)      # ... of the province unit, never the proposer
MAX_IDS = 1000
SHOWN_CHANGES = 5
DONE = {"proposed", "approved", "rejected", "removed"}


TEMPLATES = Path(__file__).resolve().parent / "templates"
LEARNED = "loa_learned"   # cluster topic: taught questions changed, rebuild the matcher


def _services(request: web.Request) -> Runtime:
    return request.app[RUNTIME]


def _local(moment: dt.datetime | None) -> str:
    """Vietnam time; SQLite gives back UTC times without their zone."""
    if moment is None:
        return ""
    aware = moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
    return aware.astimezone(VN).strftime("%d/%m/%Y %H:%M")


def _topics(services: Runtime) -> list[tuple[str, str]]:
    content = services.conversation.contents["vi"]
    return [(t.id, f"{t.menu_label} — {t.title}") for t in content.topics.values()]


def _province(officer: auth.OfficerInfo) -> bool:
    return officer.unit_code == officers.PROVINCE_UNIT


def can_decide(officer: auth.OfficerInfo, sample: Any) -> bool:
    """A second pair of eyes: an officer of the province, not the one who proposed it."""
    return _province(officer) and officer.can(*DECIDERS) and sample.created_by != officer.actor


def can_remove(officer: auth.OfficerInfo) -> bool:
    return _province(officer) and officer.role == Role.ADMIN


async def _scope(conn: Any, officer: auth.OfficerInfo) -> questions.Scope:
    if _province(officer):
        return questions.PROVINCE
    unit = await officers.unit_by_id(conn, officer.unit_id)
    return questions.Scope(province=False, commune=unit.commune_code if unit else None)


async def _page(request: web.Request, officer: auth.OfficerInfo, status: int = 200,
                error: str | None = None, done: str | None = None) -> web.Response:
    services = _services(request)
    async with services.db.connect() as conn:
        scope = await _scope(conn, officer)
        rows = await questions.pending_questions(conn, scope)
        learned = await questions.learned_list(conn, None if scope.province
                                               else officer.unit_id)
        names = await questions.officer_names(
            conn, {a for s in learned for a in (s.created_by, s.decided_by, s.removed_by) if a})
    groups = questions.group_questions(rows)
    labels = {t.id: t.menu_label for t in services.conversation.contents["vi"].topics.values()}
    return render(request, "review.html", status=status, groups=groups, topics=_topics(services),
                  labels=labels, learned=learned, names=names, error=error, done=done,
                  local=_local, retention=services.settings.question_retention_days,
                  can_decide=lambda s: can_decide(officer, s), can_remove=can_remove(officer),
                  me=officer.actor, statuses=SampleStatus)


async def review_page(request: web.Request) -> web.Response:
    officer = await auth.require_officer(request, *REVIEWERS)
    done = request.query.get("done")
    return await _page(request, officer, done=done if done in DONE else None)


async def _guard(request: web.Request, new: Example) -> str | None:
    """Why `new` may not join the samples in use (a Vietnamese message), or None: the
    evaluation sets must get the same replies with it as without it."""
    services = _services(request)
    t = services.translator.gettext
    async with services.db.connect() as conn:
        active = await questions.active_examples(conn)
    try:
        items = await asyncio.to_thread(questions.evaluation_items, services.settings.eval_sets)
    except (OSError, LabelledSetError) as exc:
        log.error("evaluation sets unreadable (%s): learned samples refused",
                  exc.__class__.__name__)
        return t("vi", "Loa cannot check this sample now because its test questions cannot be "
                 "read. Nothing was changed; tell the operator (BOT_EVAL_SETS).")
    changes = await asyncio.to_thread(questions.evaluation_changes,
                                      services.conversation.matcher, active, new, items)
    if not changes:
        return None
    shown = "; ".join(f"“{c.text}”" for c in changes[:SHOWN_CHANGES])
    if len(changes) > SHOWN_CHANGES:
        shown += " " + t("vi", "and {n} more", n=len(changes) - SHOWN_CHANGES)
    return t("vi", "Refused: this sample would change Loa's answer to {n} test question(s): "
             "{questions}. Nothing was changed.", n=len(changes), questions=shown)


async def review_action(request: web.Request) -> web.Response:
    """Propose a sample from a question group: the first question's text, a topic or none.
    Any `text` field is ignored: the sample is always the stored question's own words."""
    officer = await auth.require_officer(request, *REVIEWERS)
    form = await request.post()
    auth.check_csrf(officer, form)
    services = _services(request)
    t = services.translator.gettext
    action = str(form.get("action", ""))
    topic = str(form.get("topic", ""))
    try:
        ids = [int(i) for i in str(form.get("ids", "")).split(",") if i.strip()][:MAX_IDS]
    except ValueError:
        ids = []
    if action not in {"attach", "out_of_scope"} or not ids:
        return await _page(request, officer, 400,
                           t("vi", "The form was incomplete; nothing was changed."))
    if action == "attach" and topic not in services.conversation.contents["vi"].topics:
        return await _page(request, officer, 400,
                           t("vi", "Choose the topic that answers this question."))
    target = topic if action == "attach" else None
    async with services.db.connect() as conn:
        scope = await _scope(conn, officer)
        rows = await questions.questions_by_ids(conn, ids)
    if len(rows) != len(set(ids)) or not all(questions.visible(r, scope) for r in rows):
        raise web.HTTPNotFound(text="404: no such question")    # another unit's, or gone
    from_kind, from_topic = questions.verdict(services.conversation.matcher, rows[0].text)
    refusal = await _guard(request, Example(target, rows[0].text[:questions.SAMPLE_CHARS]))
    if refusal:
        return await _page(request, officer, 409, refusal)
    async with services.db.begin() as conn:
        if await questions.duplicate_sample(conn, rows[0].text[:questions.SAMPLE_CHARS], target):
            sample_id = None
        else:
            sample_id = await questions.propose(conn, rows, target, (from_kind, from_topic),
                                                officer.actor, officer.unit_id)
        if sample_id is not None:
            await officers.audit(conn, officer.actor, "learned.propose", f"learned:{sample_id}",
                                 None, {"mô tả": "Đề xuất câu mẫu, chờ tỉnh duyệt",
                                        "câu": rows[0].text, "chủ đề": target or "ngoài phạm vi",
                                        "trước đó": f"{from_kind}:{from_topic or '-'}",
                                        "câu hỏi": len(rows)}, officer.unit_id)
    if sample_id is None:
        return await _page(request, officer, 409, t(
            "vi", "This question was already proposed or is already a sample; nothing was "
            "changed."))
    raise web.HTTPSeeOther("/admin/questions?done=proposed")


async def sample_action(request: web.Request) -> web.Response:
    """Approve, reject or remove one learned sample (POST /admin/questions/samples/{id})."""
    officer = await auth.require_officer(request, *REVIEWERS)
    form = await request.post()
    auth.check_csrf(officer, form)
    services = _services(request)
    t = services.translator.gettext
    action = str(form.get("action", ""))
    try:
        sample_id = int(request.match_info["sample_id"])
    except ValueError:
        raise web.HTTPNotFound(text="404: no such sample") from None
    async with services.db.connect() as conn:
        sample = await questions.sample_by_id(conn, sample_id)
    if sample is None or not (_province(officer) or sample.unit_id == officer.unit_id):
        raise web.HTTPNotFound(text="404: no such sample")
    if action not in {"approve", "reject", "remove"}:
        return await _page(request, officer, 400,
                           t("vi", "The form was incomplete; nothing was changed."))
    withdraw = action == "reject" and sample.created_by == officer.actor
    if action in {"approve", "reject"} and not (can_decide(officer, sample) or withdraw):
        message = (t("vi", "You cannot approve a sample you proposed: another officer of the "
                     "province must approve it.") if sample.created_by == officer.actor
                   else t("vi", "Only an officer of the province can approve or reject "
                          "samples."))
        return await _page(request, officer, 403, message)
    if action == "remove" and not can_remove(officer):
        return await _page(request, officer, 403, t(
            "vi", "Only an administrator of the province can remove a sample."))
    expected = SampleStatus.ACTIVE if action == "remove" else SampleStatus.PENDING
    if sample.status != expected:
        return await _page(request, officer, 409, t(
            "vi", "This sample has already been decided; nothing was changed."))
    if action == "approve":
        refusal = await _guard(request, Example(sample.topic, sample.text))
        if refusal:
            return await _page(request, officer, 409, refusal)
    async with services.db.begin() as conn:
        if action == "remove":
            done = await questions.remove(conn, sample, officer.actor)
        else:
            done = await questions.decide(conn, sample, action == "approve", officer.actor)
        if done:
            words = {"approve": "Duyệt câu mẫu: Loa dùng từ bây giờ",
                     "reject": "Rút lại đề xuất câu mẫu" if withdraw
                     else "Từ chối câu mẫu",
                     "remove": "Gỡ câu mẫu: Loa không dùng nữa"}[action]
            await officers.audit(conn, officer.actor, f"learned.{action}", f"learned:{sample.id}",
                                 {"trạng thái": sample.status},
                                 {"mô tả": words, "câu": sample.text,
                                  "chủ đề": sample.topic or "ngoài phạm vi",
                                  "người đề xuất": sample.created_by}, officer.unit_id)
    if not done:
        return await _page(request, officer, 409, t(
            "vi", "This sample has already been decided; nothing was changed."))
    if action in {"approve", "remove"}:          # what citizens are told changes: everywhere
        await questions.refresh_matcher(services.db, services.conversation)
        services.cluster.notify(LEARNED, str(services.cluster.instance_id))
    raise web.HTTPSeeOther("/admin/questions?done=" + {"approve": "approved",
                                                        "reject": "rejected",
                                                        "remove": "removed"}[action])


def setup(app: web.Application) -> None:
    """/admin/questions: unanswered questions, taught questions."""
    add_templates(app, TEMPLATES)
    add_page(app, NavEntry("/admin/questions", "Questions", REVIEWERS))
    app.router.add_get("/admin/questions", review_page)
    app.router.add_post("/admin/questions", review_action)
    app.router.add_post("/admin/questions/samples/{sample_id}", sample_action)
