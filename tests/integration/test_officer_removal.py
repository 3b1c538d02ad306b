"""Removing an officer (CLI and the admin page): their sessions and login links end at once,
their chat commands stop, their past actions stay in the audit log; nobody removes themselves,
another unit's officers or the province's last administrator; every removal is audited."""
from __future__ import annotations

import asyncio
import re
from dataclasses import replace

import pytest
from aiohttp.test_utils import TestClient, TestServer
from support.cli import CliResult, run_cli
from support.env import database_env, free_port, sql_connect, start_server
from support.fakebotapi import FakeBotApi, command_update
from support.officers import login_as, login_link, make_officer

from bot.app import build_app


async def cli(settings, *args: str) -> CliResult:
    """`python -m bot officers ...` in this process (bot.cli.main), in a thread: the app
    under test keeps serving meanwhile."""
    env = {**database_env(settings), "PATH": "/usr/bin:/bin",
           "BOT_SECRET_KEY": settings.secret_key}
    return await asyncio.to_thread(run_cli, "officers", *args, env=env)


def sql(settings, query: str, *params: object) -> list[tuple]:
    with sql_connect(settings) as db:
        return list(db.execute(query, params))


def active(settings, officer_id: int) -> bool:
    return bool(sql(settings, "select active from officer where id = ?", officer_id)[0][0])


async def csrf_of(client, path: str = "/admin") -> str:
    return re.search(r'name="csrf" value="([^"]+)"', await (await client.get(path)).text())[1]


async def test_cli_removes_an_officer_and_their_sessions_end_at_once(client, settings):
    editor = await login_as(client, settings, "xa-24175", "editor")
    assert (await client.get("/admin", allow_redirects=False)).status == 200
    link = await login_link(settings, editor)
    done = await cli(settings, "remove", "--officer", str(editor))
    assert done.returncode == 0, done.stderr
    assert f"officer {editor}" in done.stdout and "removed" in done.stdout
    after = await client.get("/admin", allow_redirects=False)       # the same cookie
    assert after.status == 302 and after.headers["Location"] == "/admin/login"
    assert (await client.get(f"/admin/login?token={link}", allow_redirects=False)).status == 403
    assert not active(settings, editor)
    assert sql(settings, "select count(*) from admin_session where officer_id = ?",
               editor) == [(0,)]
    actions = sql(settings, "select action, actor, target from audit_log order by id")
    assert ("officer.register", f"officer:{editor}", f"officer:{editor}") in actions  # kept
    assert ("officer.remove", "operator", f"officer:{editor}") in actions
    listed = await cli(settings, "list")
    assert not re.search(rf"^\s*{editor}\s", listed.stdout, re.M)
    again = await cli(settings, "remove", "--officer", str(editor))
    assert again.returncode == 2 and "no active officer" in again.stderr
    assert "Traceback" not in again.stderr


async def test_cli_keeps_the_last_administrator_of_the_province(settings):
    only, _ = await make_officer(settings, "tinh", "admin")
    refused = await cli(settings, "remove", "--officer", str(only))
    assert refused.returncode == 2 and "last administrator" in refused.stderr
    assert active(settings, only)
    second, _ = await make_officer(settings, "tinh", "admin")
    assert (await cli(settings, "remove", "--officer", str(only))).returncode == 0
    assert not active(settings, only) and active(settings, second)


async def test_a_province_admin_removes_an_officer_after_confirming(client, settings):
    admin = await login_as(client, settings, "tinh", "admin")
    async with TestClient(TestServer(build_app(settings))) as victim_browser:
        victim = await login_as(victim_browser, settings, "xa-24175", "editor")
        overview = await (await client.get("/admin")).text()
        assert f'href="/admin/officers/{victim}/remove"' in overview
        assert f'href="/admin/officers/{admin}/remove"' not in overview      # not oneself
        confirm = await client.get(f"/admin/officers/{victim}/remove")
        page = await confirm.text()
        assert confirm.status == 200 and "Đồng ý, xóa cán bộ này" in page
        assert active(settings, victim)                          # asking removes nothing
        forged = await client.post(f"/admin/officers/{victim}/remove",
                                   data={"csrf": "guess"}, allow_redirects=False)
        assert forged.status == 403 and active(settings, victim)
        done = await client.post(f"/admin/officers/{victim}/remove",
                                 data={"csrf": await csrf_of(client)}, allow_redirects=False)
        assert done.status == 303 and not active(settings, victim)
        after = await victim_browser.get("/admin", allow_redirects=False)
        assert after.status == 302 and after.headers["Location"] == "/admin/login"
    assert ("officer.remove", f"officer:{admin}") in sql(
        settings, "select action, actor from audit_log where target = ?", f"officer:{victim}")
    gone = await client.post(f"/admin/officers/{victim}/remove",
                             data={"csrf": await csrf_of(client)}, allow_redirects=False)
    assert gone.status == 404


async def test_a_commune_admin_removes_only_their_own_units_officers(client, settings):
    other_unit, _ = await make_officer(settings, "xa-24133", "editor")
    own, _ = await make_officer(settings, "xa-24175", "viewer")
    admin = await login_as(client, settings, "xa-24175", "admin")
    overview = await (await client.get("/admin")).text()
    assert f"/admin/officers/{own}/remove" in overview
    assert f"/admin/officers/{other_unit}/remove" not in overview
    csrf = await csrf_of(client)
    assert (await client.get(f"/admin/officers/{other_unit}/remove")).status == 404
    refused = await client.post(f"/admin/officers/{other_unit}/remove", data={"csrf": csrf},
                                allow_redirects=False)
    assert refused.status == 404 and active(settings, other_unit)
    myself = await client.post(f"/admin/officers/{admin}/remove", data={"csrf": csrf},
                               allow_redirects=False)
    assert myself.status == 400 and "không thể tự xóa" in await myself.text()
    assert active(settings, admin)
    for bad in ("abc", "99999999999999", "0"):
        assert (await client.post(f"/admin/officers/{bad}/remove", data={"csrf": csrf},
                                  allow_redirects=False)).status == 404
    done = await client.post(f"/admin/officers/{own}/remove", data={"csrf": csrf},
                             allow_redirects=False)
    assert done.status == 303 and not active(settings, own)


async def test_only_administrators_remove(client, settings):
    target, _ = await make_officer(settings, "xa-24175", "viewer")
    await login_as(client, settings, "xa-24175", "approver")
    assert 'href="/admin/officers/' not in await (await client.get("/admin")).text()
    refused = await client.post(f"/admin/officers/{target}/remove",
                                data={"csrf": await csrf_of(client)}, allow_redirects=False)
    assert refused.status == 403 and active(settings, target)


async def test_two_province_admins_removing_each_other_at_once_leave_one(settings):
    async with TestClient(TestServer(build_app(settings))) as one, \
            TestClient(TestServer(build_app(settings))) as two:
        first = await login_as(one, settings, "tinh", "admin")
        second = await login_as(two, settings, "tinh", "admin")
        tokens = [await csrf_of(one), await csrf_of(two)]
        responses = await asyncio.gather(
            one.post(f"/admin/officers/{second}/remove", data={"csrf": tokens[0]},
                     allow_redirects=False),
            two.post(f"/admin/officers/{first}/remove", data={"csrf": tokens[1]},
                     allow_redirects=False))
        statuses = sorted(r.status for r in responses)
    assert statuses[0] != 500 and statuses[1] != 500
    assert [s for s in statuses if s == 303] == [303]
    remaining = sql(settings, "select count(*) from officer o join unit u on u.id = o.unit_id "
                              "where u.code = 'tinh' and o.role = 'admin' and o.active = ?",
                    True)
    assert remaining == [(1,)]


@pytest.fixture
async def telegram_loa(settings):
    async with FakeBotApi(token="778:REMOVAL") as api:
        port = free_port()
        s = replace(settings, telegram_token=api.token, telegram_api_url=api.base_url, port=port,
                    public_url=f"http://127.0.0.1:{port}", telegram_webhook_secret="y" * 20)
        runner, url = await start_server(build_app(s), port)
        try:
            yield api
        finally:
            await runner.cleanup()


async def test_a_removed_officers_chat_commands_stop(settings, telegram_loa):
    api = telegram_loa
    invite = await cli(settings, "invite", "--unit", "xa-24175", "--role", "editor")
    code = re.search(r"/dangky ([0-9A-F]{8})", invite.stdout)[1]
    chat = 9101
    api.push_update(command_update(chat, f"/dangky {code}"))
    await api.wait_for_calls("sendMessage", 1, chat_id=chat)
    ((officer_id,),) = sql(settings, "select id from officer where address = ?", str(chat))
    assert (await cli(settings, "remove", "--officer", str(officer_id))).returncode == 0
    api.push_update(command_update(chat, "/quantri"))
    reply = (await api.wait_for_calls("sendMessage", 2, chat_id=chat))[1]
    assert "/admin/login" not in reply.params["text"]               # a citizen's answer now
    assert sql(settings, "select count(*) from admin_session where officer_id = ?",
               officer_id) == [(0,)]
    # A new invite registers the same chat again (before: a unique-key error).
    again = await cli(settings, "invite", "--unit", "xa-24175", "--role", "viewer")
    second_code = re.search(r"/dangky ([0-9A-F]{8})", again.stdout)[1]
    api.push_update(command_update(chat, f"/dangky {second_code}"))
    registered = (await api.wait_for_calls("sendMessage", 3, chat_id=chat))[2]
    assert "Đăng ký xong" in registered.params["text"]
    assert active(settings, officer_id)
