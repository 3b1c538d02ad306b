"""One router for chat commands and buttons (bot/delivery/commands.py): /canbo and /help list
what the features declare, and the features answer in the contact's language (Telegram)."""
from __future__ import annotations

from dataclasses import replace

import pytest
from support.env import free_port, sql_write, start_server
from support.fakebotapi import FakeBotApi
from support.outreach_chat import OfficerChat, register

from bot.app import build_app
from bot.delivery.commands import Chat, Command, Router
from bot.features.translations.service import StringCatalog
from bot.web.keys import RUNTIME

OFFICER_COMMANDS = ("/dangky", "/quantri", "/canbo", "/ghinhan", "/baocao", "/huy")


@pytest.fixture
async def loa(settings):  # type: ignore[no-untyped-def]
    async with FakeBotApi(token="778:COMMANDS") as api:
        port = free_port()
        s = replace(settings, telegram_token=api.token, telegram_api_url=api.base_url,
                    port=port, public_url=f"http://127.0.0.1:{port}", quiet_hours="",
                    telegram_webhook_secret="c" * 20)
        app = build_app(s)
        runner, _ = await start_server(app, port)
        try:
            yield api, s, app
        finally:
            await runner.cleanup()


async def test_canbo_lists_every_officer_command_the_features_declare(loa):
    api, settings, _ = loa
    officer = await register(api, settings, 4501, "xa-24175", "editor")
    (listing,) = await officer.send("/canbo")
    for command in OFFICER_COMMANDS:
        assert f"{command} — " in listing["text"], (command, listing["text"])
    assert "/xoadulieu" not in listing["text"]     # a citizen command: in /help instead
    (help_,) = await OfficerChat(api, 4502).send("/help")
    assert "/xoadulieu — " in help_["text"]


async def test_officer_and_citizen_commands_answer_in_the_contacts_language(loa):
    api, settings, app = loa
    officer = await register(api, settings, 4503, "xa-24175", "editor")
    # An approved catalog of a minority language, as bot/features/translations installs one.
    app[RUNTIME].translator.set_catalog("rad", StringCatalog({
        "Officer commands:": "RAD-TEST officer commands:",
        "cancel the outreach being logged": "RAD-TEST cancel",
        "Nothing was erased.": "RAD-TEST nothing erased."}))
    await sql_write(settings, "update contact set lang = 'rad' where address = '4503'")
    (listing,) = await officer.send("/canbo")
    assert listing["text"].startswith("RAD-TEST officer commands:")
    assert "/huy — RAD-TEST cancel" in listing["text"]
    await officer.send("/xoadulieu")
    (kept,) = await officer.press("forget:no")
    assert kept["text"] == "RAD-TEST nothing erased."
    # a Vietnamese contact keeps Vietnamese
    await sql_write(settings, "update contact set lang = 'vi' where address = '4503'")
    (listing,) = await officer.send("/canbo")
    assert listing["text"].startswith("Lệnh cho cán bộ:")


class _Feature:
    def __init__(self, commands: tuple[Command, ...], prefixes: tuple[str, ...]) -> None:
        self.commands, self.prefixes = commands, prefixes

    async def handle(self, chat: Chat) -> None:
        return None


def test_a_command_or_button_prefix_declared_twice_is_refused_at_start():
    one = _Feature((Command("ghinhan", "x"),), ("og:",))
    with pytest.raises(ValueError, match="/ghinhan"):
        Router([one, _Feature((Command("log", "y", aliases=("ghinhan",)),), ())], None)
    with pytest.raises(ValueError, match="overlaps"):
        Router([one, _Feature((), ("og:x",))], None)
