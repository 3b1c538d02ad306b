"""Admin pages /admin/translations: status per language, reviewers' preview of drafts (bannered,
reviewers only), approve / send back, voice clip upload, PO export and import.

Only a reviewer of a language (officer role `reviewer` with that language) sees its drafts or
decides on them; editors and admins see states, upload clips and exchange files.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import logging
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from bot.core.content import CHECK_ID
from bot.core.i18n import AUTONYMS, LANGUAGE_NAMES, UNCONFIRMED_AUTONYMS, safe_format
from bot.core.messages import ConversationState, Inbound, InboundKind, Reply
from bot.delivery.runtime import Runtime
from bot.features.officers import web as auth
from bot.features.officers.models import Role
from bot.features.officers.service import PROVINCE_UNIT
from bot.features.translations.audio import ClipError, check_clip, store_clip
from bot.features.translations.files import (
    TranslationImportError,
    all_units,
    export_catalog,
    import_catalog,
)
from bot.features.translations.rules import (
    MENU_UNIT,
    TAGS,
    Clip,
    Kind,
    State,
    Unit,
    base_tag,
    digest,
)
from bot.features.translations.service import StringCatalog, Translations
from bot.features.translations.store import (
    add_clip,
    history,
    latest_decisions,
    record_decision,
    refresh,
    served_counts,
    uploaded_clips,
)
from bot.web.admin import NavEntry, add_page, add_templates, render
from bot.web.keys import RUNTIME

log = logging.getLogger(__name__)

TRANSLATIONS = web.AppKey("translations", Translations)
VN = dt.timezone(dt.timedelta(hours=7))
ROLES = (Role.REVIEWER, Role.EDITOR)          # admins pass every check too
MAX_PO_BYTES = 1024 * 1024
MAX_FIELD = 200
DONE = {"approved": "Approved: citizens now get this text.",
        "sent_back": "Sent back: citizens keep getting the Vietnamese.",
        "clip": "Voice clip uploaded. A reviewer of the language must approve it.",
        "imported": "Imported as drafts. A reviewer must approve them before citizens see "
                    "them."}


TEMPLATES = Path(__file__).resolve().parent / "templates"
CHANGED = "loa_content"   # cluster topic: reviewers' decisions or clips changed


def _services(request: web.Request) -> Runtime:
    return request.app[RUNTIME]


def may_review(officer: auth.OfficerInfo, lang: str) -> bool:
    """Only a reviewer of the language (not an admin, who does not speak it) decides."""
    return officer.role == Role.REVIEWER and base_tag(officer.language or "") == lang


def _names(request: web.Request, lang: str) -> dict[str, str]:
    t = _services(request).translator.gettext
    return {"autonym": AUTONYMS.get(lang, lang), "tag": TAGS.get(lang, lang),
            "vi": t("vi", LANGUAGE_NAMES.get(lang, lang)),
            "unconfirmed": "1" if lang in UNCONFIRMED_AUTONYMS else ""}


async def _language(request: web.Request) -> tuple[auth.OfficerInfo, Translations, str]:
    officer = await auth.require_officer(request, *ROLES)
    service = request.app[TRANSLATIONS]
    lang = request.match_info["lang"]
    if lang not in service.languages:
        raise web.HTTPNotFound(text="404: no such language here")
    if officer.role == Role.REVIEWER and not may_review(officer, lang):
        raise web.HTTPForbidden(text="403: you review another language")
    await _reread(request)     # the files may have changed (import, export --approvals)
    return officer, service, lang


def _local(moment: dt.datetime | None) -> str:
    if moment is None:
        return ""
    aware = moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
    return aware.astimezone(VN).strftime("%d/%m/%Y %H:%M")


async def _reread(request: web.Request) -> None:
    """For a page: the files and the reviewers' decisions as they are now, read off the event
    loop. What citizens are told does not change on a GET (that is _reinstall's, after a
    decision)."""
    service = request.app[TRANSLATIONS]
    async with _services(request).db.connect() as conn:
        decisions, clips = await latest_decisions(conn), await uploaded_clips(conn)
    await asyncio.to_thread(service.reload, decisions, clips)


async def _reinstall(request: web.Request, changed: bool = False) -> None:
    """After a decision, an upload or an import (POST only; pages never change what citizens
    see on GET): apply the reviewers' decisions here and, `changed`, tell the other Loa
    processes (bot/features/translations/feature.py reloads there)."""
    services = _services(request)
    service = request.app[TRANSLATIONS]
    async with services.db.connect() as conn:
        await refresh(conn, service)
    service.install(services.conversation, services.translator)
    if changed:
        services.cluster.notify(CHANGED, str(services.cluster.instance_id))


# -- pages -------------------------------------------------------------------------------------

async def overview(request: web.Request) -> web.Response:
    officer = await auth.require_officer(request, *ROLES)
    service = request.app[TRANSLATIONS]
    services = _services(request)
    await _reread(request)
    langs = [lang for lang in service.languages
             if officer.role != Role.REVIEWER or may_review(officer, lang)]
    rows = []
    for lang in langs:
        counts = {s: 0 for s in State}
        for unit in all_units(service, lang):
            counts[service.verdict(unit).state] += 1
        clips = [service.clip_verdict(c).state for c in service.clips.get(lang, [])]
        rows.append({"lang": lang, **_names(request, lang), "counts": counts,
                     "clips": sum(s is State.APPROVED for s in clips), "clip_total": len(clips),
                     "open": _openness(request, officer, lang)})
    now = dt.datetime.now(VN)
    start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    async with services.db.connect() as conn:
        served = await served_counts(conn, start.astimezone(dt.UTC), now.astimezone(dt.UTC)
                                     + dt.timedelta(minutes=1))
    vi = service.vi.topics
    core = ", ".join(vi[t].menu_label if t in vi else t for t in services.conversation.core_topics)
    return render(request, "translations.html", rows=rows, states=list(State), served=served,
                  core=core,
                  month=now.strftime("%m/%Y"), names={lang: _names(request, lang)["vi"]
                                                      for lang in ("vi", *service.languages)})


def _openness(request: web.Request, officer: auth.OfficerInfo, lang: str) -> str:
    """Whether citizens get `lang`, as the language picker decides it (Conversation.ready: the
    core topics approved, and the language switched on); if not, why, in words. Only the
    province's administrators, who can have it switched on, are told it is off on the server."""
    conversation = _services(request).conversation
    tr = _services(request).translator.gettext
    if lang in conversation.ready:
        return tr("vi", "Yes: citizens can choose it")
    content = conversation.contents.get(lang)
    translated = content.translated if content is not None else frozenset()
    vi = request.app[TRANSLATIONS].vi.topics
    waiting = [vi[t].menu_label if t in vi else t for t in conversation.core_topics
               if t not in translated]
    reasons = []
    if waiting and len(waiting) == len(conversation.core_topics):
        reasons.append(tr("vi", "still waiting for approval of all {n} core topics",
                          n=len(waiting)))
    elif waiting:
        reasons.append(tr("vi", "still waiting for approval of the core topics ({topics})",
                          topics=", ".join(waiting)))
    if lang not in conversation.languages and officer.unit_code == PROVINCE_UNIT \
            and officer.role == Role.ADMIN:
        reasons.append(tr("vi", "not switched on on the server"))
    return tr("vi", "Not open: {reasons}", reasons="; ".join(reasons)) if reasons \
        else tr("vi", "Not open")


def _unit_row(service: Translations, unit: Unit, reviewer: bool) -> dict[str, Any]:
    verdict = service.verdict(unit)
    return {"unit": unit, "verdict": verdict, "source": unit.source, "target": unit.target,
            "draft_visible": reviewer, "outdated": bool(unit.prov.source_hash)
            and unit.prov.source_hash != unit.source_hash and not verdict.served,
            "can_approve": reviewer and unit.complete and not verdict.served,
            "can_send_back": reviewer and not unit.empty and verdict.state is not State.SENT_BACK}


async def language_page(request: web.Request, status: int = 200, error: str | None = None,
                        problems: list[str] | None = None,
                        values: dict[str, str] | None = None) -> web.Response:
    officer, service, lang = await _language(request)
    reviewer = may_review(officer, lang)
    units = all_units(service, lang)
    texts = [_unit_row(service, u, reviewer) for u in units if u.kind is Kind.TEXT]
    strings = [_unit_row(service, u, reviewer) for u in units if u.kind is Kind.STRING]
    clips = [{"clip": c, "verdict": service.clip_verdict(c)} for c in service.clips.get(lang, [])]
    async with _services(request).db.connect() as conn:
        decisions = await history(conn, lang)
    done = request.query.get("done", "")
    topics = [(tid, t.menu_label) for tid, t in service.vi.topics.items()]
    return render(request, "translation_lang.html", status=status, lang=lang,
                  name=_names(request, lang), reviewer=reviewer, texts=texts, strings=strings,
                  clips=clips, decisions=decisions, local=_local, done=DONE.get(done),
                  error=error, problems=problems or [], topics=topics, values=values or {},
                  today=dt.date.today().isoformat(), check_id=CHECK_ID, menu_unit=MENU_UNIT)


def _preview_replies(request: web.Request, service: Translations, lang: str,
                     topic: str | None) -> list[dict[str, Any]]:
    """What a citizen would see if the drafts were approved (reviewers only): the menu and the
    chosen topic's answer (or the phone check), through the same conversation code."""
    from bot.core.conversation import Conversation
    services = _services(request)
    translator = _DraftTranslator(services.translator, lang, service.draft_strings(lang))
    # core_topics=(): the language is shown however few of its topics have drafts
    preview = Conversation({"vi": service.vi, lang: service.draft_content(lang)}, translator,
                           ("vi", lang), core_topics=())
    state = ConversationState(lang=lang)
    inbounds = [Inbound(InboundKind.COMMAND, text="menu")]
    if topic in service.vi.topics:
        inbounds.append(Inbound(InboundKind.CHOICE, choice=f"topic:{topic}"))
    elif topic == CHECK_ID:
        inbounds.append(Inbound(InboundKind.CHOICE, choice=CHECK_ID))
    replies: list[Reply] = [r for i in inbounds for r in preview.step(state, i).replies]
    out = []
    for reply in replies:
        rows = [[{"label": b.label, "topic": b.choice.partition(":")[2]
                  if b.choice.startswith("topic:") else (CHECK_ID if b.choice == CHECK_ID
                                                         else "")} for b in row]
                for row in reply.buttons]
        out.append({"text": reply.text, "rows": rows,
                    "audio": f"/media/{reply.audio}" if reply.audio else None})
    return out


class _DraftTranslator:
    """Interface strings for the preview: drafts where they exist, else the Vietnamese."""

    def __init__(self, base: Any, lang: str, drafts: dict[str, str]) -> None:
        self.base = base
        self.lang = lang
        self.catalog = StringCatalog(drafts)

    def gettext(self, lang: str, msgid: str, /, **values: object) -> str:
        if lang != self.lang:
            return str(self.base.gettext(lang, msgid, **values))
        text = self.catalog.gettext(msgid)
        if text == msgid:
            return str(self.base.gettext("vi", msgid, **values))
        return safe_format(text, values) if values else text


async def preview(request: web.Request) -> web.Response:
    officer, service, lang = await _language(request)
    if not may_review(officer, lang):
        raise web.HTTPForbidden(text="403: only reviewers of this language see drafts")
    topic = request.query.get("topic") or None
    if topic not in service.vi.topics and topic != CHECK_ID:
        topic = None                  # only known topics are named on the page
    units = {u.key: u for u in service.units.get(lang, []) if u.kind is Kind.TEXT}
    unit = units.get(topic or "")
    row = _unit_row(service, unit, True) if unit is not None else None
    clips = [{"clip": c, "verdict": service.clip_verdict(c)}
             for c in service.clips.get(lang, []) if c.topic == topic]
    # A topic added to Vietnamese after the language's files were made has no unit yet.
    topics = [(tid, (units[tid].target.get("menu_label") if tid in units else "")
               or t.menu_label, service.verdict(units[tid]).state if tid in units
               else State.EMPTY)
              for tid, t in service.vi.topics.items()]
    return render(request, "translation_preview.html", lang=lang, name=_names(request, lang),
                  replies=_preview_replies(request, service, lang, topic), topic=topic,
                  row=row, clips=clips, topics=topics, done=DONE.get(request.query.get("done", "")),
                  check_id=CHECK_ID)


# -- actions -----------------------------------------------------------------------------------

async def review(request: web.Request) -> web.StreamResponse:
    officer, service, lang = await _language(request)
    form = await request.post()
    auth.check_csrf(officer, form)
    t = _services(request).translator.gettext
    if not may_review(officer, lang):
        raise web.HTTPForbidden(text="403: only a reviewer of this language approves it")
    key, decision = str(form.get("unit", "")), str(form.get("decision", ""))
    target_hash, note = str(form.get("target_hash", "")), str(form.get("note", ""))[:1000]
    back = str(form.get("next", ""))
    if not back.startswith(f"/admin/translations/{lang}"):
        back = f"/admin/translations/{lang}"
    unit = service.unit(lang, key)
    clip = service.clip(lang, key)
    if decision not in ("approved", "sent_back") or (unit is None and clip is None):
        return await language_page(request, 400, t("vi", "The form was incomplete; nothing "
                                                    "was changed."))
    if unit is not None:
        current, label = unit.target_hash, unit.label
        source_hash = unit.source_hash
        if decision == "approved" and not unit.complete:
            return await language_page(request, 400, t("vi", "Only a complete translation "
                                                        "can be approved."))
    else:
        assert clip is not None
        current, label = clip.sha256, f"clip {clip.topic} ({clip.path})"
        source_hash = digest(service.sources[clip.topic])
    if target_hash != current:
        return await language_page(request, 409, t("vi", "This text changed since you opened "
                                                    "the page. Read it again, then decide."))
    async with _services(request).db.begin() as conn:
        await record_decision(conn, officer, lang, key, label, decision, current, source_hash,
                              note)
    await _reinstall(request, changed=True)
    path, hash_, fragment = back.partition("#")
    sep = "&" if "?" in path else "?"
    raise web.HTTPSeeOther(f"{path}{sep}done={decision}{hash_}{fragment}")


async def _read_multipart(request: web.Request, limit: int) -> tuple[dict[str, str], bytes | None]:
    """Text fields and the one file of a multipart form, refusing files over `limit`."""
    fields: dict[str, str] = {}
    data: bytes | None = None
    if not request.content_type.startswith("multipart/"):
        raise web.HTTPBadRequest(text="400: send the form as multipart/form-data")
    reader = await request.multipart()
    while (part := await reader.next()) is not None:
        if not isinstance(part, aiohttp.BodyPartReader) or not part.name:
            continue
        if part.filename is not None:
            chunks, size = [], 0
            while chunk := await part.read_chunk():
                size += len(chunk)
                if size > limit:
                    return fields, b"\0" * (limit + 1)
                chunks.append(chunk)
            data = b"".join(chunks)
        else:
            fields[part.name] = (await part.read(decode=True)).decode("utf-8", "replace")[:2000]
    return fields, data


async def upload_clip(request: web.Request) -> web.StreamResponse:
    officer, service, lang = await _language(request)
    t = _services(request).translator.gettext
    fields, data = await _read_multipart(request, 3 * 1024 * 1024)
    auth.check_csrf(officer, fields)
    values = {k: " ".join(fields.get(k, "").split())[:MAX_FIELD]
              for k in ("topic", "speaker", "editor", "recorded", "licence")}
    error = None
    try:
        recorded = dt.date.fromisoformat(values["recorded"])
    except ValueError:
        recorded = None
    if values["topic"] not in service.vi.topics:
        error = t("vi", "Choose the topic the clip reads.")
    elif not all(values[k] for k in ("speaker", "editor", "licence")):
        error = t("vi", "Speaker, editor and licence are all needed.")
    elif recorded is None or recorded > dt.date.today():
        error = t("vi", "The recording date must be a date, not in the future.")
    elif not data:
        error = t("vi", "Choose the clip file (OGG/Opus).")
    if error is None:
        assert data is not None and recorded is not None
        try:   # 3 MB of CRC checks take a while: off the event loop, which keeps answering
            info = await asyncio.to_thread(check_clip, data)
        except ClipError as exc:
            error = t("vi", exc.msgid, **exc.values)
        else:
            if any(c.sha256 == info.sha256 and c.topic == values["topic"]
                   for c in service.clips.get(lang, [])):
                error = t("vi", "This clip is already uploaded for this topic.")
    if error is not None:
        return await language_page(request, 400, error, values=values)
    path = await asyncio.to_thread(store_clip, service.media, lang, values["topic"],
                                   data or b"", info)
    clip = Clip(lang, values["topic"], path, info.sha256, values["speaker"], values["editor"],
                values["recorded"], values["licence"],
                digest(service.sources[values["topic"]]), duration_s=info.seconds)
    async with _services(request).db.begin() as conn:
        await add_clip(conn, officer, clip, info.size)
    await _reinstall(request, changed=True)
    raise web.HTTPSeeOther(f"/admin/translations/{lang}?done=clip#clips")


async def export_po(request: web.Request) -> web.Response:
    _, service, lang = await _language(request)
    po = export_catalog(service, lang, everything=request.query.get("all") == "1")
    return web.Response(body=po.__unicode__().encode("utf-8"),
                        content_type="text/x-gettext-translation", charset="utf-8",
                        headers={"Content-Disposition":
                                 f'attachment; filename="loa-{lang}.po"'})


async def import_po(request: web.Request) -> web.StreamResponse:
    officer, service, lang = await _language(request)
    t = _services(request).translator.gettext
    fields, data = await _read_multipart(request, MAX_PO_BYTES)
    auth.check_csrf(officer, fields)
    translator = " ".join(fields.get("translator", "").split())[:MAX_FIELD]
    method = fields.get("method", "human")
    if not data or len(data) > MAX_PO_BYTES:
        return await language_page(request, 400, t("vi", "Choose a PO file of at most 1 MB."))
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return await language_page(request, 400, t("vi", "The file is not UTF-8 text."))
    try:
        result = await asyncio.to_thread(import_catalog, service, lang, text, translator,
                                         method)
    except TranslationImportError as exc:
        return await language_page(request, 400, t("vi", "Nothing was imported. Fix these "
                                                   "problems and try again:"),
                                   problems=exc.problems)
    async with _services(request).db.begin() as conn:
        from bot.features.officers import service as officers
        await officers.audit(conn, officer.actor, "translation.import", f"lang:{lang}", None,
                             {"changed": len(result.changed), "translator": translator,
                              "method": method}, officer.unit_id)
    await _reinstall(request, changed=True)
    raise web.HTTPSeeOther(f"/admin/translations/{lang}?done=imported")


# -- /media: voice clips -----------------------------------------------------------------------

def public_clips(service: Translations) -> set[str]:
    """Clips anyone may fetch: the Vietnamese topics' own and each language's approved,
    current clip (what citizens are sent)."""
    paths = {t.audio for t in service.vi.topics.values() if t.audio}
    for lang in service.languages:
        paths.update(service.served_clips(lang).values())
    return paths


async def media(request: web.Request) -> web.StreamResponse:
    """GET /media/<lang>/<file>: approved, current clips for everyone; any other known clip
    only to an officer who may review it (a reviewer of its language, an editor, an admin).
    Only paths Loa itself recorded are served, so nothing outside the media folder is."""
    service = request.app[TRANSLATIONS]
    relative = request.match_info["path"]
    cache = "public, max-age=300"
    if relative not in public_clips(service):
        officer = await auth.current_officer(request)
        if officer is None or not officer.can(*ROLES):
            raise web.HTTPNotFound(text="404: no such clip")
        await _reread(request)      # a clip uploaded through another Loa process
        langs = {c.lang for clips in service.clips.values() for c in clips if c.path == relative}
        if not any(officer.role != Role.REVIEWER or may_review(officer, lang) for lang in langs):
            raise web.HTTPNotFound(text="404: no such clip")
        cache = "no-store"
    root = service.media.resolve()
    path = (root / relative).resolve()
    if not path.is_relative_to(root) or not path.is_file():
        raise web.HTTPNotFound(text="404: no such clip")
    return web.FileResponse(path, headers={"Cache-Control": cache,
                                           "Content-Type": "audio/ogg"})


# -- wiring ------------------------------------------------------------------------------------

def setup(app: web.Application, service: Translations) -> None:
    """/admin/translations and /media (the one way clips are served)."""
    app[TRANSLATIONS] = service
    add_templates(app, TEMPLATES)
    add_page(app, NavEntry("/admin/translations", "Translations", ROLES))
    app.router.add_get("/media/{path:.+}", media)
    app.router.add_get("/admin/translations", overview)
    app.router.add_get("/admin/translations/{lang:[a-z]{3}}", language_page)
    app.router.add_get("/admin/translations/{lang:[a-z]{3}}/preview", preview)
    app.router.add_post("/admin/translations/{lang:[a-z]{3}}/review", review)
    app.router.add_post("/admin/translations/{lang:[a-z]{3}}/clips", upload_clip)
    app.router.add_get("/admin/translations/{lang:[a-z]{3}}/export.po", export_po)
    app.router.add_post("/admin/translations/{lang:[a-z]{3}}/import", import_po)
