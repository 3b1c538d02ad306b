"""Table tests of the Telegram adapter on captured-style payloads."""
from __future__ import annotations

import json

import pytest
from support.fakebotapi import payload

from bot.channels.telegram.adapter import TelegramChannel, update_id
from bot.core.messages import InboundKind
from bot.delivery.channel import ParseError

CHANNEL = TelegramChannel(bot=None, webhook_secret="s3cret-token")


def parse(name: str):
    return CHANNEL.parse(json.dumps(payload(name)).encode())


@pytest.mark.parametrize("name, kind, value", [
    ("text", InboundKind.TEXT, None),
    ("command_start", InboundKind.COMMAND, "start"),
    ("callback_query", InboundKind.CHOICE, "faq:2g_end_date"),
    ("sticker", InboundKind.UNSUPPORTED, "sticker"),
    ("voice", InboundKind.UNSUPPORTED, "voice"),
    ("location", InboundKind.UNSUPPORTED, "location"),
    ("contact", InboundKind.UNSUPPORTED, "contact"),
    ("photo", InboundKind.TEXT, "Máy của tôi đây, có dùng 4G được không?"),   # its caption
    ("edited_message", InboundKind.TEXT, None),     # a corrected question is answered
    ("emoji", InboundKind.TEXT, None),
    ("long_text", InboundKind.TEXT, None),
])
def test_private_messages_become_inbounds(name, kind, value):
    (env,) = parse(name)
    raw = payload(name)
    body = raw.get("message") or raw.get("edited_message") or raw["callback_query"]["message"]
    assert env.inbound is not None and env.inbound.kind is kind
    assert env.address == str(body["chat"]["id"])
    if value is not None:
        assert value in (env.inbound.text, env.inbound.choice)
    if kind is InboundKind.CHOICE:
        assert env.ack_id == raw["callback_query"]["id"]


@pytest.mark.parametrize("name", ["group_message", "channel_post", "malformed_no_message"])
def test_groups_channels_and_unknown_updates_are_ignored(name):
    assert parse(name) == []


def test_blocking_the_bot_marks_the_contact_stopped():
    (env,) = parse("my_chat_member_kicked")
    assert env.stopped and env.inbound is None


@pytest.mark.parametrize("body", [b"", b"not json", b"[]", b'{"message": {}}',
                                  b'{"update_id": "7"}', b'{"update_id": true}'])
def test_update_id_rejects_malformed_bodies(body):
    with pytest.raises(ParseError):
        update_id(body)


@pytest.mark.parametrize("update", [
    {"update_id": 1, "message": {"garbage": True}},
    {"update_id": 2, "message": "text"},
    {"update_id": 3, "callback_query": {"id": "x"}},
])
def test_malformed_nested_objects_raise_parse_error_not_crash(update):
    with pytest.raises(ParseError):
        CHANNEL.parse(json.dumps(update).encode())


def test_webhook_secret_is_checked_exactly():
    assert CHANNEL.verify({"X-Telegram-Bot-Api-Secret-Token": "s3cret-token"}, b"{}")
    assert not CHANNEL.verify({"X-Telegram-Bot-Api-Secret-Token": "s3cret-tokeN"}, b"{}")
    assert not CHANNEL.verify({}, b"{}")
    assert not TelegramChannel(None, "").verify({"X-Telegram-Bot-Api-Secret-Token": ""}, b"")


def test_a_user_without_a_first_name_is_read_not_a_crash():
    """Found by the fuzz test: full_name is None without a first name; handling failed with a
    TypeError (and a traceback in the log) three times."""
    body = {"update_id": 5, "message": {"message_id": 1, "date": 0, "text": "khi nao tat 2g",
                                        "chat": {"id": 7, "type": "private"},
                                        "from": {"id": 7, "is_bot": False, "first_name": None}}}
    (envelope,) = TelegramChannel(None).parse(json.dumps(body).encode())
    assert envelope.inbound.text == "khi nao tat 2g" and envelope.name == ""



def test_a_chat_id_that_is_not_a_number_is_a_parse_error():
    """Found by the fuzz test: "0x10" was read, then every send failed with a ValueError."""
    body = {"update_id": 6, "message": {"message_id": 1, "date": 0, "text": "hi",
                                        "chat": {"id": "0x10", "type": "private"},
                                        "from": {"id": 8, "is_bot": False, "first_name": "A"}}}
    with pytest.raises(ParseError, match="out of range"):
        TelegramChannel(None).parse(json.dumps(body).encode())
