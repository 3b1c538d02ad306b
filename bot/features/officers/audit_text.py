"""The audit log in plain Vietnamese for the overview: "Chị Lan đã gửi báo cáo tháng 11/2026",
never `report.submit` or `officer:12`. The log itself keeps its codes (they are what a
search or an export needs); this is how an officer reads them.

Every action code Loa writes has its sentence in ACTIONS (tests/unit/test_audit_text.py reads
the code for every action written and fails on one without a sentence)."""
from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from bot.core.i18n import LANGUAGE_NAMES

# action code -> sentence (msgid; the officers' catalog has the Vietnamese), said after the
# actor's name. A pair is (about someone else, about the actor's own account).
ACTIONS: dict[str, str | tuple[str, str]] = {
    "officer.register": "registered as an officer",
    "officer.remove": "removed the officer {target}",
    "officer.rename": ("changed the name of the officer now called {target}",
                       "changed their own name"),
    "invite.create": "created an invitation to register",
    "login.success": "logged in",
    "login.failure": "typed a wrong password for {target}",
    "login.refused": "was refused logging in to {target}, which is locked for a while",
    "login.lockout": "typed wrong passwords too many times: {target} is locked for a while",
    "login.unlock": "unlocked {target}",
    "login_name.change": ("changed the login name of {target}", "changed their login name"),
    "password.set": ("set a login name and password for {target}",
                     "set their login name and password"),
    "password.change": ("changed the password of {target}", "changed their password"),
    "password.change_refused": "was refused a password change",
    "broadcast.create": "wrote {target}",
    "broadcast.edit": "edited {target}",
    "broadcast.delete": "deleted {target}",
    "broadcast.submit": "submitted {target} for approval",
    "broadcast.test": "sent {target} as a test to officers",
    "broadcast.start": "started sending {target}",
    "broadcast.retract": "retracted {target}",
    "broadcast.approve": "approved {target}",
    "broadcast.reject": "sent back {target}",
    "broadcast.stop": "stopped {target}",
    "broadcast.variant.approve": "approved a translation of {target}",
    "outreach.create": "logged {target}",
    "outreach.update": "changed {target}",
    "outreach.delete": "deleted {target}",
    "report.submit": "submitted {target}",
    "report.amend": "amended {target}",
    "learned.propose": "proposed an answer for citizens' questions",
    "learned.approve": "approved a sample question for Loa",
    "learned.reject": "turned down a sample question for Loa",
    "learned.remove": "removed a sample question from Loa",
    "translation.approved": "approved a translation into {language}",
    "translation.sent_back": "sent back a translation into {language}",
    "translation.clip_upload": "uploaded a voice clip in {language}",
    "translation.import": "imported translations into {language}",
    "backup.restore": "restored Loa's data from a backup",
}
# Whom a login action is about: the account, not the person.
_ACCOUNT_ACTIONS = frozenset({"login.failure", "login.refused", "login.lockout", "login.unlock"})
# Who did it, when it was not an officer: Loa itself (the automatic start of an approved
# announcement), the operator at the server's command line, or someone at the login page.
SYSTEM = "system"                    # written by Loa's own jobs; said as "Loa", a name
_ACTORS = {"operator": "the operator", "anonymous": "Someone"}
Tr = Callable[..., str]   # msgid, **fields -> Vietnamese
_TARGET = re.compile(r"^(?P<kind>[a-z_]+):(?P<id>.+)$")
_ENTRY_KINDS = ("outreach", "entry")


def actor_name(actor: str, names: dict[int, str], tr: Tr) -> str:
    """"officer:12" -> the officer's name; "system" -> Loa; anyone else in words."""
    found = _TARGET.match(actor or "")
    if found and found["kind"] == "officer" and found["id"].isdigit():
        return names.get(int(found["id"]), tr("a removed officer"))
    if actor == SYSTEM:
        return "Loa"
    return tr(_ACTORS.get(actor, "the operator"))


def entry_ids(rows: Iterable[Any]) -> list[int]:
    """The outreach entries some audit rows are about, for the caller to name (entry_name)."""
    ids = []
    for row in rows:
        found = _TARGET.match(row.target or "")
        if found and found["kind"] in _ENTRY_KINDS and found["id"].isdigit():
            ids.append(int(found["id"]))
    return ids


def entry_name(day: dt.date, form: str, tr: Tr) -> str:
    """How an outreach entry is named: its date and form, never its internal number."""
    return tr("the outreach entry of {date} ({form})", date=day.strftime("%d/%m/%Y"), form=form)


def sentence(action: str, target: str, names: dict[int, str], tr: Tr, *, actor: str = "",
             entries: Mapping[int, str] | None = None) -> str:
    """What happened, in words; an action this list does not know is still said plainly.
    `entries`: outreach entry id -> entry_name of the entries the caller found (None: not
    looked up); an entry not found is said to be deleted, never by its number."""
    msgid = ACTIONS.get(action)
    if msgid is None:
        return tr("did an administrative action")
    if isinstance(msgid, tuple):
        msgid = msgid[1] if target == actor and actor else msgid[0]
    values = {}
    if "{target}" in msgid:
        values["target"] = _target(target, names, tr, entries,
                                   account=action in _ACCOUNT_ACTIONS)
    if "{language}" in msgid:
        values["language"] = _language(target, tr)
    return tr(msgid, **values)


def _target(target: str, names: dict[int, str], tr: Tr, entries: Mapping[int, str] | None, *,
            account: bool = False) -> str:
    if target == "all":
        return tr("every locked login name and network address")
    found = _TARGET.match(target or "")
    if found is None:
        return tr("an item")
    kind, ident = found["kind"], found["id"]
    if kind == "officer" and ident.isdigit():
        name = names.get(int(ident), tr("a removed officer"))
        return tr("the account of {name}", name=name) if account else name
    if kind == "login":
        return tr("a login name that does not exist")
    if kind == "client":
        return tr("a network address")
    if kind == "broadcast":
        return tr("announcement no. {n}", n=ident)
    if kind in _ENTRY_KINDS:
        if entries is None:
            return tr("an outreach entry")
        if ident.isdigit() and int(ident) in entries:
            return entries[int(ident)]
        return tr("an outreach entry that was deleted")
    if kind == "report":
        month = re.match(r"^(\d{4})-(\d{2})", ident)
        if month:
            return tr("the report of {month}", month=f"{int(month[2])}/{month[1]}")
        return tr("a monthly report")
    return tr("an item")


def _language(target: str, tr: Tr) -> str:
    """"lang:rad", "rad:t:timeline" or "rad:timeline" -> "tiếng Ê Đê"."""
    parts = (target or "").split(":")
    code = parts[1] if parts[0] == "lang" and len(parts) > 1 else parts[0]
    name = tr(LANGUAGE_NAMES[code]) if code in LANGUAGE_NAMES else tr("a minority language")
    return name[:1].lower() + name[1:]
