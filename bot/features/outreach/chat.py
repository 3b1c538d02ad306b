"""Officer chat commands of issue 7: /ghinhan logs offline outreach in a guided dialog,
/baocao sends the unit's monthly report (summary and XLSX) and lets the officer submit it.

`dialog_step` is the dialog as a pure function of (state, inbound); `OutreachChat` is the
handling Extension around it that loads and stores the state (table outreach_dialog, one
open dialog per officer) and writes entries through service.py, which applies every rule.

Several Loa processes may share one database and any of them may handle any message, so
whether a contact is in a dialog is read from the database on every inbound that could be an
answer (one lookup on ix_outreach_dialog_contact), never from a per-process memory.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import delete, exists, select
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.core.i18n import Translator
from bot.core.messages import Button, Inbound, InboundKind, Reply
from bot.delivery.commands import Chat, Command
from bot.features.officers import service as officers
from bot.features.outreach import service as outreach
from bot.features.outreach.models import OutreachDialog
from bot.features.outreach.reports import forms
from bot.features.outreach.reports.monthly import MonthError, parse_month
from bot.store.models import utcnow

log = logging.getLogger(__name__)
DIALOG = OutreachDialog.__table__
START = ("ghinhan", "logrun")
REPORT = ("baocao", "report")
CANCEL = ("huy", "cancel")
PREFIX = "og:"
STEPS = ("day", "form", "medium", "runs", "reached", "communes", "languages", "groups",
         "note")
REPORT_FILES_KEPT_S = 2 * 24 * 3600
Tr = Callable[..., str]


@dataclass(frozen=True)
class DialogContext:
    today: dt.date
    locked: frozenset[str]          # months whose report the unit has submitted
    own_commune: str | None         # the unit's commune, offered as a button
    tr: Tr

    @property
    def reach(self) -> tuple[str, ...] | None:
        """The communes the unit may log outreach for (None: every commune)."""
        return outreach.reach_of(self.own_commune)


# -- the dialog, pure ----------------------------------------------------------------------------

def _b(label: str, choice: str) -> Button:
    return Button(label[:60], PREFIX + choice)


def _cancel_row(tr: Tr) -> tuple[Button, ...]:
    return (_b(tr("Cancel"), "cancel"),)


def prompt(state: dict[str, Any], ctx: DialogContext) -> Reply:
    """The question of the current step, with its buttons."""
    tr, step = ctx.tr, state["step"]
    n = STEPS.index(step) + 1 if step in STEPS else len(STEPS)
    head = tr("Step {n}/{total}", n=n, total=len(STEPS)) + " – "
    if step == "day":
        yesterday = ctx.today - dt.timedelta(days=1)
        return Reply(head + tr("Date of the outreach? Tap a button or type it (e.g. 25/11/2026)."),
                     ((_b(tr("Today {date}", date=ctx.today.strftime("%d/%m")),
                          f"day:{ctx.today.isoformat()}"),
                       _b(tr("Yesterday {date}", date=yesterday.strftime("%d/%m")),
                          f"day:{yesterday.isoformat()}")), _cancel_row(tr)))
    if step == "form":
        rows = tuple((_b(tr(label), f"form:{code}"),) for code, label in forms.OFFLINE_FORMS)
        return Reply(head + tr("Form of outreach?"), (*rows, _cancel_row(tr)))
    if step == "form_other":
        return Reply(tr("Which form? Type a short description."), (_cancel_row(tr),))
    if step == "medium":
        options = forms.MEDIUM_SUGGESTIONS.get(state.get("form", ""), ())
        rows = tuple((_b(tr(s), f"medium:{i}"),) for i, s in enumerate(options))
        return Reply(head + tr("Medium used? Type it, or tap one."), (*rows, _cancel_row(tr)))
    if step == "runs":
        return Reply(head + tr("Number of runs? Type a number."),
                     (tuple(_b(str(k), f"runs:{k}") for k in (1, 2, 3, 5, 10)), _cancel_row(tr)))
    if step == "reached":
        return Reply(head + tr("People reached? Type a number, or tap Not known."),
                     ((_b(tr("Not known"), "reached:unknown"),), _cancel_row(tr)))
    if step == "communes":
        row = []
        if ctx.own_commune:
            row.append(_b(forms.commune_name(ctx.own_commune), f"communes:{ctx.own_commune}"))
        row.append(_b(tr("Not tied to a commune"), "communes:none"))
        if ctx.reach is not None:         # a commune logs only its own: nothing to type
            return Reply(head + tr("Commune or ward? Tap a button."),
                         (tuple(row), _cancel_row(tr)))
        return Reply(head + tr("Commune or ward? Type names separated by commas (e.g. Hòa Phú, "
                               "Ea Súp), or tap a button."), (tuple(row), _cancel_row(tr)))
    if step == "languages":
        chosen = state.get("languages") or []
        names = ", ".join(forms.language_label(tr, c) for c in chosen) or tr("none yet")
        buttons = [_b(("✓ " if c in chosen else "") + tr(label), f"languages:{c}")
                   for c, label in forms.LANGUAGES]
        rows = tuple(tuple(buttons[i:i + 2]) for i in range(0, len(buttons), 2))
        return Reply(head + tr("Languages used? Tap each, then Done. Chosen: {chosen}",
                               chosen=names), (*rows, (_b(tr("Done"), "languages:done"),),
                                               _cancel_row(tr)))
    if step == "groups":
        chosen = state.get("groups") or []
        names = ", ".join(forms.group_label(tr, c) for c in chosen) or tr("none yet")
        buttons = [_b(("✓ " if c in chosen else "") + forms.group_label(tr, c), f"groups:{c}")
                   for c in forms.GROUP_CODES]
        rows = tuple(tuple(buttons[i:i + 2]) for i in range(0, len(buttons), 2))
        return Reply(head + tr("Who was reached? Tap each group that applies (General public "
                               "if it was for everyone), then Done. Chosen: {chosen}",
                               chosen=names), (*rows, (_b(tr("Done"), "groups:done"),),
                                               _cancel_row(tr)))
    if step == "note":
        return Reply(head + tr("A note? Type it, or tap Skip."),
                     ((_b(tr("Skip"), "note:skip"),), _cancel_row(tr)))
    return Reply(summary(state, tr) + "\n\n" + tr("Save this entry?"),
                 ((_b(tr("Save"), "save"), _b(tr("Start again"), "restart")), _cancel_row(tr)))


def summary(state: dict[str, Any], tr: Tr) -> str:
    day = dt.date.fromisoformat(state["day"])
    reached = state.get("reached")
    communes = ", ".join(forms.commune_name(c) for c in state.get("communes") or []) \
        or tr("Not tied to a commune")
    lines = [tr("Date: {v}", v=day.strftime("%d/%m/%Y")),
             tr("Form: {v}", v=forms.form_label(tr, state["form"], state.get("form_other"))),
             tr("Medium: {v}", v=state["medium"]), tr("Runs: {v}", v=state["runs"]),
             tr("People reached: {v}", v=tr("not known") if reached is None else reached),
             tr("Communes: {v}", v=communes),
             tr("Languages: {v}", v=", ".join(forms.language_label(tr, c)
                                              for c in state.get("languages") or ["vi"])),
             tr("Target groups: {v}", v=", ".join(forms.group_label(tr, c)
                                                  for c in state.get("groups") or [])
                or tr("not recorded"))]
    if state.get("note"):
        lines.append(tr("Note: {v}", v=state["note"]))
    return "\n".join(lines)


def _answer(inbound: Inbound, step: str) -> tuple[str | None, str | None]:
    """(button value for this step, typed text)."""
    if inbound.kind is InboundKind.CHOICE and inbound.choice.startswith(f"{PREFIX}{step}:"):
        return inbound.choice.split(":", 2)[2], None
    if inbound.kind is InboundKind.TEXT:
        return None, inbound.text
    return None, None


def to_entry(state: dict[str, Any]) -> outreach.EntryInput:
    return outreach.EntryInput(
        day=dt.date.fromisoformat(state["day"]), form=state["form"],
        form_other=state.get("form_other"), medium=state["medium"], runs=int(state["runs"]),
        reached=state.get("reached"), communes=tuple(state.get("communes") or ()),
        languages=tuple(state.get("languages") or ("vi",)), note=state.get("note"),
        groups=tuple(state.get("groups") or ()))


def dialog_step(state: dict[str, Any], inbound: Inbound, ctx: DialogContext
                ) -> tuple[list[Reply], dict[str, Any] | None, outreach.EntryInput | None]:
    """One turn: (replies, new state or None when the dialog ends, an entry to save)."""
    tr = ctx.tr
    if inbound.kind is InboundKind.CHOICE and inbound.choice == PREFIX + "cancel":
        return [Reply(tr("Cancelled; nothing was logged."))], None, None
    state = dict(state)
    step = state["step"]
    value, text = _answer(inbound, step)
    if value is None and text is None and not (step == "confirm"
                                               and inbound.kind is InboundKind.CHOICE):
        hint = tr("Please answer with a button or by typing; /huy cancels.")
        if inbound.kind is InboundKind.UNSUPPORTED:
            hint = tr("Photos and files as evidence are added on the admin page (/quantri).") \
                + " " + hint
        return [Reply(hint), prompt(state, ctx)], state, None
    try:
        if step == "day":
            day = outreach.parse_day(value or text or "", ctx.today, tr)
            if forms.month_of(day) in ctx.locked:
                raise outreach.OutreachError({"day": tr(
                    "The report for {month} has already been submitted; corrections to it are "
                    "made on the admin page as an amendment with a reason (/quantri).",
                    month=forms.month_label(forms.month_of(day)))})
            state.update(day=day.isoformat(), step="form")
        elif step == "form":
            codes = forms.OFFLINE_CODES
            typed = (text or "").strip()
            code = value or (codes[int(typed) - 1] if typed.isdigit()
                             and 1 <= int(typed) <= len(codes) else "")
            if code not in codes:
                raise outreach.OutreachError({"form": tr("Tap one of the forms below (or type "
                                                         "its number).")})
            state.update(form=code, form_other=None,
                         step="form_other" if code == "other" else "medium")
        elif step == "form_other":
            _, other = outreach.parse_form("other", text or "", tr)
            state.update(form_other=other, step="medium")
        elif step == "medium":
            options = forms.MEDIUM_SUGGESTIONS.get(state["form"], ())
            if value is not None and value.isdigit() and int(value) < len(options):
                text = tr(options[int(value)])
            state.update(medium=outreach.parse_medium(text or "", tr), step="runs")
        elif step == "runs":
            state.update(runs=outreach.parse_runs(value or text or "", tr), step="reached")
        elif step == "reached":
            reached = None if value == "unknown" else outreach.parse_reached(text or "", tr)
            state.update(reached=reached, step="communes")
        elif step == "communes":
            if value == "none":
                communes: tuple[str, ...] = ()
            else:
                communes = outreach.parse_communes([value or text or ""], tr)
                outreach.check_reach(communes, ctx.reach, tr)
            state.update(communes=list(communes), step="languages")
        elif step == "languages":
            chosen = list(state.get("languages") or [])
            if value == "done":
                state.update(languages=chosen or ["vi"], step="groups")
            elif value is not None:
                code = outreach.parse_languages([value], tr)[0]
                chosen = [c for c in chosen if c != code] if code in chosen else [*chosen, code]
                state["languages"] = chosen
            else:
                state.update(languages=list(outreach.parse_languages([text or ""], tr)),
                             step="groups")
        elif step == "groups":
            chosen = list(state.get("groups") or [])
            if value == "done":
                state.update(groups=chosen, step="note")
            elif value is not None:
                for code in outreach.parse_groups([value], tr)[:1]:
                    chosen = [c for c in chosen if c != code] if code in chosen \
                        else [c for c in forms.GROUP_CODES if c in chosen or c == code]
                state["groups"] = chosen
            else:
                state.update(groups=list(outreach.parse_groups([text or ""], tr)), step="note")
        elif step == "note":
            state.update(note=None if value == "skip" else outreach.parse_note(text or "", tr),
                         step="confirm")
        elif step == "confirm":
            if inbound.choice == PREFIX + "save":
                return [], None, to_entry(state)
            if inbound.choice == PREFIX + "restart":
                fresh = {"step": "day"}
                return [prompt(fresh, ctx)], fresh, None
            return [prompt(state, ctx)], state, None
    except outreach.OutreachError as exc:
        return [Reply(" ".join(exc.errors.values())), prompt(state, ctx)], state, None
    return [prompt(state, ctx)], state, None


# -- the extension ---------------------------------------------------------------------------

class OutreachChat:
    """Chat commands (bot/delivery/commands.py): /ghinhan, /baocao, /huy and the dialog's
    answers, for officers only, in the officer's chat language."""

    commands = (Command(START[0], "log offline outreach in 9 short questions",
                        aliases=START[1:]),
                Command(REPORT[0], "a month's report as a spreadsheet (last month unless "
                        "you name one), and submitting it",
                        aliases=REPORT[1:]),
                Command(CANCEL[0], "cancel the outreach being logged", aliases=CANCEL[1:]))
    prefixes = (PREFIX,)

    def __init__(self, translator: Translator, data_dir: Path, province_name: str,
                 deadline_day: int = 15, topic_labels: dict[str, str] | None = None,
                 today: Callable[[], dt.date] = outreach.today_vn) -> None:
        self.t = translator
        self.data_dir = data_dir
        self.province_name = province_name
        self.deadline_day = deadline_day
        self.topic_labels = topic_labels or {}
        self.today = today

    def tr_for(self, lang: str) -> Tr:
        def tr(msgid: str, **values: object) -> str:
            return self.t.gettext(lang, msgid, **values)
        return tr

    async def handle(self, chat: Chat) -> list[Reply] | None:
        conn, channel, pseudonym, inbound = chat.conn, chat.channel, chat.pseudonym, \
            chat.env.inbound
        tr = self.tr_for(chat.lang)
        if inbound is None:
            return None
        command = inbound.text if inbound.kind is InboundKind.COMMAND else ""
        ours = command in START + REPORT + CANCEL or (
            inbound.kind is InboundKind.CHOICE and inbound.choice.startswith(PREFIX))
        if not ours and (inbound.kind is InboundKind.COMMAND or not (
                chat.expected if chat.expected is not None
                else await self._in_dialog(conn, channel, pseudonym))):
            return None       # the hot path for citizens: known for the batch (prepare)
        officer = await officers.officer_for(conn, channel, pseudonym)
        if officer is None:
            return None       # citizens typing /baocao get the normal conversation
        actor = outreach.Actor(officer.id, officer.unit_id, officer.role)
        if command in REPORT:
            return await self._report(conn, officer, inbound.args, tr)
        if inbound.kind is InboundKind.CHOICE and inbound.choice.startswith(PREFIX + "submit"):
            return await self._submit(conn, actor, officer, inbound.choice, tr)
        row = (await conn.execute(select(DIALOG).where(DIALOG.c.officer_id == officer.id))
               ).first()
        if command in CANCEL:
            if row is None:
                return None
            await self._close(conn, officer.id)
            return [Reply(tr("Cancelled; nothing was logged."))]
        ctx = DialogContext(self.today(), frozenset(await outreach.submitted_months(
            conn, officer.unit_id)), await self._own_commune(conn, officer.unit_id), tr)
        if command in START:
            if not actor.can_write:
                return [Reply(tr("Your role can view reports but not log outreach."))]
            state: dict[str, Any] = {"step": "day"}
            await self._store(conn, officer.id, channel, pseudonym, state, row is not None)
            intro = tr("Logging offline outreach. Answer {n} short questions; /huy cancels.",
                       n=len(STEPS))
            return [Reply(intro), prompt(state, ctx)]
        if row is None:
            if inbound.choice == PREFIX + "cancel":
                return [Reply(tr("Cancelled."))]
            if inbound.kind is InboundKind.CHOICE:   # a button of a finished dialog
                return [Reply(tr("This question has closed. Type /ghinhan to log "
                                      "outreach."))]
            return None
        replies, new_state, entry = dialog_step(json.loads(row.state), inbound, ctx)
        if entry is not None:
            try:
                entry_id = await outreach.create_entry(conn, actor, entry, tr,
                                                       source="chat")
            except outreach.OutreachError as exc:
                state = {"step": "day"}
                await self._store(conn, officer.id, channel, pseudonym, state, True)
                return [Reply(" ".join(exc.errors.values())), prompt(state, ctx)]
            await self._close(conn, officer.id)
            return [Reply(tr("Logged (entry #{id}). You can correct or delete it on the "
                                  "admin page (/quantri) until the month's report is "
                                  "submitted; add a photo or file as evidence there too.",
                                  id=entry_id))]
        if new_state is None:
            await self._close(conn, officer.id)
        else:
            await self._store(conn, officer.id, channel, pseudonym, new_state, True)
        return replies

    def open_dialog(self, contact: Any) -> Any:
        """An officer's /ghinhan dialog is open in this chat (read with the contact)."""
        return exists().where(DIALOG.c.channel == contact.c.channel,
                              DIALOG.c.pseudonym == contact.c.pseudonym)

    @staticmethod
    async def _in_dialog(conn: AsyncConnection, channel: str, pseudonym: str) -> bool:
        """Whether this contact has an open dialog, opened through any process."""
        return (await conn.execute(
            select(DIALOG.c.officer_id)
            .where(DIALOG.c.channel == channel, DIALOG.c.pseudonym == pseudonym)
            .limit(1))).first() is not None

    async def _own_commune(self, conn: AsyncConnection, unit_id: int) -> str | None:
        unit = await officers.unit_by_id(conn, unit_id)
        return unit.commune_code if unit is not None else None

    async def _store(self, conn: AsyncConnection, officer_id: int, channel: str, pseudonym: str,
                     state: dict[str, Any], exists: bool) -> None:
        values = {"channel": channel, "pseudonym": pseudonym, "updated_at": utcnow(),
                  "state": json.dumps(state, ensure_ascii=False)}
        if exists:
            await conn.execute(DIALOG.update().where(DIALOG.c.officer_id == officer_id)
                               .values(**values))
        else:
            await conn.execute(DIALOG.insert().values(officer_id=officer_id, **values))

    async def _close(self, conn: AsyncConnection, officer_id: int) -> None:
        await conn.execute(delete(DIALOG).where(DIALOG.c.officer_id == officer_id))

    # -- /baocao -------------------------------------------------------------------------------
    async def _report(self, conn: AsyncConnection, officer: Any, args: str,
                      tr: Tr) -> list[Reply]:
        from bot.features.outreach.reports.exports import filename, to_xlsx
        from bot.features.outreach.reports.model import build_report
        if officer.role == "reviewer":
            return [Reply(tr("Your role cannot see the outreach reports."))]
        today = self.today()
        month = args.strip()[:7] or forms.shift_month(forms.month_of(today), -1)
        try:
            parse_month(month, today)
        except MonthError:
            return [Reply(tr("Write the month like this: /baocao 2026-11"))]
        unit = await officers.unit_by_id(conn, officer.unit_id)
        province = unit.code == officers.PROVINCE_UNIT
        report = await build_report(conn, month, tr, unit_code=None if province else unit.code,
                                    province_name=self.province_name, today=today,
                                    deadline_day=self.deadline_day,
                                    topic_labels=self.topic_labels)
        lines = [tr("Outreach report {month} – {unit}", month=forms.month_label(month),
                    unit=report.unit_name)]
        if province:
            c = report.status_counts()
            lines.append(tr("Units: {submitted} submitted, {late} late, {pending} not yet "
                            "submitted, {missing} missing", **c))
        for i, r in enumerate(report.totals, 1):
            lines.append(tr("{i}. {form}: {runs} runs, {people} people", i=i, form=r.label,
                            runs=_fmt(r.runs), people=_people(r.people, tr)))
        if not report.totals:
            lines.append(tr("Nothing recorded for this month yet."))
        lines.append(tr("Total: {runs} runs, {people} people reached",
                        runs=_fmt(report.total_runs), people=_people(report.total_people, tr)))
        if report.total_unknown_people:
            lines.append(tr("People reached not known for {n} entries.",
                            n=report.total_unknown_people))
        groups = [f"{x.label} {_fmt(x.runs)}" for x in report.by_group if x.runs]
        if groups:
            lines.append(tr("Runs by target group: {groups}", groups="; ".join(groups)))
        if report.total_interactions:
            lines.append(tr("Chatbot interactions (every chat turn, answers included): {n}",
                            n=_fmt(report.total_interactions)))
        buttons: tuple[tuple[Button, ...], ...] = ()
        if not province:
            status = report.statuses[0]
            lines.append(tr("Status: {status}", status=status.label) + (
                " – " + tr("due before {date}", date=report.deadline.strftime("%d/%m/%Y"))
                if status.submitted_at is None else ""))
            if status.submitted_at is None and month < forms.month_of(today) and \
                    outreach.Actor(officer.id, officer.unit_id, officer.role).can_write:
                buttons = ((_b(tr("Submit the report for {month}",
                                  month=forms.month_label(month)), f"submit:{month}"),),)
        # A folder per unit: file names carry the unit's name, two units never share a file.
        folder = self.data_dir / "reports"
        path = folder / unit.code / filename(report, "xlsx")
        body = await asyncio.to_thread(to_xlsx, report, tr)
        await asyncio.to_thread(_write, folder, path, body)
        return [Reply("\n".join(lines), buttons, document=str(path))]

    async def _submit(self, conn: AsyncConnection, actor: outreach.Actor, officer: Any,
                      choice: str, tr: Tr) -> list[Reply]:
        action, _, month = choice[len(PREFIX):].partition(":")
        if action == "submit":
            return [Reply(tr("Submit the report for {month}? After that its entries can only "
                             "be changed as an amendment on the admin page.",
                             month=forms.month_label(month)),
                          ((_b(tr("Yes, submit"), f"submitok:{month}"),
                            _b(tr("Cancel"), "cancel")),))]
        try:
            parse_month(month, self.today())
            await outreach.submit_month(conn, actor, month, self.today(), tr)
        except (outreach.OutreachError, MonthError) as exc:
            message = " ".join(exc.errors.values()) if isinstance(exc, outreach.OutreachError) \
                else str(exc)
            return [Reply(message)]
        return [Reply(tr("Submitted: the report for {month}. Its entries are now locked; "
                         "the province sees it as submitted.", month=forms.month_label(month)))]


def _fmt(n: int) -> str:
    return f"{n:,}".replace(",", ".")


def _people(n: int | None, tr: Tr) -> str:
    return tr("not known") if n is None else _fmt(n)


def _write(folder: Path, path: Path, body: bytes) -> None:
    """Write a report file for sending; remove ones older than two days (of every unit)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    cutoff = time.time() - REPORT_FILES_KEPT_S
    for old in folder.glob("**/*.xlsx"):
        if old.stat().st_mtime < cutoff:
            old.unlink(missing_ok=True)
    path.write_bytes(body)
