"""Table tests of both Zalo adapters on captured-shape payloads (tests/data/zalo)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from support.fakezalo import payload, signature, signed

from bot.channels.zalo.bot import ZaloBotChannel, update_id
from bot.channels.zalo.common import Pacer, ReplyRenderer, text_inbound
from bot.channels.zalo.oa import ZaloOAChannel, read_event
from bot.core.messages import InboundKind
from bot.delivery.channel import ParseError
from bot.settings import Settings, SettingsError

APP_ID = "3608465249409039670"
OA_SECRET = "oa-secret-key-123"
RENDERER = ReplyRenderer({}, lambda m: m)
BOT = ZaloBotChannel(None, "s3cret-token", RENDERER, Pacer(10))
NOW = 1764132000.123 + 5          # five seconds after the fixtures' timestamp
OA = ZaloOAChannel(APP_ID, OA_SECRET, "http://127.0.0.1:9", None, None, None,  # type: ignore[arg-type]
                   RENDERER, Pacer(10), max_age_s=300, clock=lambda: NOW)


def raw(name: str) -> bytes:
    return json.dumps(payload(name), ensure_ascii=False).encode()


# -- Bot Platform --------------------------------------------------------------------------

@pytest.mark.parametrize("name, kind, value", [
    ("bot_text", InboundKind.TEXT, "khi nào tắt sóng 2G vậy"),            # wrapped {ok,result}
    ("bot_text_unwrapped", InboundKind.TEXT, "khi nao tat song 2g"),
    ("bot_command_start", InboundKind.COMMAND, "start"),
    ("bot_lang_command", InboundKind.CHOICE, "lang:vi"),
    ("bot_image_caption", InboundKind.TEXT, "Máy của tôi đây, có dùng 4G được không?"),
    ("bot_image", InboundKind.UNSUPPORTED, "photo"),
    ("bot_sticker", InboundKind.UNSUPPORTED, "sticker"),
    ("bot_unsupported", InboundKind.UNSUPPORTED, "unsupported"),
    ("bot_emoji", InboundKind.TEXT, "🙏👍🏽 khi nào tắt 2G"),
])
def test_bot_private_messages_become_inbounds(name, kind, value):
    (env,) = BOT.parse(raw(name))
    data = payload(name)
    message = (data.get("result") or data)["message"]
    assert env.inbound is not None and env.inbound.kind is kind
    assert value in (env.inbound.text, env.inbound.choice)
    assert env.address == message["chat"]["id"] and env.user_key == message["from"]["id"]
    assert env.name == "Ama H'Nhi"


@pytest.mark.parametrize("name", ["bot_group_text", "bot_unknown_event"])
def test_bot_groups_and_unknown_events_are_ignored(name):
    assert BOT.parse(raw(name)) == []


@pytest.mark.parametrize("body", [b"", b"not json", b"[]", b'"text"', raw("bot_missing_from"),
                                  raw("bot_missing_message"),
                                  b'{"event_name": "message.text.received", "message": 5}'])
def test_bot_malformed_updates_raise_parse_error(body):
    with pytest.raises(ParseError):
        BOT.parse(body)


def test_bot_update_id_is_the_message_id_wrapped_or_not():
    wrapped = update_id(raw("bot_text"))
    assert wrapped == "m:2d758cb5e222177a4e35"
    unwrapped = json.dumps(payload("bot_text")["result"]).encode()
    assert update_id(unwrapped) == wrapped
    no_id = update_id(raw("bot_missing_message"))
    assert no_id.startswith("h:") and len(no_id) <= 80
    for body in (b"", b"[1]", b"nope"):
        with pytest.raises(ParseError):
            update_id(body)


def test_bot_webhook_secret_is_checked_exactly():
    assert BOT.verify({"X-Bot-Api-Secret-Token": "s3cret-token"}, b"{}")
    assert BOT.verify({"x-bot-api-secret-token": "s3cret-token"}, b"{}")
    assert not BOT.verify({"X-Bot-Api-Secret-Token": "s3cret-tokeN"}, b"{}")
    assert not BOT.verify({}, b"{}")
    unset = ZaloBotChannel(None, "", RENDERER, Pacer(10))
    assert not unset.verify({"X-Bot-Api-Secret-Token": ""}, b"{}")


# -- Official Account ----------------------------------------------------------------------

@pytest.mark.parametrize("name, kind, value", [
    ("oa_user_send_text", InboundKind.TEXT, "khi nao tat song 2g"),
    ("oa_user_send_image", InboundKind.TEXT, "máy này có 4G không"),   # the caption is asked
    ("oa_user_send_image_no_text", InboundKind.UNSUPPORTED, "photo"),
    ("oa_user_send_audio", InboundKind.UNSUPPORTED, "voice"),
    ("oa_user_send_location", InboundKind.UNSUPPORTED, "location"),
    ("oa_user_send_sticker", InboundKind.UNSUPPORTED, "sticker"),
])
def test_oa_user_events_become_inbounds(name, kind, value):
    (env,) = OA.parse(raw(name))
    assert env.inbound is not None and env.inbound.kind is kind
    assert value in (env.inbound.text, env.inbound.choice)
    assert env.address == env.user_key == payload(name)["sender"]["id"]


def test_oa_follow_makes_a_contact_without_a_reply_and_unfollow_stops_it():
    (follow,) = OA.parse(raw("oa_follow"))
    assert follow.inbound is None and not follow.stopped
    (unfollow,) = OA.parse(raw("oa_unfollow"))
    assert unfollow.inbound is None and unfollow.stopped
    assert unfollow.user_key == payload("oa_unfollow")["follower"]["id"]


@pytest.mark.parametrize("name", ["oa_oa_send_text", "oa_unknown_event"])
def test_oa_own_messages_and_unknown_events_are_ignored(name):
    assert OA.parse(raw(name)) == []


@pytest.mark.parametrize("body", [b"", b"not json", b"[]", raw("oa_missing_sender"),
                                  b'{"timestamp": "1"}'])
def test_oa_malformed_events_raise_parse_error(body):
    with pytest.raises(ParseError):
        OA.parse(body)


def test_oa_event_keys_and_windows():
    text = read_event(raw("oa_user_send_text"))
    assert text.external_id == "m:96d3cdf3af150460909" and text.opens_window
    assert text.user_id == "2468458835291979220"
    assert abs(text.at.timestamp() - 1764132000.123) < 0.001
    follow = read_event(raw("oa_follow"))
    assert follow.external_id.startswith("h:") and not follow.opens_window
    assert not read_event(raw("oa_oa_send_text")).opens_window
    with pytest.raises(ParseError):
        read_event(raw("oa_missing_timestamp"))


def _headers(body: bytes, timestamp: str, secret: str = OA_SECRET) -> dict[str, str]:
    return {"X-ZEvent-Signature": "mac=" + signature(APP_ID, body, timestamp, secret)}


def test_oa_signature_good_bad_missing_stale():
    event = payload("oa_user_send_text")
    body, headers = signed(event, APP_ID, OA_SECRET)
    stamp = event["timestamp"]
    assert OA.verify(headers, body)
    assert OA.verify({k.lower(): v for k, v in headers.items()}, body)
    assert OA.verify({"X-ZEvent-Signature": headers["X-ZEvent-Signature"][4:]}, body)
    assert not OA.verify({}, body)                                       # missing
    assert not OA.verify({"X-ZEvent-Signature": "mac="}, body)
    assert not OA.verify(_headers(body, stamp, "wrong-secret"), body)    # bad key
    assert not OA.verify(headers, body.replace(b"2g", b"3g"))            # tampered body
    assert not OA.verify(_headers(body, str(int(stamp) + 1)), body)      # signed other time
    late = ZaloOAChannel(APP_ID, OA_SECRET, "http://127.0.0.1:9", None, None, None,  # type: ignore[arg-type]
                         RENDERER, Pacer(10), max_age_s=300, clock=lambda: NOW + 400)
    assert not late.verify(headers, body)                                # too old: replay
    early = ZaloOAChannel(APP_ID, OA_SECRET, "http://127.0.0.1:9", None, None, None,  # type: ignore[arg-type]
                          RENDERER, Pacer(10), max_age_s=300, clock=lambda: NOW - 120)
    assert not early.verify(headers, body)                               # from the future
    missing = raw("oa_missing_timestamp")
    assert not OA.verify(_headers(missing, ""), missing)
    unset = ZaloOAChannel(APP_ID, "", "http://127.0.0.1:9", None, None, None,  # type: ignore[arg-type]
                          RENDERER, Pacer(10), clock=lambda: NOW)
    assert not unset.verify(_headers(body, stamp, ""), body)


# -- typed commands and settings -----------------------------------------------------------

@pytest.mark.parametrize("text, kind, value, args", [
    ("/start", InboundKind.COMMAND, "start", ""),
    ("/dangky ABCD1234", InboundKind.COMMAND, "dangky", "ABCD1234"),
    ("/lang rad", InboundKind.CHOICE, "lang:rad", ""),
    ("/lang", InboundKind.COMMAND, "lang", ""),
    ("/lang ../x", InboundKind.COMMAND, "lang", "../x"),
    ("/", InboundKind.TEXT, "/", ""),
    ("  3 ", InboundKind.TEXT, "3", ""),
])
def test_typed_commands(text, kind, value, args):
    inbound = text_inbound(text)
    assert inbound.kind is kind and value in (inbound.text, inbound.choice)
    assert inbound.args == args


def test_settings_of_zalo(tmp_path: Path):
    base = {"BOT_DATA_DIR": str(tmp_path)}
    s = Settings.from_env({**base, "BOT_ZALO_BOT_TOKEN": "1:x", "BOT_ZALO_RATE": "5",
                           "BOT_ZALO_OA_ALLOW_PAID": "yes"})
    assert s.zalo_rate == 5 and s.zalo_oa_allow_paid and 8 <= len(s.zalo_webhook_secret) <= 256
    assert "1:x" not in repr(s)
    for env, name in [({"BOT_ZALO_WEBHOOK_URL": "http://loa.example/zalo"}, "WEBHOOK_URL"),
                      ({"BOT_ZALO_WEBHOOK_SECRET": "short"}, "WEBHOOK_SECRET"),
                      ({"BOT_ZALO_OA_APP_ID": "1"}, "OA_SECRET_KEY"),
                      ({"BOT_ZALO_OA_REFRESH_TOKEN": "r"}, "APP_SECRET_KEY"),
                      ({"BOT_ZALO_RATE": "0"}, "BOT_ZALO_RATE"),
                      ({"BOT_ZALO_OA_ALLOW_PAID": "maybe"}, "ALLOW_PAID")]:
        with pytest.raises(SettingsError, match=name):
            Settings.from_env({**base, **env})

