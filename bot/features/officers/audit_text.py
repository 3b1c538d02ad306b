"""The audit log in plain Vietnamese for the overview: "Chị Lan đã gửi báo cáo tháng 11/2026",
never `report.submit` or `officer:12`. The log itself keeps its codes (they are what a
search or an export needs); this is how an officer reads them."""
from __future__ import annotations

import re
from collections.abc import Callable

# action code -> sentence (msgid; the officers' catalog has the Vietnamese)
_ACTIONS = {
    "officer.register": "registered as an officer",
    "officer.remove": "removed the officer {target}",
    "invite.create": "created an invitation to register",
    "login.success": "logged in",
    "login.failure": "failed to log in",
    "login.refused": "was refused at login",
    "login.lockout": "was locked out after failed logins",
    "login.unlock": "unlocked {target}",
    "password.change_refused": "was refused a password change",
    "broadcast.create": "wrote {target}",
    "broadcast.edit": "edited {target}",
    "broadcast.delete": "deleted {target}",
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
    "translation.clip_upload": "uploaded a voice clip",
    "translation.import": "imported translations",
}
Tr = Callable[..., str]   # msgid, **fields -> Vietnamese
_TARGET = re.compile(r"^(?P<kind>[a-z_]+):(?P<id>.+)$")


def actor_name(actor: str, names: dict[int, str], tr: Tr) -> str:
    """"officer:12" -> the officer's name; anything else (the operator's CLI) in words."""
    found = _TARGET.match(actor or "")
    if found and found["kind"] == "officer" and found["id"].isdigit():
        return names.get(int(found["id"]), tr("a removed officer"))
    return tr("the operator")


def sentence(action: str, target: str, names: dict[int, str], tr: Tr) -> str:
    """What happened, in words; an action this list does not know is still said plainly."""
    msgid = _ACTIONS.get(action)
    if msgid is None:
        return tr("did an administrative action")
    return tr(msgid, target=_target(target, names, tr)) if "{target}" in msgid \
        else tr(msgid)


def _target(target: str, names: dict[int, str], tr: Tr) -> str:
    found = _TARGET.match(target or "")
    if found is None:
        return tr("an item")
    kind, ident = found["kind"], found["id"]
    if kind == "officer" and ident.isdigit():
        return names.get(int(ident), tr("a removed officer"))
    if kind == "broadcast":
        return tr("announcement no. {n}", n=ident)
    if kind in ("entry", "outreach"):
        return tr("outreach entry no. {n}", n=ident)
    if kind == "report":
        month = re.match(r"^(\d{4})-(\d{2})", ident)
        if month:
            return tr("the report of {month}", month=f"{int(month[2])}/{month[1]}")
        return tr("a monthly report")
    return tr("an item")

