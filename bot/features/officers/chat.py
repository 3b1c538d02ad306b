"""Officer commands in the chat: /dangky CODE registers, /quantri sends an admin login link."""
from __future__ import annotations

import logging
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncConnection

from bot.core.i18n import Translator
from bot.core.messages import InboundKind, Reply
from bot.delivery.commands import Chat, Command
from bot.features.officers import service as officers

log = logging.getLogger(__name__)

REGISTER = ("dangky", "register")
ADMIN = ("quantri", "admin")
HELP = ("canbo", "officer")


def role_label(t: Translator, role: str, lang: str = "vi") -> str:
    labels = {"viewer": t.gettext(lang, "viewer"), "editor": t.gettext(lang, "editor"),
              "approver": t.gettext(lang, "approver"),
              "admin": t.gettext(lang, "administrator"),
              "reviewer": t.gettext(lang, "translation reviewer")}
    return labels.get(role, role)


class OfficerCommands:
    """Officer commands in the chat (bot/delivery/commands.py), in the contact's language."""

    commands = (Command(REGISTER[0], "register as an officer with your invite code",
                        aliases=REGISTER[1:]),
                Command(ADMIN[0], "a login link for the admin page", aliases=ADMIN[1:]),
                Command(HELP[0], "this list of officer commands", aliases=HELP[1:]))
    prefixes: tuple[str, ...] = ()

    def __init__(self, translator: Translator, public_url: str) -> None:
        self.t = translator
        self.public_url = public_url.rstrip("/")

    async def expecting(self, conn: AsyncConnection,
                        contacts: Sequence[tuple[str, str]]) -> set[tuple[str, str]] | None:
        return None   # no dialogs: free text it takes is known from the text alone

    async def handle(self, chat: Chat) -> list[Reply] | None:
        inbound, conn = chat.env.inbound, chat.conn
        channel, pseudonym, env, lang = chat.channel, chat.pseudonym, chat.env, chat.lang
        if inbound is None or inbound.kind is not InboundKind.COMMAND:
            return None

        def t(_lang: str, msgid: str, **kw: object) -> str:   # always the contact's language
            return self.t.gettext(lang, msgid, **kw)
        if inbound.text in REGISTER:
            code = inbound.args.strip()
            if not code:
                return [Reply(t("vi", "Send your invite code like this: /dangky ABCD1234"))]
            try:
                officer = await officers.redeem_invite(conn, code[:32], channel, pseudonym,
                                                       env.address, env.name)
            except officers.OfficerError as exc:
                reasons = {"unknown": t("vi", "This invite code is not valid."),
                           "used": t("vi", "This invite code has already been used."),
                           "expired": t("vi", "This invite code has expired. Ask for a new "
                                        "one.")}
                return [Reply(reasons.get(str(exc), str(exc)))]
            log.info("officer %s registered", officer.id)
            return [Reply(t("vi", "Registered: officer of {unit}, role {role}. Type /quantri "
                            "to open the admin page, /canbo for officer help.",
                            unit=officer.unit_name,
                            role=role_label(self.t, officer.role, lang)))]
        officer = await officers.officer_for(conn, channel, pseudonym)
        if officer is None:
            return None   # citizens typing these get the normal conversation
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
