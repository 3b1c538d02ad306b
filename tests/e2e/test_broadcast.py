"""Announcements end to end: opt-in, approval by a second officer, paced delivery with exactly
one final state per recipient, stop, retract, polls, quiet hours, and a killed process."""
from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import aiohttp
import pytest
from support.broadcasts import seed_contacts
from support.cli import run_cli
from support.clock import FastForward
from support.env import database_env, free_port, sql_connect, start_server
from support.fakebotapi import FakeBotApi, callback_update, text_update
from support.officers import make_officer
from support.waiting import wait_for as _wait_for

from bot.app import LOA, build_app
from bot.delivery.outbox import parse_quiet_hours, quiet_until
from bot.store.models import utcnow

ROOT = Path(__file__).resolve().parents[2]
FINAL = ("sent", "blocked", "failed", "cancelled")


async def wait_for(predicate, timeout: float = 30.0) -> None:
    await _wait_for(predicate, timeout, every=0.05)


def outbox_states(settings, broadcast_id: int) -> dict[str, int]:
    with sql_connect(settings) as db:
        return dict(db.execute("select status, count(*) from outbox where broadcast_id = ? "
                               "group by status", (broadcast_id,)).fetchall())


class Admin:
    """An officer's browser: logs in with a real link and posts the admin forms."""

    def __init__(self, http: aiohttp.ClientSession, url: str) -> None:
        self.http, self.url = http, url
        self.csrf = ""

    async def login(self, token: str) -> None:
        response = await self.http.get(f"{self.url}/admin/login?token={token}")
        assert response.status == 200
        html = await response.text()
        self.csrf = re.search(r'name="csrf" value="([^"]+)"', html)[1]

    async def post(self, path: str, data: dict | list) -> tuple[int, str]:
        items = list(data.items()) if isinstance(data, dict) else list(data)
        response = await self.http.post(f"{self.url}{path}", data=[("csrf", self.csrf), *items])
        return response.status, await response.text()


@contextlib.asynccontextmanager
async def running_loa(settings, clock: FastForward | None = None, paid_rate: int = 0):
    """Loa announcing at 25 a second to a fake Bot API; with `clock`, both on that virtual
    time (the pacing waits skipped, the fake counting its limits on the same clock); with
    `paid_rate`, as Telegram's paid broadcasts at that rate."""
    async with FakeBotApi(token="555:BROADCAST",
                          **({"clock": clock.monotonic} if clock else {})) as api:
        port = free_port()
        s = replace(settings, telegram_token=api.token, telegram_api_url=api.base_url,
                    port=port, public_url=f"http://127.0.0.1:{port}", quiet_hours="",
                    telegram_rate=25, telegram_webhook_secret="s" * 20,
                    telegram_paid_rate=paid_rate)
        app = build_app(s)
        runner, url = await start_server(app, port)
        if clock is not None:   # before anything is announced
            app[LOA].senders["telegram"].use_clock(clock)
        try:
            yield api, url, s
        finally:
            await runner.cleanup()


@pytest.fixture
async def loa(settings):
    async with running_loa(settings) as running:
        yield running


@pytest.fixture
async def loa_on_virtual_time(settings):
    async with running_loa(settings, FastForward()) as running:
        yield running


async def officers_pair(settings, url):
    """An editor and an approver of the same commune, each with a logged-in browser."""
    _, editor_token = await make_officer(settings, "xa-24175", "editor", "Biên tập")
    _, approver_token = await make_officer(settings, "xa-24175", "approver", "Duyệt")
    editor_http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
    approver_http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
    editor, approver = Admin(editor_http, url), Admin(approver_http, url)
    await editor.login(editor_token)
    await approver.login(approver_token)
    return editor, approver, (editor_http, approver_http)


# -- pure parts ----------------------------------------------------------------------------

def test_quiet_hours_window_in_vietnam_time():
    quiet = parse_quiet_hours("21:00-07:00")
    vn = dt.timezone(dt.timedelta(hours=7))
    at = lambda h, m=0: dt.datetime(2026, 11, 26, h, m, tzinfo=vn)  # noqa: E731
    assert quiet_until(at(22), quiet) == dt.datetime(2026, 11, 27, 7, tzinfo=vn)
    assert quiet_until(at(6, 59), quiet) == dt.datetime(2026, 11, 26, 7, tzinfo=vn)
    assert quiet_until(at(7), quiet) is None and quiet_until(at(20, 59), quiet) is None
    assert quiet_until(at(23), None) is None
    with pytest.raises(ValueError):
        parse_quiet_hours("9pm-7am")


# -- the whole flow --------------------------------------------------------------------------

async def test_citizen_opts_in_by_commune_and_out_with_stop(loa):
    api, _, settings = loa
    chat = 4242
    api.push_update(text_update(chat, "1"))
    (answer,) = await api.wait_for_calls("sendMessage", 1, chat_id=chat)
    labels = [b["callback_data"] for row in answer.params["reply_markup"]["inline_keyboard"]
              for b in row]
    assert "sub" in labels
    api.push_update(callback_update(chat, "sub"))
    api.push_update(text_update(chat, "cu mgar"))          # typed without marks or apostrophe
    replies = await api.wait_for_calls("sendMessage", 3, chat_id=chat)
    assert "Cư M'gar" in replies[2].params["text"]
    with sql_connect(settings) as db:   # subscribed, to xã Cư M'gar (24280)
        assert db.execute("select subscribed, commune_code from contact").fetchone() == \
            (1, "24280")
    api.push_update(text_update(chat, "dừng"))
    await api.wait_for_calls("sendMessage", 4, chat_id=chat)
    with sql_connect(settings) as db:
        assert db.execute("select subscribed from contact").fetchone() == (0,)


async def test_second_officer_approval_then_delivery_to_the_audience_only(loa):
    api, url, settings = loa
    inside = await seed_contacts(settings, 30, 200_000, commune="24175")
    await seed_contacts(settings, 10, 300_000, commune="24133")                 # other commune
    await seed_contacts(settings, 10, 400_000, commune="24175", subscribed=False)
    editor, approver, sessions = await officers_pair(settings, url)
    try:
        status, page = await editor.post("/admin/broadcasts", [
            ("kind", "message"), ("text", "Thứ Bảy này có điểm đổi máy 4G tại UBND xã."),
            ("communes", "24175")])
        assert status == 200 and "Xem trước" in page, page[:300]
        broadcast_id = int(re.search(r"Thông báo số (\d+)", page)[1])
        assert re.search(r'id="audience-total">30<', page)           # preview counts
        assert "Telegram: 30 tin, 25 tin mỗi giây, mất chưa đến 1 phút (miễn phí)." in page
        status, page = await editor.post(f"/admin/broadcasts/{broadcast_id}/approve", {})
        assert status == 409 or "Duyệt và gửi" not in page           # no self-approval
        status, _ = await editor.post(f"/admin/broadcasts/{broadcast_id}/submit", {})
        assert status == 200
        status, page = await editor.post(f"/admin/broadcasts/{broadcast_id}/approve", {})
        assert status == 409 and "cán bộ thứ hai" in page
        assert outbox_states(settings, broadcast_id) == {}             # nothing sent yet
        status, page = await approver.post(f"/admin/broadcasts/{broadcast_id}/approve", {})
        assert status == 200
        await wait_for(lambda: outbox_states(settings, broadcast_id).get("sent") == 30)
        sent_to = {c.params["chat_id"] for c in api.calls
                   if c.method == "sendMessage" and c.ok and "UBND xã" in c.params["text"]}
        assert sent_to == set(inside)
        assert not any("allow_paid_broadcast" in c.params for c in api.calls)   # free
        await wait_for(lambda: sql_connect(settings).execute(
            "select status from broadcast").fetchone() == ("done",))
        with sql_connect(settings) as db:
            run = db.execute("select form, medium, reached from run where form = 'broadcast'"
                             ).fetchall()
            actions = [r[0] for r in db.execute("select action from audit_log order by id")]
        assert run == [("broadcast", "telegram", 30)]
        assert {"broadcast.create", "broadcast.submit", "broadcast.approve",
                "broadcast.start"} <= set(actions)
    finally:
        for s in sessions:
            await s.close()


async def test_two_thousand_recipients_with_flood_blocks_and_errors(loa_on_virtual_time):
    api, url, settings = loa_on_virtual_time   # 80 s of pacing at 25/s, on virtual time
    chats = await seed_contacts(settings, 2000)
    for chat in chats[:40]:
        api.block(chat)
    api.limit(global_per_s=30, per_chat_per_s=1, retry_after=1)
    api.fail_next(5, status=502)
    editor, approver, sessions = await officers_pair(settings, url)
    try:
        _, page = await editor.post("/admin/broadcasts", {"kind": "message",
                                                          "text": "Thông báo thử tải"})
        broadcast_id = int(re.search(r"Thông báo số (\d+)", page)[1])
        await editor.post(f"/admin/broadcasts/{broadcast_id}/submit", {})
        await approver.post(f"/admin/broadcasts/{broadcast_id}/approve", {})
        # a citizen asks a question while the announcement is going out
        await wait_for(lambda: outbox_states(settings, broadcast_id).get("sent", 0) > 100)
        asked = time.monotonic()
        api.push_update(text_update(777, "khi nao tat song 2g"))
        (reply,) = await api.wait_for_calls("sendMessage", 1, chat_id=777, timeout=20)
        replied_while_sending = outbox_states(settings, broadcast_id).get("pending", 0) > 0
        assert reply.ok and replied_while_sending, "the reply lane was starved"
        assert time.monotonic() - asked < 20
        await wait_for(lambda: sum(outbox_states(settings, broadcast_id).get(s, 0)
                                   for s in FINAL) == 2000, timeout=240)
    finally:
        for s in sessions:
            await s.close()
    states = outbox_states(settings, broadcast_id)
    assert states == {"sent": 1960, "blocked": 40}
    assert api.early_sends == 0               # never sent before a retry_after expired
    delivered = [c.params["chat_id"] for c in api.calls if c.method == "sendMessage" and c.ok
                 and c.params.get("chat_id") in set(chats)]
    assert len(delivered) == len(set(delivered)) == 1960     # nobody got it twice


@pytest.mark.sqlite_only   # the channel's business: the database adds nothing here
async def test_paid_broadcasts_are_opt_in_show_their_cost_and_spare_replies(settings):
    # BOT_TELEGRAM_PAID_RATE: announcements as Telegram's paid broadcasts (0.1 Star each, up
    # to 1000 a second); the approver sees the cost first; replies stay free.
    async with running_loa(settings, paid_rate=300) as (api, url, s):
        inside = await seed_contacts(s, 40, 500_000, commune="24175")
        editor, approver, sessions = await officers_pair(s, url)
        try:
            _, page = await editor.post("/admin/broadcasts", [
                ("kind", "message"), ("text", "Điểm đổi máy 4G mở cửa cả Chủ nhật."),
                ("communes", "24175")])
            assert ("Telegram đang bật gửi trả phí: 40 tin, tối đa 300 tin mỗi giây, chưa "
                    "đến 1 phút, tốn 4,0 Telegram Stars (0,1 Star mỗi tin, trừ vào số dư của "
                    "Loa trên Telegram)."
                    ) in page
            broadcast_id = int(re.search(r"Thông báo số (\d+)", page)[1])
            await editor.post(f"/admin/broadcasts/{broadcast_id}/submit", {})
            await approver.post(f"/admin/broadcasts/{broadcast_id}/approve", {})
            api.push_update(text_update(inside[0], "khi nao tat song 2g"))
            await wait_for(lambda: outbox_states(s, broadcast_id).get("sent") == 40)
            await api.wait_for_calls("sendMessage", 2, chat_id=inside[0])
        finally:
            for session in sessions:
                await session.close()
    sends = [c for c in api.calls if c.method == "sendMessage" and c.ok]
    announced = [c for c in sends if "Chủ nhật" in c.params["text"]]
    replies = [c for c in sends if "Chủ nhật" not in c.params["text"]]
    assert {c.params["chat_id"] for c in announced} == set(inside)
    assert all(c.params.get("allow_paid_broadcast") is True for c in announced)
    assert replies and all("allow_paid_broadcast" not in c.params for c in replies)


async def test_stop_and_retract(loa):
    api, url, settings = loa
    await seed_contacts(settings, 300)
    editor, approver, sessions = await officers_pair(settings, url)
    try:
        _, page = await editor.post("/admin/broadcasts", {"kind": "message", "text": "Tin sai"})
        broadcast_id = int(re.search(r"Thông báo số (\d+)", page)[1])
        await editor.post(f"/admin/broadcasts/{broadcast_id}/submit", {})
        await approver.post(f"/admin/broadcasts/{broadcast_id}/approve", {})
        await wait_for(lambda: outbox_states(settings, broadcast_id).get("sent", 0) >= 20)
        status, page = await editor.post(f"/admin/broadcasts/{broadcast_id}/stop", {})
        assert status == 200 and "Đã dừng" in page
        await wait_for(lambda: "sending" not in outbox_states(settings, broadcast_id))
        states = outbox_states(settings, broadcast_id)
        assert states.get("cancelled", 0) > 0 and set(states) <= set(FINAL)
        assert sum(states.values()) == 300
        # Drained: no row is pending, being sent or to be retried, so nothing more can go
        # out; what went out is exactly what is recorded as sent, each once.
        sent_after_stop = [c.params["chat_id"] for c in api.calls if c.method == "sendMessage"
                           and "Tin sai" in c.params.get("text", "")]
        assert len(sent_after_stop) == len(set(sent_after_stop)) == states["sent"]
        # Retracting asks first: one POST without the confirmation deletes nothing.
        status, page = await editor.post(f"/admin/broadcasts/{broadcast_id}/retract", {})
        assert status == 200 and f"Loa sẽ xóa {states['sent']} tin đã gửi" in page
        assert [c for c in api.calls if c.method == "deleteMessage"] == []
        token = re.search(r'name="confirm" value="([^"]+)"', page)[1]
        status, page = await editor.post(f"/admin/broadcasts/{broadcast_id}/retract",
                                         {"confirm": token})
        assert status == 200 and f"Đã xóa {states['sent']} tin" in page
        deletes = [c for c in api.calls if c.method == "deleteMessage"]
        assert len(deletes) == states["sent"]
        # The same confirmation again (a double click) deletes nothing more.
        status, page = await editor.post(f"/admin/broadcasts/{broadcast_id}/retract",
                                         {"confirm": token})
        assert status == 409 and "đã cũ" in page
        assert len([c for c in api.calls if c.method == "deleteMessage"]) == states["sent"]
        # Then the page says what became of it and offers no second retraction (review F12).
        page = await (await editor.http.get(f"{url}/admin/broadcasts/{broadcast_id}")).text()
        state = re.search(r'<span id="status">([^<]*)</span>', page)[1]
        assert re.fullmatch(rf"đã thu hồi: đã xóa {states['sent']} tin lúc \d\d:\d\d "
                            r"\d\d/\d\d/\d{4}", state), state
        assert 'value="retract"' not in page
    finally:
        for s in sessions:
            await s.close()


async def test_poll_answers_are_stored_once_per_citizen(loa):
    api, url, settings = loa
    chats = await seed_contacts(settings, 3)
    editor, approver, sessions = await officers_pair(settings, url)
    try:
        _, page = await editor.post("/admin/broadcasts", {"kind": "poll", "text": ""})
        broadcast_id = int(re.search(r"Thông báo số (\d+)", page)[1])
        assert "đã chuyển sang điện thoại 4G chưa?" in page
        await editor.post(f"/admin/broadcasts/{broadcast_id}/submit", {})
        await approver.post(f"/admin/broadcasts/{broadcast_id}/approve", {})
        await wait_for(lambda: outbox_states(settings, broadcast_id).get("sent") == 3)
    finally:
        for s in sessions:
            await s.close()
    api.push_update(callback_update(chats[0], f"poll:{broadcast_id}:not_yet"))
    api.push_update(callback_update(chats[0], f"poll:{broadcast_id}:switched"))  # changed mind
    api.push_update(callback_update(chats[1], f"poll:{broadcast_id}:planning"))
    await api.wait_for_calls("sendMessage", 2, chat_id=chats[0])
    await api.wait_for_calls("sendMessage", 1, chat_id=chats[1])
    with sql_connect(settings) as db:
        answers = sorted(db.execute("select answer from poll_answer").fetchall())
    assert answers == [("planning",), ("switched",)]


async def test_quiet_hours_hold_announcements(settings):
    now = dt.datetime.now(dt.timezone(dt.timedelta(hours=7)))
    window = f"{(now - dt.timedelta(hours=1)):%H:%M}-{(now + dt.timedelta(hours=1)):%H:%M}"
    async with FakeBotApi(token="556:QUIET") as api:
        port = free_port()
        s = replace(settings, telegram_token=api.token, telegram_api_url=api.base_url,
                    port=port, public_url=f"http://127.0.0.1:{port}", quiet_hours=window,
                    telegram_webhook_secret="q" * 20)
        await seed_contacts(settings, 5)
        app = build_app(s)
        runner, _ = await start_server(app, port)
        sender = app[LOA].senders["telegram"]
        rounds: list[tuple[float, bool]] = []   # the bulk lane's rounds: (start, sent any)
        bulk_round = sender.send_bulk

        async def counted_round() -> bool:
            started = time.monotonic()
            busy = await bulk_round()
            rounds.append((started, busy))
            return busy

        sender.send_bulk = counted_round   # type: ignore[method-assign]
        try:
            result = await asyncio.to_thread(   # the loop must run: Loa lives in it
                run_cli, "broadcast", "send", "--text", "Ban đêm",
                env={**os.environ, **database_env(settings),
                     "BOT_SECRET_KEY": settings.secret_key})
            assert "queued for 5 recipients" in result.stdout
            queued = time.monotonic()
            api.push_update(text_update(999, "1"))       # replies are not held
            await api.wait_for_calls("sendMessage", 1, chat_id=999)
            # The bulk lane looked at the queued announcement (a whole round begun after it
            # was queued) and sent nothing: quiet hours.
            await wait_for(lambda: any(start > queued for start, _ in rounds))
            assert not any(busy for _, busy in rounds)
            assert [c for c in api.calls if c.params.get("text") == "Ban đêm"] == []
            assert outbox_states(settings, 1) == {"pending": 5}
        finally:
            await runner.cleanup()


async def test_a_killed_process_loses_no_recipient(settings):
    """SIGKILL mid-broadcast, restart: everyone ends in one final state; repeats are flagged."""
    async with FakeBotApi(token="557:KILL") as api:
        api.delay = 0.01
        chats = await seed_contacts(settings, 400)
        # BOT_TELEGRAM_RATE: the pace is not what this is about (the fake sets no limit);
        # at the default 25 a second the 400 messages alone took 16 s.
        env = {**os.environ, **database_env(settings),
               "BOT_SECRET_KEY": settings.secret_key, "BOT_TELEGRAM_TOKEN": api.token,
               "BOT_TELEGRAM_API_URL": api.base_url, "BOT_QUIET_HOURS": "off",
               "BOT_PORT": str(free_port()), "BOT_LOG_LEVEL": "WARNING",
               "BOT_TELEGRAM_RATE": "100"}
        queued = await asyncio.to_thread(run_cli, "broadcast", "send", "--text", "Không mất ai",
                                         env=env)
        assert "queued for 400 recipients" in queued.stdout
        for _ in range(3):
            proc = subprocess.Popen([sys.executable, "-m", "bot", "run"], cwd=ROOT, env=env,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            target = len([c for c in api.calls if c.method == "sendMessage"]) + 40
            try:
                await wait_for(lambda t=target: len([c for c in api.calls
                                                     if c.method == "sendMessage"]) > t,
                               timeout=60)
            finally:   # also when it fails: a process left running outlives the test
                proc.send_signal(signal.SIGKILL)
                proc.wait(timeout=10)
        proc = subprocess.Popen([sys.executable, "-m", "bot", "run"], cwd=ROOT, env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            await wait_for(lambda: sum(outbox_states(settings, 1).get(s, 0) for s in FINAL)
                           == 400, timeout=120)
        finally:
            proc.terminate()
            proc.wait(timeout=15)
        with sql_connect(settings) as db:
            ambiguous = {int(a) for (a,) in db.execute(
                "select address from outbox where broadcast_id = 1 and ambiguous")}
        assert outbox_states(settings, 1) == {"sent": 400}
        counts: dict[int, int] = {}
        for call in api.calls:
            if call.method == "sendMessage" and call.ok and call.params.get("chat_id") in \
                    set(chats):
                counts[call.params["chat_id"]] = counts.get(call.params["chat_id"], 0) + 1
        assert set(counts) == set(chats)                       # nobody lost
        doubled = {chat for chat, n in counts.items() if n > 1}
        assert doubled <= ambiguous                            # repeats only where flagged


async def test_preview_tells_how_many_zalo_oa_citizens_are_reachable_free(settings):
    from bot.core.i18n import GettextTranslator
    from bot.features.broadcasts.service import Audience, Broadcasts
    from bot.store.db import Database, make_engine
    now = utcnow()
    with sql_connect(settings) as db:
        # window 1 h old, 7 used, 8 used (full), 60 h old (closed), never wrote (no window)
        for i, (opened_hours_ago, used) in enumerate([(1, 0), (2, 7), (3, 8), (60, 0),
                                                      (None, 0)]):
            db.execute("insert into contact (channel, pseudonym, address, lang, state, status, "
                       "created_at, last_seen_at, subscribed) values ('zalo_oa', ?, ?, 'vi', "
                       "'{}', 'active', ?, ?, ?)", (f"z{i}", f"u{i}", now.isoformat(" "),
                                                    now.isoformat(" "), True))
            if opened_hours_ago is not None:
                db.execute("insert into zalo_window (pseudonym, opened_at, used, paid) values "
                           "(?, ?, ?, ?)", (f"z{i}", (now - dt.timedelta(
                               hours=opened_hours_ago)).isoformat(" "), used, 0))
    translator = GettextTranslator(ROOT / "locales")
    service = Broadcasts(translator, ("vi",), ("telegram", "zalo_oa"))
    database = Database(make_engine(settings.database_url))
    try:
        async with database.begin() as conn:
            from bot.features.officers import service as officers
            await officers.sync_units(conn, settings.unit)
            unit = await officers.unit_by_code(conn, "tinh")
            broadcast_id = await service.create(conn, "test", unit.id, None, "message", "Tin",
                                                {}, Audience(), None)
            row = await service.get(conn, broadcast_id)
            assert await service.zalo_reach(conn, row, allow_paid=False) == \
                {"free": 2, "paid": 0, "unreachable": 3}
            assert await service.zalo_reach(conn, row, allow_paid=True) == \
                {"free": 2, "paid": 3, "unreachable": 0}
    finally:
        await database.dispose()


async def test_a_minority_version_is_sent_only_after_its_reviewer_approves(settings):
    from types import SimpleNamespace

    from bot.core.i18n import GettextTranslator
    from bot.features.broadcasts.service import Audience, BroadcastError, Broadcasts
    from bot.features.officers import service as officers
    from bot.store.db import Database, make_engine
    service = Broadcasts(GettextTranslator(ROOT / "locales"), ("vi", "rad"), ("telegram",))
    database = Database(make_engine(settings.database_url))
    try:
        async with database.begin() as conn:
            await officers.sync_units(conn, settings.unit)
            unit = await officers.unit_by_code(conn, "tinh")
            broadcast_id = await service.create(conn, "test", unit.id, None, "message",
                                                "Tin tiếng Việt", {"rad": "Bản dịch thử"},
                                                Audience(), None)
            row = await service.get(conn, broadcast_id)
            assert service.render(row, "rad").text == "Tin tiếng Việt"     # not reviewed
            editor = SimpleNamespace(id=1, role="editor", language=None)
            other = SimpleNamespace(id=2, role="reviewer", language="jra")
            for officer in (editor, other):
                with pytest.raises(BroadcastError):
                    await service.approve_variant(conn, officer, broadcast_id, "rad")
            reviewer = SimpleNamespace(id=3, role="reviewer", language="rad")
            await service.approve_variant(conn, reviewer, broadcast_id, "rad")
            row = await service.get(conn, broadcast_id)
            assert service.render(row, "rad").text == "Bản dịch thử"
            assert service.render(row, "vi").text == "Tin tiếng Việt"
    finally:
        await database.dispose()


async def test_approve_in_telegram_watch_progress_and_stop_with_the_button(loa):
    from bot.features.officers import service as officers
    from bot.store.db import Database, make_engine
    api, url, settings = loa
    await seed_contacts(settings, 400)
    api.delay = 0.005
    database = Database(make_engine(settings.database_url))
    codes = {}
    try:
        async with database.begin() as conn:
            await officers.sync_units(conn, settings.unit)
            for role in ("editor", "approver"):
                codes[role] = await officers.create_invite(conn, "tinh", role, "test")
    finally:
        await database.dispose()
    author_chat, approver_chat = 11, 12
    from support.fakebotapi import command_update
    api.push_update(command_update(author_chat, f"/dangky {codes['editor']}"))
    api.push_update(command_update(approver_chat, f"/dangky {codes['approver']}"))
    await api.wait_for_calls("sendMessage", 1, chat_id=author_chat)
    await api.wait_for_calls("sendMessage", 1, chat_id=approver_chat)
    api.push_update(command_update(author_chat, "/quantri"))
    link = re.search(r"http://\S+", (await api.wait_for_calls(
        "sendMessage", 2, chat_id=author_chat))[1].params["text"])[0]
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        editor = Admin(http, url)
        await editor.login(link.split("token=")[1])
        _, page = await editor.post("/admin/broadcasts", {"kind": "message",
                                                          "text": "Tin qua Telegram"})
        broadcast_id = int(re.search(r"Thông báo số (\d+)", page)[1])
        await editor.post(f"/admin/broadcasts/{broadcast_id}/submit", {})
    ask = (await api.wait_for_calls("sendMessage", 2, chat_id=approver_chat))[1]
    assert "chờ bạn duyệt" in ask.params["text"]
    buttons = [b["callback_data"] for row in ask.params["reply_markup"]["inline_keyboard"]
               for b in row]
    assert buttons == [f"bc:approve:{broadcast_id}", f"bc:reject:{broadcast_id}"]
    api.push_update(callback_update(author_chat, f"bc:approve:{broadcast_id}"))  # the author
    refused = (await api.wait_for_calls("sendMessage", 3, chat_id=author_chat))[2]
    assert "Chỉ người duyệt mới duyệt được" in refused.params["text"]   # an editor cannot
    api.push_update(callback_update(approver_chat, f"bc:approve:{broadcast_id}"))
    approved = (await api.wait_for_calls("sendMessage", 3, chat_id=approver_chat))[2]
    assert "Đã duyệt" in approved.params["text"]
    # The author hears of it (and gets the progress message), in whichever order they come.
    author_messages = await api.wait_for_calls("sendMessage", 5, chat_id=author_chat)
    told = [m for m in author_messages[3:] if "của bạn đã được" in m.params["text"]]
    assert told and f"Thông báo số {broadcast_id} của bạn đã được" in told[0].params["text"]
    (progress,) = [m for m in author_messages[3:] if "%" in m.params["text"]]
    assert "Thông báo số" in progress.params["text"]
    stop = [b["callback_data"] for row in progress.params["reply_markup"]["inline_keyboard"]
            for b in row]
    assert stop == [f"bc:stop:{broadcast_id}"]
    await api.wait_for_calls("editMessageText", 1, chat_id=author_chat, timeout=15)
    api.push_update(callback_update(author_chat, f"bc:stop:{broadcast_id}"))
    stopped = (await api.wait_for_calls("sendMessage", 6, chat_id=author_chat))[5]
    assert "Đã dừng" in stopped.params["text"]
    await wait_for(lambda: "sending" not in outbox_states(settings, broadcast_id))
    states = outbox_states(settings, broadcast_id)
    assert states.get("cancelled", 0) > 0 and sum(states.values()) == 400
