"""Officer commands in the chat: /dangky CODE [full name] registers, /ten sets the name other
officers see, /quantri sends an admin login link, /canbo lists the officer commands."""
from __future__ import annotations

import logging
from typing import Any

from bot.core.i18n import Translator
from bot.core.messages import InboundKind, Reply
from bot.delivery.commands import Chat, Command
from bot.features.officers import names
from bot.features.officers import service as officers
from bot.features.officers.names import role_label

log = logging.getLogger(__name__)

REGISTER = ("dangky", "register")
ADMIN = ("quantri", "admin")
HELP = ("canbo", "officer")
NAME = ("ten", "name")

__all__ = ["OfficerCommands", "role_label"]


class OfficerCommands:
    """Officer commands in the chat (bot/delivery/commands.py), in the contact's language."""

    commands = (Command(REGISTER[0], "register as an officer with your invite code and your "
                        "full name: /dangky CODE Full Name", aliases=REGISTER[1:]),
                Command(NAME[0], "change the name other officers see: /ten Full Name",
                        aliases=NAME[1:]),
                Command(ADMIN[0], "a login link for the admin page", aliases=ADMIN[1:]),
                Command(HELP[0], "this list of officer commands", aliases=HELP[1:]))
    prefixes: tuple[str, ...] = ()

    def __init__(self, translator: Translator, public_url: str) -> None:
        self.t = translator
        self.public_url = public_url.rstrip("/")

    def open_dialog(self, contact: Any) -> Any | None:
        return None   # no dialogs: free text it takes is known from the text alone

    async def handle(self, chat: Chat) -> list[Reply] | None:
        inbound, conn = chat.env.inbound, chat.conn
        channel, pseudonym, lang = chat.channel, chat.pseudonym, chat.lang
        if inbound is None or inbound.kind is not InboundKind.COMMAND:
            return None

        def t(_lang: str, msgid: str, **kw: object) -> str:   # always the contact's language
            return self.t.gettext(lang, msgid, **kw)
        if inbound.text in REGISTER:
            return [await self._register(chat, t)]
        officer = await officers.officer_for(conn, channel, pseudonym)
        if officer is None:
            return None   # citizens typing these get the normal conversation
        if inbound.text in NAME:
            return [await self._rename(chat, officer, t)]
        if inbound.text in ADMIN:
            token = await officers.create_login_link(conn, officer.id)
            url = f"{self.public_url}/admin/login?token={token}"
            return [Reply(t("vi", "Your admin login link (works once, for {minutes} minutes):",
                            minutes=officers.LOGIN_LINK_MINUTES) + f"\n{url}")]
        if inbound.text in HELP:
            return [Reply(t("vi", "Officer commands:") + "\n"
                          + chat.router.help_lines(lang, officers=True) + "\n"
                          + t("vi", "Announcements are written and approved on the admin page; "
                              "approvers are told here when one waits."))]
        return None

    async def _register(self, chat: Chat, t: Any) -> Reply:
        """/dangky CODE Full Name; without a name, the chat's display name until /ten."""
        env = chat.env
        assert env.inbound is not None
        code, _, given = " ".join(env.inbound.args.split()).partition(" ")
        if not code:
            return Reply(t("vi", "Send your invite code and your full name like this: "
                           "/dangky ABCD1234 Nguyễn Văn A"))
        try:
            name = names.clean_name(given) if given else None
        except officers.OfficerError:
            return Reply(t("vi", "Loa could not take “{name}” as your name: write your full "
                           "name (2 to {max} characters), like this: /dangky {code} Nguyễn "
                           "Văn A", name=given[:names.NAME_MAX], max=names.NAME_MAX,
                           code=code[:32]))
        try:
            officer = await officers.redeem_invite(
                chat.conn, code[:32], chat.channel, chat.pseudonym, env.address,
                name or _chat_name(env.name), replace_name=name is not None)
        except officers.OfficerError as exc:
            reasons = {"unknown": t("vi", "This invite code is not valid."),
                       "used": t("vi", "This invite code has already been used."),
                       "expired": t("vi", "This invite code has expired. Ask for a new "
                                    "one.")}
            return Reply(reasons.get(str(exc), str(exc)))
        log.info("officer %s registered", officer.id)
        text = t("vi", "Registered: officer of {unit}, role {role}. Type /quantri to open the "
                 "admin page, /canbo for officer help.", unit=officer.unit_name,
                 role=role_label(self.t, officer.role, chat.lang))
        if name is None:
            text += "\n\n" + _ask_name(t, officer.name)
        return Reply(text)

    async def _rename(self, chat: Chat, officer: Any, t: Any) -> Reply:
        """/ten Full Name: the name other officers see on the pages and in the chat."""
        assert chat.env.inbound is not None
        given = chat.env.inbound.args.strip()
        if not given:
            return Reply(_ask_name(t, officer.name))
        try:
            renamed = await names.rename(chat.conn, officer.id, given, f"officer:{officer.id}")
        except officers.OfficerError:
            return Reply(t("vi", "Loa could not take “{name}” as your name: write your full "
                           "name (2 to {max} characters), like this: /ten Nguyễn Văn A",
                           name=given[:names.NAME_MAX], max=names.NAME_MAX))
        return Reply(t("vi", "Done: other officers now see you as “{name}”.",
                       name=renamed.name))


def _chat_name(display: str) -> str:
    """The chat's display name, tidied, while the officer has given no name ("?" if none)."""
    return " ".join((display or "").split())[:names.NAME_MAX] or "?"


def _ask_name(t: Any, current: str) -> str:
    if current == "?":
        return t("vi", "Loa does not know your name yet. Send your full name, so that other "
                 "officers know who wrote or approved what: /ten Nguyễn Văn A")
    return t("vi", "Other officers see you as “{name}”. If that is not your full name, send "
             "it so that they know who wrote or approved what: /ten Nguyễn Văn A",
             name=current)
