"""Admin pages of issue 7: the monthly report (unit and province), its exports, the offline
outreach form with evidence, submission and amendments, and the printable outreach kit.

Officers see their own unit; officers of the province unit ("tinh") see every unit.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlencode

from aiohttp import BodyPartReader, web
from sqlalchemy import select

from bot.delivery.runtime import Runtime
from bot.features.officers import audit_text
from bot.features.officers import service as officers
from bot.features.officers import web as auth
from bot.features.outreach import service as outreach
from bot.features.outreach.reports import exports, forms
from bot.features.outreach.reports.exports import group_rows
from bot.features.outreach.reports.model import (
    STATUSES,
    MonthReport,
    build_report,
    counting_rule,
    status_label,
    status_of,
)
from bot.features.outreach.reports.monthly import MonthError, monthly_counts, parse_month
from bot.store import queries
from bot.web.admin import NavEntry, Waiting, add_page, add_templates, render, waiting_for
from bot.web.keys import RUNTIME

log = logging.getLogger(__name__)
VIEW_ROLES = ("viewer", "editor", "approver")
WRITE_ROLES = outreach.WRITE_ROLES
KIT_FORMS = {"leaflet": "Leaflet printed by Loa", "loudspeaker": "Commune loudspeaker system"}


def _see_other(path: str, **params: str) -> web.HTTPSeeOther:
    return web.HTTPSeeOther(f"{path}?{urlencode(params)}")


# Confirmations a redirect may ask for by code (?notice=...); the texts are in the templates.
# Nothing else from the query string is shown: a crafted link cannot put words on the page.
REPORT_NOTICES = frozenset({"submitted", "saved", "updated", "deleted"})
KIT_NOTICES = frozenset({"logged:leaflet", "logged:loudspeaker"})


def _error_text(exc: outreach.OutreachError) -> str:
    return " ".join(exc.errors.values())[:300]


def _notice(request: web.Request, allowed: frozenset[str]) -> str:
    code = request.query.get("notice", "")
    return code if code in allowed else ""

TEMPLATES = Path(__file__).resolve().parent / "templates"


def _services(request: web.Request) -> Runtime:
    return request.app[RUNTIME]


def tr_for(request: web.Request) -> Callable[..., str]:
    translator = _services(request).translator
    return lambda msgid, **values: translator.gettext("vi", msgid, **values)


def _actor(officer: auth.OfficerInfo) -> outreach.Actor:
    return outreach.Actor(officer.id, officer.unit_id, officer.role)


def _is_province(officer: auth.OfficerInfo) -> bool:
    return officer.unit_code == officers.PROVINCE_UNIT


def _month(request: web.Request, value: str | None = None) -> tuple[str, str | None]:
    """The month asked for (default: last month, the one being reported) and an error."""
    today = outreach.today_vn()
    default = forms.shift_month(forms.month_of(today), -1)
    month = (value if value is not None else request.query.get("month", "")).strip()
    if not month:
        return default, None
    try:
        parse_month(month, today)
    except MonthError as exc:
        return default, str(exc)
    return month, None


def _scope(request: web.Request, officer: auth.OfficerInfo, value: str | None = None) -> str | None:
    """The unit code to report on; None is the whole province (province officers only)."""
    if not _is_province(officer):
        return officer.unit_code
    unit = (value if value is not None else request.query.get("unit", "")).strip()
    return unit or None


def _topic_labels(request: web.Request) -> dict[str, str]:
    """Topic id -> title in the Vietnamese content: tables name topics, never ids."""
    return forms.topic_titles(_services(request).conversation.contents["vi"])


async def _report(request: web.Request, conn: Any, month: str, unit: str | None) -> MonthReport:
    settings = _services(request).settings
    try:
        return await build_report(conn, month, tr_for(request), unit_code=unit,
                                  province_name=settings.unit,
                                  deadline_day=settings.report_deadline_day,
                                  topic_labels=_topic_labels(request))
    except ValueError:
        raise web.HTTPNotFound(text="404: unknown unit") from None


def _months() -> list[str]:
    current = forms.month_of(outreach.today_vn())
    return [forms.shift_month(current, -i) for i in range(13)]


async def report_page(request: web.Request, month_value: str | None = None,
                      error: str | None = None, status: int = 200) -> web.Response:
    """The report of a month; a refused action (`error`) shows it without a redirect."""
    officer = await auth.require_officer(request, *VIEW_ROLES)
    month, month_error = _month(request, month_value)
    unit = _scope(request, officer)
    db = _services(request).db
    async with db.connect() as conn:
        report = await _report(request, conn, month, unit)
        entries, names, amendments = [], {}, []
        if not report.province:
            unit_row = await officers.unit_by_code(conn, report.unit_code)
            entries = await outreach.list_entries(conn, month, unit_row.id)
            names = {o.id: o.name for o in await officers.officers(conn, unit_row.id)}
            amendments = await outreach.amendments(conn, month, unit_row.id)
        units = await officers.list_units(conn) if _is_province(officer) else []
    unit_status = report.statuses[0] if not report.province and report.statuses else None
    # The status table of the units, narrowed by a plain GET form (works without script).
    status_filter = request.query.get("status", "")
    status_filter = status_filter if status_filter in STATUSES else ""
    search = " ".join(request.query.get("q", "").split())[:80]
    can_submit = (not report.province and report.unit_code == officer.unit_code
                  and officer.can(*WRITE_ROLES) and unit_status is not None
                  and unit_status.status in ("pending", "missing")
                  and month < forms.month_of(outreach.today_vn()))
    return render(request, "report.html", status=status, report=report, month=month,
                  months=_months(), month_error=month_error, unit=unit or "", units=units,
                  entries=entries, names=names, amendments=amendments,
                  unit_status=unit_status, can_submit=can_submit,
                  can_write=officer.can(*WRITE_ROLES), forms=forms,
                  notice="" if error else _notice(request, REPORT_NOTICES), error=error,
                  officer_id=officer.id, tr=tr_for(request),
                  is_admin=officer.role == "admin", own_unit=officer.unit_code,
                  status_filter=status_filter, search=search,
                  status_options=[(c, status_label(tr_for(request), c)) for c in STATUSES],
                  shown_statuses=report.filter_statuses(status_filter, search),
                  rule=counting_rule(tr_for(request)), group_rows=group_rows(report,
                                                                           tr_for(request)))


async def export(request: web.Request) -> web.Response:
    officer = await auth.require_officer(request, *VIEW_ROLES)
    month, error = _month(request)
    if error:
        raise web.HTTPBadRequest(text=f"400: {error}")
    fmt = request.match_info["fmt"]
    tr = tr_for(request)
    async with _services(request).db.connect() as conn:
        report = await _report(request, conn, month, _scope(request, officer))
    if fmt == "csv":
        body, ctype = exports.to_csv(report, tr), "text/csv; charset=utf-8"
    elif fmt == "xlsx":
        body, ctype = await asyncio.to_thread(exports.to_xlsx, report, tr), exports.XLSX_TYPE
    elif fmt == "docx":
        from bot.features.outreach.reports.document import DOCX_TYPE, to_docx
        body, ctype = await asyncio.to_thread(to_docx, report, tr), DOCX_TYPE
    else:
        from bot.features.outreach.reports.chart import trend_png
        body, ctype = await asyncio.to_thread(trend_png, report, tr), "image/png"
    disposition = "inline" if fmt == "png" else "attachment"
    return web.Response(body=body, headers={
        "Content-Type": ctype, "Cache-Control": "no-store",
        "Content-Disposition": f'{disposition}; filename="{exports.filename(report, fmt)}"'})


def _confirm(request: web.Request, *, title: str, what: str, action: str, button: str,
             back: str, hidden: list[tuple[str, str]], danger: bool = False) -> web.Response:
    """The step before an action that cannot simply be undone: it says what will happen and
    asks again (the first POST changes nothing; the confirmation's button acts once)."""
    return render(request, "outreach_confirm.html", title=title, what=what, action=action,
                  button=button, back=back, hidden=hidden, danger=danger)


async def submit(request: web.Request) -> web.Response:
    officer = await auth.require_officer(request, *WRITE_ROLES)
    form = await request.post()
    auth.check_csrf(officer, form)
    month, error = _month(request, str(form.get("month", "")))
    tr = tr_for(request)
    if not error and form.get("confirm") != "yes":
        words = forms.month_label(month)
        return _confirm(
            request, title=tr("Submit the report for {month}?", month=words),
            what=tr("The report of {unit} for {month} goes to the province. After that, this "
                    "month's entries are locked: any change needs a reason and is recorded as "
                    "an amendment.", unit=officer.unit_name, month=words),
            action="/admin/reports/submit", button=tr("Yes, submit the report"),
            back=f"/admin/reports?month={month}", hidden=[("month", month)])
    try:
        if error:
            raise outreach.OutreachError({"_": error})
        async with _services(request).db.begin() as conn:
            await outreach.submit_month(conn, _actor(officer), month, outreach.today_vn(), tr)
    except outreach.OutreachError as exc:
        return await report_page(request, month, _error_text(exc), 409)
    raise _see_other("/admin/reports", month=month, notice="submitted")


# -- the outreach form -------------------------------------------------------------------------

async def _read_form(request: web.Request) -> tuple[dict[str, list[str]], tuple[str, bytes] | None,
                                                     str | None]:
    """Fields, an uploaded evidence file, and an error about the file (too large)."""
    fields: dict[str, list[str]] = {}
    upload = None
    file_error = None
    if not request.content_type.startswith("multipart/"):
        for key, value in (await request.post()).items():
            fields.setdefault(key, []).append(str(value))
        return fields, None, None
    reader = await request.multipart()
    while (part := await reader.next()) is not None:
        if not isinstance(part, BodyPartReader) or not part.name:
            continue
        if part.filename is not None:
            content = bytearray()
            while chunk := await part.read_chunk(64 * 1024):
                content.extend(chunk)
                if len(content) > outreach.MAX_EVIDENCE:
                    file_error = "too_large"
                    while await part.read_chunk(64 * 1024):
                        pass
                    break
            if part.filename and content and file_error is None:
                # Some clients percent-encode non-ASCII file names (RFC 5987); browsers do not.
                upload = (unquote(part.filename), bytes(content))
        else:
            text = (await part.read(decode=True)).decode("utf-8", "replace")
            if len(text) > 20_000:
                raise web.HTTPRequestEntityTooLarge(max_size=20_000, actual_size=len(text))
            fields.setdefault(part.name, []).append(text)
    return fields, upload, file_error


def _one(fields: dict[str, list[str]], name: str) -> str:
    return fields.get(name, [""])[0]


async def _unit_commune(request: web.Request, officer: auth.OfficerInfo) -> str | None:
    async with _services(request).db.connect() as conn:
        unit = await officers.unit_by_code(conn, officer.unit_code)
    return unit.commune_code if unit is not None else None


def _form_values(row: Any | None, default_commune: str | None) -> dict[str, Any]:
    if row is None:
        return {"day": outreach.today_vn().isoformat(), "form": "", "form_other": "",
                "medium": "", "runs": "1", "reached": "", "note": "", "reason": "",
                "communes": [default_commune] if default_commune else [], "languages": ["vi"],
                "groups": []}
    return {"day": row.day.isoformat(), "form": row.form, "form_other": row.form_other or "",
            "medium": row.medium, "runs": str(row.runs),
            "reached": "" if row.reached is None else str(row.reached), "note": row.note or "",
            "reason": "", "communes": [c for c in row.communes.split(",") if c],
            "languages": [c for c in row.languages.split(",") if c],
            "groups": [c for c in row.target_groups.split(",") if c]}


def _reachable(reach: tuple[str, ...] | None, also: Sequence[str] = ()) -> dict[str, str]:
    """The communes a unit may pick (code -> name): every one for the province and the
    province-wide units, a commune's own for a commune officer. `also` keeps what a stored
    entry or a refused form already holds visible, so nothing disappears without a word (the
    service refuses it with a clear message)."""
    if reach is None:
        return forms.communes()
    codes = [*reach, *(c for c in also if c not in reach and c in forms.communes())]
    return {code: forms.commune_name(code) for code in codes}


async def _render_form(request: web.Request, officer: auth.OfficerInfo, values: dict[str, Any],
                       entry: Any | None, errors: dict[str, str], locked: bool,
                       evidence_token: str = "", evidence_name: str = "",
                       status: int = 200) -> web.Response:
    reach = outreach.reach_of(await _unit_commune(request, officer))
    return render(request, "outreach_form.html", status=status, values=values, entry=entry,
                  errors=errors, locked=locked or "reason" in errors, forms=forms,
                  communes=_reachable(reach, values.get("communes") or []),
                  own_only=reach is not None, today=outreach.today_vn().isoformat(),
                  evidence_token=evidence_token, evidence_name=evidence_name,
                  suggestions=sorted({s for v in forms.MEDIUM_SUGGESTIONS.values() for s in v}),
                  groups=[(c, forms.group_label(tr_for(request), c)) for c in forms.GROUP_CODES])


async def _entry_for(request: web.Request, officer: auth.OfficerInfo) -> Any:
    try:
        entry_id = int(request.match_info["entry_id"])
    except ValueError:
        raise web.HTTPNotFound() from None
    async with _services(request).db.connect() as conn:
        row = await outreach.get_entry(conn, entry_id)
    if row is None or row.unit_id != officer.unit_id:
        raise web.HTTPNotFound(text="404: this entry does not exist or belongs to another unit")
    return row


async def entry_form(request: web.Request) -> web.Response:
    officer = await auth.require_officer(request, *WRITE_ROLES)
    entry = await _entry_for(request, officer) if "entry_id" in request.match_info else None
    values = _form_values(entry, await _unit_commune(request, officer))
    if entry is None and request.query.get("day"):
        values["day"] = request.query["day"][:10]
    locked = False
    if entry is not None:
        async with _services(request).db.connect() as conn:
            locked = await outreach.submission(conn, officer.unit_id, entry.month) is not None
    return await _render_form(request, officer, values, entry, {}, locked)


async def entry_save(request: web.Request) -> web.Response:
    officer = await auth.require_officer(request, *WRITE_ROLES)
    entry = await _entry_for(request, officer) if "entry_id" in request.match_info else None
    fields, upload, file_error = await _read_form(request)
    auth.check_csrf(officer, {"csrf": _one(fields, "csrf")})
    services = _services(request)
    tr = tr_for(request)
    secret, data_dir = services.settings.secret_key, services.settings.data_dir
    errors: dict[str, str] = {}
    evidence = None
    if file_error:
        errors["evidence"] = tr("The evidence file is too large (at most {mb} MB).",
                                mb=outreach.MAX_EVIDENCE // (1024 * 1024))
    elif upload is not None:
        try:
            evidence = outreach.store_evidence(data_dir, upload[0], upload[1], tr)
        except outreach.OutreachError as exc:
            errors.update(exc.errors)
    elif _one(fields, "evidence_token"):
        evidence = outreach.read_evidence_token(secret, officer.id,
                                                _one(fields, "evidence_token"), data_dir)
    reason = _one(fields, "reason").strip() or None
    try:
        parsed = outreach.parse_entry(fields, outreach.today_vn(), tr)
    except outreach.OutreachError as exc:
        errors.update(exc.errors)
        parsed = None
    if parsed is not None and not errors:
        try:
            async with services.db.begin() as conn:
                if entry is None:
                    await outreach.create_entry(conn, _actor(officer), parsed, tr,
                                                evidence=evidence, reason=reason)
                else:
                    await outreach.update_entry(conn, _actor(officer), entry.id, parsed, tr,
                                                evidence=evidence, reason=reason)
        except outreach.OutreachError as exc:
            errors.update(exc.errors)
        else:
            notice = "saved" if entry is None else "updated"
            raise _see_other("/admin/reports", month=parsed.month, notice=notice)
    values = {k: _one(fields, k) for k in ("day", "form", "form_other", "medium", "runs",
                                           "reached", "note", "reason")}
    values["communes"] = fields.get("communes", [])
    values["languages"] = fields.get("languages", [])
    values["groups"] = fields.get("groups", [])
    token = outreach.evidence_token(secret, officer.id, *evidence) if evidence else ""
    return await _render_form(request, officer, values, entry, errors, "reason" in errors,
                              token, evidence[1] if evidence else "", status=400)


async def entry_delete(request: web.Request) -> web.Response:
    officer = await auth.require_officer(request, *WRITE_ROLES)
    entry = await _entry_for(request, officer)
    form = await request.post()
    auth.check_csrf(officer, form)
    tr = tr_for(request)
    if form.get("confirm") != "yes":
        reason = str(form.get("reason", ""))[:1000]
        return _confirm(
            request, title=tr("Delete this entry?"),
            what=tr("The entry of {date} ({form}, {runs} run(s)) is deleted from the report of "
                    "{month}.", date=entry.day.strftime("%d/%m/%Y"),
                    form=forms.form_label(tr, entry.form, entry.form_other), runs=entry.runs,
                    month=forms.month_label(entry.month)),
            action=f"/admin/outreach/{entry.id}/delete", button=tr("Yes, delete the entry"),
            back=f"/admin/reports?month={entry.month}", hidden=[("reason", reason)],
            danger=True)
    try:
        async with _services(request).db.begin() as conn:
            await outreach.delete_entry(conn, _actor(officer), entry.id, tr,
                                        reason=str(form.get("reason", "")).strip() or None)
    except outreach.OutreachError as exc:
        return await report_page(request, entry.month, _error_text(exc), 409)
    raise _see_other("/admin/reports", month=entry.month, notice="deleted")


async def evidence_file(request: web.Request) -> web.StreamResponse:
    officer = await auth.require_officer(request, *VIEW_ROLES)
    try:
        entry_id = int(request.match_info["entry_id"])
    except ValueError:
        raise web.HTTPNotFound() from None
    async with _services(request).db.connect() as conn:
        row = await outreach.get_entry(conn, entry_id)
    if row is None or not row.evidence_path or (row.unit_id != officer.unit_id
                                                and not _is_province(officer)):
        raise web.HTTPNotFound()
    path = _services(request).settings.data_dir / row.evidence_path
    if not path.is_file():
        raise web.HTTPNotFound()
    name = quote(row.evidence_name or path.name)     # RFC 6266: any Vietnamese file name
    return web.FileResponse(path, headers={
        "Content-Disposition": f"attachment; filename=\"evidence{path.suffix}\"; "
                               f"filename*=UTF-8''{name}",
        "Cache-Control": "no-store"})


# -- the offline outreach kit ------------------------------------------------------------------

def _commune(request: web.Request, default: str | None) -> tuple[str, str]:
    code = forms.find_commune(request.query.get("commune", "") or (default or ""))
    if code is None:
        raise web.HTTPBadRequest(text="400: choose a commune or ward from the list")
    return code, forms.commune_name(code)


def _out_of_reach(request: web.Request, own: str | None, code: str) -> str | None:
    """Why a commune officer may not print another commune's kit (None: they may). The
    province and the province-wide units print for every commune."""
    reach = outreach.reach_of(own)
    if reach is None or code in reach:
        return None
    tr = tr_for(request)
    return tr("Your unit prints the kit only for {own}. The kit of {other} is printed by that "
              "commune or ward.", own=", ".join(forms.commune_name(c) for c in reach),
              other=forms.commune_name(code))


async def kit_page(request: web.Request, commune: str | None = None, error: str | None = None,
                   status: int = 200) -> web.Response:
    """The kit: a language is offered only where its kit text is approved, and the page says
    why leaflets cannot be printed while BOT_PUBLIC_URL is not public (also the PDFs' 409)."""
    officer = await auth.require_officer(request, *VIEW_ROLES)
    default = await _unit_commune(request, officer)
    from bot.features.outreach.reports import kit_address, kit_text
    services, tr = _services(request), tr_for(request)
    approved = kit_text.approved_languages(services.conversation.contents,
                                           services.translator.gettext)
    choices = _reachable(outreach.reach_of(default))     # a commune officer: their own only
    selected = commune or forms.find_commune(request.query.get("commune", "")) or default or ""
    return render(request, "leaflet.html", status=status, communes=choices,
                  selected=selected if selected in choices else default or "",
                  languages=[(c, forms.language_label(tr, c)) for c in forms.LANGUAGE_CODES
                             if c != "vi" and c not in approved],
                  kit_languages=[(c, forms.language_label(tr, c)) for c in approved],
                  address_problem=kit_address.address_problem(services.settings.public_url),
                  public_url=services.settings.public_url,
                  can_write=officer.can(*WRITE_ROLES), error=error,
                  notice="" if error else _notice(request, KIT_NOTICES))


async def kit_leaflet(request: web.Request) -> web.Response:
    """A commune's A4 leaflet, or its poster (?layout=poster-a4|poster-a3), as PDF: in the
    language asked for when its kit text is approved, else in Vietnamese (Content-Language
    says which). While BOT_PUBLIC_URL is not a public https:// address, the kit page (409)
    says so instead: a QR code to localhost must never reach paper."""
    officer = await auth.require_officer(request, *VIEW_ROLES)
    own = await _unit_commune(request, officer)
    code, name = _commune(request, own)
    if (refused := _out_of_reach(request, own, code)) is not None:
        return await kit_page(request, own, refused, status=403)
    from bot.features.outreach.reports import kit_address, kit_text
    from bot.features.outreach.reports.leaflet import leaflet_pdf, poster_pdf
    services = _services(request)
    if kit_address.address_problem(services.settings.public_url) is not None:
        return await kit_page(request, code, status=409)
    contents, translator = services.conversation.contents, services.translator
    lang = kit_text.print_language(request.query.get("lang", "vi"), kit_text.approved_languages(
        contents, translator.gettext))
    url = kit_address.chat_address(services.settings.public_url)
    layout = request.query.get("layout", "leaflet")

    def tr(msgid: str, **values: object) -> str:
        return translator.gettext(lang, msgid, **values)

    place = exports.slug(name) or code       # the commune's name in ASCII: xa-hoa-phu
    if layout in ("poster-a4", "poster-a3"):
        size = layout[-2:].upper()
        body = await asyncio.to_thread(poster_pdf, contents[lang], name, url, tr, size)
        filename = f"ap-phich-2g-{place}-{size.lower()}-{lang}.pdf"
    else:
        body = await asyncio.to_thread(leaflet_pdf, contents[lang], name, url, tr)
        filename = f"to-roi-2g-{place}-{lang}.pdf"
    return web.Response(body=body, content_type="application/pdf", headers={
        "Content-Disposition": f'inline; filename="{filename}"', "Content-Language": lang})


async def kit_script(request: web.Request) -> web.Response:
    """A commune's loudspeaker script and its reading time. Vietnamese whatever language was
    chosen: its numbers and dates are Vietnamese words, and the page says so."""
    officer = await auth.require_officer(request, *VIEW_ROLES)
    own = await _unit_commune(request, officer)
    code, name = _commune(request, own)
    if (refused := _out_of_reach(request, own, code)) is not None:
        return await kit_page(request, own, refused, status=403)
    from bot.features.outreach.reports.kit_speech import reading
    from bot.features.outreach.reports.leaflet import loudspeaker_script
    paragraphs = loudspeaker_script(_services(request).conversation.contents["vi"], name,
                                    tr_for(request))
    return render(request, "leaflet_script.html", paragraphs=paragraphs, commune=name, code=code,
                  reading=reading(paragraphs), can_write=officer.can(*WRITE_ROLES))


async def kit_log(request: web.Request) -> web.Response:
    """One click after printing leaflets or reading the script out: logged as a run."""
    officer = await auth.require_officer(request, *WRITE_ROLES)
    form = await request.post()
    auth.check_csrf(officer, form)
    tr = tr_for(request)
    kind = str(form.get("kind", ""))
    code = forms.find_commune(str(form.get("commune", "")))
    if kind not in KIT_FORMS or code is None:
        raise web.HTTPBadRequest(text="400: unknown kind or commune")
    entry = outreach.EntryInput(day=outreach.today_vn(), form=kind, medium=tr(KIT_FORMS[kind]),
                                runs=1, communes=(code,), languages=("vi",),
                                note=tr("Outreach kit from Loa"))
    try:
        async with _services(request).db.begin() as conn:
            await outreach.create_entry(conn, _actor(officer), entry, tr, source="kit")
    except outreach.OutreachError as exc:
        return await kit_page(request, code, _error_text(exc), 409)
    raise _see_other("/admin/leaflets", commune=code, notice=f"logged:{kind}")


# -- the overview: an officer's home page ----------------------------------------------------

# Queue states in words, for the province administrator's health table.
_QUEUE_WORDS = {("inbox", "new"): "Messages received, waiting to be handled",
                ("inbox", "failed"): "Messages received that could not be handled",
                ("outbox", "pending"): "Replies and announcements waiting to be sent",
                ("outbox", "sending"): "Being sent now",
                ("outbox", "retry"): "Waiting to be sent again",
                ("outbox", "failed"): "Could not be sent",
                ("outbox", "blocked"): "Not delivered: the citizen blocked Loa"}


def _due_report(tr: Callable[..., str], month: str, sub: Any, today: dt.date,
                deadline_day: int, unit_code: str) -> dict[str, Any]:
    """The report an officer must hand in now: last month's (this month's cannot be
    submitted before the 1st of next month), its status in words, its deadline and the page
    it is submitted on (for the province's officers, their own unit's, not the sum)."""
    code = status_of(sub, month, today, deadline_day)
    due = _date(forms.deadline(month, deadline_day))
    if sub is None:
        text = f"{status_label(tr, code)} · {tr('due {date}', date=due)}"
    else:
        at = _date(forms.vn_time(sub.submitted_at).date())
        text = (tr("Submitted late, on {date} (due {deadline})", date=at, deadline=due)
                if code == "late" else tr("Submitted on {date}", date=at))
    query = {"month": month, **({"unit": unit_code} if unit_code == officers.PROVINCE_UNIT
                                else {})}
    return {"month": month, "label": forms.month_label(month), "status": code, "text": text,
            "deadline": due, "link": f"/admin/reports?{urlencode(query)}"}


async def admin_page(request: web.Request) -> web.Response:
    """The officer's home. A commune's (or any unit's) officer sees their own unit: this
    month's runs by form, the report that is due (last month's: its status and deadline,
    first among what waits for them), and their unit's recent actions in plain words. The
    province's officers see the province's runs; its administrators also see the queues'
    health, in words."""
    officer = await auth.require_officer(request)
    services = _services(request)
    tr, titles = tr_for(request), _topic_labels(request)
    today = outreach.today_vn()
    month = forms.month_of(today)                 # this month's runs so far
    due_month = forms.shift_month(month, -1)      # the report to hand in now
    deadline_day = services.settings.report_deadline_day
    province = officer.unit_code == officers.PROVINCE_UNIT
    async with services.db.connect() as conn:
        due = _due_report(tr, due_month, await outreach.submission(conn, officer.unit_id,
                                                                   due_month),
                          today, deadline_day, officer.unit_code)
        counts = await monthly_counts(conn, month) if province else None
        report = await build_report(conn, month, tr, unit_code=officer.unit_code,
                                    province_name=services.settings.unit, today=today,
                                    deadline_day=deadline_day, topic_labels=titles)
        health = []
        if province and officer.can():
            queues = await queries.count_by_status(conn)
            health = [(tr(words), queues.get(queue, {}).get(status, 0))
                      for (queue, status), words in _QUEUE_WORDS.items()]
        # Only the province's administrators see every unit's actions (a commune's
        # administrator sees the commune's own).
        everything = officer.can() and province
        audit = await officers.audit_entries(conn, None if everything else officer.unit_id,
                                             limit=20)
        names = {o.id: o.name for o in await officers.officers(conn)}
        logged = (await conn.execute(select(outreach.ENTRY).where(   # deleted ones too
            outreach.ENTRY.c.id.in_(audit_text.entry_ids(audit))))).all()
        entries = {e.id: audit_text.entry_name(e.day, forms.form_label(tr, e.form, e.form_other),
                                               tr) for e in logged}
        staff = await auth.removable_officers(conn, officer)
    waiting = []
    if due["status"] in ("pending", "missing") and officer.can(*WRITE_ROLES):
        words = (tr("The report of {month} is not submitted yet: due {date}.",
                    month=due["label"], date=due["deadline"]) if due["status"] == "pending"
                 else tr("The report of {month} is overdue: it was due {date}. Submit it as "
                         "soon as you can.", month=due["label"], date=due["deadline"]))
        waiting.append(Waiting(words, due["link"]))
    waiting += await waiting_for(request, officer)
    actions = [{"at": forms.vn_time(e.at).strftime("%d/%m/%Y %H:%M"),
                "who": audit_text.actor_name(e.actor, names, tr),
                "what": audit_text.sentence(e.action, e.target, names, tr, actor=e.actor,
                                            entries=entries),
                "target": e.target} for e in audit]
    return render(request, "admin.html", month=forms.month_label(month), counts=counts,
                  report=report, due=due, province=province, health=health, waiting=waiting,
                  unit=officer.unit_name, telegram="telegram" in services.channels,
                  actions=actions, staff=staff,
                  medium_label=lambda key: forms.channel_label(tr, key),
                  topic_label=lambda key: forms.topic_label(
                      tr, titles, "" if key == "none" else key),
                  language_label=lambda code: forms.language_label(tr, code),
                  runs_rule=tr("Runs are answers (a topic, the phone check's result) and "
                               "announcements delivered; menus, language screens, check steps "
                               "and clarifying questions are interactions only. The monthly "
                               "report says how everything is counted."))


def _date(day: dt.date) -> str:
    return day.strftime("%d/%m/%Y")


def setup(app: web.Application) -> None:
    """The overview, the monthly report, logging outreach and the outreach kit."""
    add_templates(app, TEMPLATES)
    for entry in (NavEntry("/admin/reports", "Monthly report", VIEW_ROLES),
                  NavEntry("/admin/outreach/new", "Log outreach", WRITE_ROLES),
                  NavEntry("/admin/leaflets", "Leaflets and loudspeaker script", VIEW_ROLES)):
        add_page(app, entry)
    app.router.add_get("/admin", admin_page)   # "Overview", first in the shell's menu
    app.router.add_get("/admin/reports", report_page)
    app.router.add_post("/admin/reports/submit", submit)
    app.router.add_get(r"/admin/reports/export.{fmt:(csv|xlsx|docx|png)}", export)
    app.router.add_get("/admin/outreach/new", entry_form)
    app.router.add_post("/admin/outreach/new", entry_save)
    app.router.add_get(r"/admin/outreach/{entry_id:\d+}", entry_form)
    app.router.add_post(r"/admin/outreach/{entry_id:\d+}", entry_save)
    app.router.add_post(r"/admin/outreach/{entry_id:\d+}/delete", entry_delete)
    app.router.add_get(r"/admin/outreach/{entry_id:\d+}/evidence", evidence_file)
    app.router.add_get("/admin/leaflets", kit_page)
    app.router.add_get("/admin/leaflets/leaflet.pdf", kit_leaflet)
    app.router.add_get("/admin/leaflets/script", kit_script)
    app.router.add_post("/admin/leaflets/log", kit_log)
