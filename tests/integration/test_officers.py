"""Officers: invite codes, registration in Telegram, admin login links, CSRF, the audit log."""
from __future__ import annotations

import asyncio
import re
from dataclasses import replace

import aiohttp
import pytest
from support.cli import run_cli
from support.env import database_env, free_port, sql_connect, sql_write, start_server
from support.fakebotapi import FakeBotApi, command_update
from support.officers import login_as, make_officer

from bot.app import build_app


def cli(settings, *args: str):
    """`python -m bot officers ...` in this process (bot.cli.main)."""
    env = {**database_env(settings), "PATH": "/usr/bin:/bin",
           "BOT_SECRET_KEY": settings.secret_key}
    return run_cli("officers", *args, env=env)


def test_cli_invites_for_known_units_and_roles_only(settings):
    ok = cli(settings, "invite", "--unit", "xa-24175", "--role", "editor")
    assert ok.returncode == 0 and re.search(r"/dangky [0-9A-F]{8}", ok.stdout)
    unknown = cli(settings, "invite", "--unit", "xa-99999", "--role", "editor")
    assert unknown.returncode == 2 and "unknown unit 'xa-99999'" in unknown.stderr
    reviewer = cli(settings, "invite", "--unit", "tinh", "--role", "reviewer")
    assert reviewer.returncode == 2 and "--language" in reviewer.stderr
    units = cli(settings, "units").stdout.splitlines()
    assert len([u for u in units if " commune " in u]) == 102      # every xã and phường


@pytest.fixture
async def telegram_loa(settings):
    async with FakeBotApi(token="777:OFFICER") as api:
        port = free_port()
        s = replace(settings, telegram_token=api.token, telegram_api_url=api.base_url, port=port,
                    public_url=f"http://127.0.0.1:{port}", telegram_webhook_secret="x" * 20)
        runner, url = await start_server(build_app(s), port)
        try:
            yield api, url
        finally:
            await runner.cleanup()


async def test_register_with_invite_then_get_a_working_login_link(settings, telegram_loa):
    api, url = telegram_loa
    # In a thread: the Loa under test keeps serving (a blocked loop can hold its write lock).
    invite = await asyncio.to_thread(cli, settings, "invite", "--unit", "tinh", "--role",
                                     "approver")
    code = re.search(r"/dangky ([0-9A-F]{8})", invite.stdout)[1]
    chat = 9001
    api.push_update(command_update(chat, "/dangky"))
    api.push_update(command_update(chat, "/dangky WRONG123"))
    api.push_update(command_update(chat, f"/dangky {code.lower()}"))   # typed in lower case
    api.push_update(command_update(chat + 1, f"/dangky {code}"))      # someone else reuses it
    replies = await api.wait_for_calls("sendMessage", 3, chat_id=chat)
    assert "/dangky ABCD1234" in replies[0].params["text"]
    assert "không đúng" in replies[1].params["text"]
    assert "Đăng ký xong" in replies[2].params["text"] and "duyệt tin" in replies[2].params["text"]
    (reuse,) = await api.wait_for_calls("sendMessage", 1, chat_id=chat + 1)
    assert "đã được dùng" in reuse.params["text"]

    api.push_update(command_update(chat, "/quantri"))
    link_reply = (await api.wait_for_calls("sendMessage", 4, chat_id=chat))[3]
    link = re.search(r"http://\S+/admin/login\?token=\S+", link_reply.params["text"])[0]
    # unsafe=True: accept cookies from an IP address host, as browsers do
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        first = await http.get(link, allow_redirects=False)
        assert first.status == 302 and "loa_session" in first.cookies
        cookie = first.cookies["loa_session"]
        assert cookie["httponly"] and cookie["samesite"] == "Strict"
        admin = await http.get(f"{url}/admin")
        assert admin.status == 200 and "Sở Khoa học" in await admin.text()
    async with aiohttp.ClientSession() as other:
        again = await other.get(link, allow_redirects=False)
        assert again.status == 403                                     # a link works once

    # a citizen typing /quantri gets the ordinary menu, not a link
    api.push_update(command_update(chat + 2, "/quantri"))
    (citizen,) = await api.wait_for_calls("sendMessage", 1, chat_id=chat + 2)
    assert "/admin/login" not in citizen.params["text"]
    with sql_connect(settings) as db:
        actions = [r[0] for r in db.execute("select action from audit_log order by id")]
    assert actions == ["invite.create", "officer.register"]


async def test_admin_needs_login_and_logout_needs_csrf(client, settings):
    response = await client.get("/admin", allow_redirects=False)
    assert response.status == 302 and response.headers["Location"] == "/admin/login"
    page = await (await client.get("/admin/login")).text()
    assert "/quantri" in page
    await login_as(client, settings, "xa-24175", "viewer")
    assert (await client.get("/admin")).status == 200
    forged = await client.post("/admin/logout", data={"csrf": "guess"}, allow_redirects=False)
    assert forged.status == 403
    html = await (await client.get("/admin")).text()
    csrf = re.search(r'name="csrf" value="([^"]+)"', html)[1]
    out = await client.post("/admin/logout", data={"csrf": csrf}, allow_redirects=False)
    assert out.status == 302
    assert (await client.get("/admin", allow_redirects=False)).status == 302


async def test_expired_or_unknown_login_links_are_refused(client, settings):
    _, token = await make_officer(settings, "tinh", "viewer")
    await sql_write(settings, "update admin_session set expires_at = '2020-01-01 00:00:00.000000'")
    assert (await client.get(f"/admin/login?token={token}", allow_redirects=False)).status == 403
    assert (await client.get("/admin/login?token=nonsense", allow_redirects=False)).status == 403


async def test_two_processes_seeding_units_at_the_same_time_both_start(migrated_postgres_url):
    """Two Loa processes (or Loa and the CLI) start together: the second one's insert of the
    unit list waits for the first one's and then skips what it added, instead of failing on
    UNIQUE(unit.code) and stopping the process."""
    from sqlalchemy import func, select, text

    from bot.features.officers import service as officers
    from bot.features.officers.models import Unit
    from bot.store.db import make_engine

    first, second, watcher = (make_engine(migrated_postgres_url) for _ in range(3))
    try:
        async with first.connect() as a, second.connect() as b, watcher.connect() as w:
            await a.begin()
            assert await officers.sync_units(a, "Tỉnh (test data)") == 103   # not committed
            await b.begin()
            late = asyncio.create_task(officers.sync_units(b, "Tỉnh (test data)"))
            async with asyncio.timeout(60):          # until b waits on a's rows (an event)
                while not (await w.execute(text(
                        "select count(*) from pg_locks where not granted"))).scalar_one():
                    await asyncio.sleep(0.05)
            await a.commit()
            await late
            await b.commit()
            count = (await w.execute(select(func.count()).select_from(Unit.__table__)))
            assert count.scalar_one() == 103
    finally:
        for engine in (first, second, watcher):
            await engine.dispose()
