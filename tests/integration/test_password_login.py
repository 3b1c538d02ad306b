"""Officer password login (issue 9): setting a password on the admin page, logging in with it,
argon2id hashes, the lockout kept in the database, the operator's CLI, cookie flags and CSRF."""
from __future__ import annotations

import asyncio
import logging
import re
import unicodedata

import pytest
from aiohttp.test_utils import TestClient, TestServer
from argon2 import PasswordHasher
from support.cli import run_cli
from support.env import database_env, sql_connect, sql_write
from support.officers import login_as, login_link, make_officer

from bot.app import build_app
from bot.features.officers import passwords
from bot.features.officers import service as officers
from bot.store.db import Database, make_engine, upgrade_database_async

GOOD = "Lúa chín vàng đồng 2026"          # a sentence, as the page advises


async def cli(settings, *args: str, stdin: str | None = None):
    """`python -m bot officers ...` in this process (bot.cli.main), in a thread: the app under
    test keeps serving meanwhile (a blocked event loop could hold a write transaction open and
    lock the CLI out)."""
    env = {**database_env(settings), "PATH": "/usr/bin:/bin",
           "BOT_SECRET_KEY": settings.secret_key}
    return await asyncio.to_thread(run_cli, "officers", *args, env=env, stdin=stdin)


@pytest.fixture
def fast_hashes(monkeypatch):
    """Cheap argon2id parameters for tests that fail many logins (the real ones take 0.15 s)."""
    monkeypatch.setattr(passwords, "HASHER",
                        PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    passwords._dummy_hash.cache_clear()
    yield
    passwords._dummy_hash.cache_clear()


async def give_password(settings, officer_id: int, login: str, password: str = GOOD) -> None:
    db = Database(make_engine(settings.database_url))
    try:
        async with db.begin() as conn:
            await passwords.store_password(conn, officer_id, login,
                                           passwords.hash_password(password), "test")
    finally:
        await db.dispose()


async def page_csrf(client, path: str) -> str:
    html = await (await client.get(path)).text()
    return re.search(r'name="csrf" value="([^"]+)"', html)[1]


async def password_login(client, login: str, password: str):
    html = await (await client.get("/admin/login")).text()
    token = re.search(r'id="login-form">\s*<input type="hidden" name="csrf" value="([^"]+)"',
                      html)[1]
    return await client.post("/admin/login", data={"csrf": token, "login": login,
                                                   "password": password},
                             allow_redirects=False)


def error_of(html: str) -> str:
    found = re.search(r'class="error" role="alert"[^>]*>([^<]+)<', html)
    return found[1] if found else ""


async def save_password(client, **fields: str):
    data = {"csrf": await page_csrf(client, "/admin/password"), **fields}
    return await client.post("/admin/password", data=data, allow_redirects=False)


def audit_actions(settings) -> list[str]:
    with sql_connect(settings) as db:
        return [r[0] for r in db.execute("select action from audit_log order by id")]


def officer_row(settings, officer_id: int) -> tuple:
    with sql_connect(settings) as db:
        return db.execute("select login_name, password_hash from officer where id = ?",
                          (officer_id,)).fetchone()


# -- setting a password and logging in -----------------------------------------------------------

async def test_set_a_password_on_the_page_then_log_in_with_it(client, settings, caplog):
    caplog.set_level(logging.DEBUG)
    assert (await client.get("/admin/password", allow_redirects=False)).status == 302
    officer_id = await login_as(client, settings, "xa-24175", "editor")
    page = await (await client.get("/admin/password")).text()
    assert "Bạn chưa có mật khẩu." in page and 'href="/admin/password"' in page
    forged = await client.post("/admin/password", data={
        "csrf": "guess", "login_name": "hoa.phu", "new": GOOD, "confirm": GOOD},
        allow_redirects=False)
    assert forged.status == 403 and officer_row(settings, officer_id) == (None, None)

    saved = await save_password(client, login_name="  Hoa.Phu ", new=GOOD, confirm=GOOD)
    assert saved.status == 303 and saved.headers["Location"] == "/admin/password?done=1"
    page = await (await client.get("/admin/password?done=1")).text()
    assert "Đã lưu" in page and "Đổi mật khẩu lần cuối" in page
    login_name, stored = officer_row(settings, officer_id)
    assert login_name == "hoa.phu"                                 # stored in lower case
    assert stored.startswith("$argon2id$v=19$m=65536,t=3,p=4$") and GOOD not in stored
    assert PasswordHasher().verify(stored, GOOD)

    csrf = await page_csrf(client, "/admin")
    assert (await client.post("/admin/logout", data={"csrf": csrf},
                              allow_redirects=False)).status == 302
    assert (await client.get("/admin", allow_redirects=False)).status == 302

    response = await password_login(client, "HOA.PHU", GOOD)         # any case works
    assert response.status == 303 and response.headers["Location"] == "/admin"
    cookie = response.cookies["loa_session"]
    assert cookie["httponly"] and cookie["samesite"] == "Strict" and cookie["path"] == "/"
    set_cookie = " ".join(response.headers.getall("Set-Cookie"))
    assert "HttpOnly" in set_cookie and "SameSite=Strict" in set_cookie
    home = await client.get("/admin")
    assert home.status == 200 and "Xã Hòa Phú" in await home.text()

    actions = audit_actions(settings)
    assert actions[-2:] == ["password.set", "login.success"]
    with sql_connect(settings) as db:
        dump = "\n".join(db.iterdump())
    assert GOOD not in dump and GOOD not in caplog.text            # never stored or logged


async def test_password_and_login_name_rules(client, settings):
    officer_id = await login_as(client, settings, "xa-24175", "viewer")
    other_id, _ = await make_officer(settings, "xa-24133", "viewer", name="Người khác")
    await give_password(settings, other_id, "da.lat")
    cases = [
        ({"login_name": "hoa phu", "new": GOOD, "confirm": GOOD}, "Tên đăng nhập phải dài từ 3"),
        ({"login_name": "hòa.phú", "new": GOOD, "confirm": GOOD}, "không dấu"),
        ({"login_name": "hp", "new": GOOD, "confirm": GOOD}, "từ 3 đến 40"),
        ({"login_name": "hoa.phu", "new": "ngan9", "confirm": "ngan9"},
         "Mật khẩu phải có ít nhất 10 ký tự."),
        ({"login_name": "hoa.phu", "new": "x" * 12, "confirm": "x" * 12},
         "Mật khẩu không được chỉ gồm một ký tự lặp lại."),
        ({"login_name": "canbo.hoaphu", "new": "CANBO.HOAPHU", "confirm": "CANBO.HOAPHU"},
         "Mật khẩu không được trùng với tên đăng nhập."),
        ({"login_name": "hoa.phu", "new": GOOD, "confirm": GOOD + "!"},
         "Hai lần nhập mật khẩu mới không giống nhau."),
        ({"login_name": "hoa.phu", "new": "", "confirm": ""}, "Vui lòng nhập mật khẩu mới."),
        ({"login_name": "DA.LAT", "new": GOOD, "confirm": GOOD},
         "Tên đăng nhập này đã có cán bộ khác dùng."),
    ]
    for fields, message in cases:
        response = await save_password(client, **fields)
        html = await response.text()
        assert response.status == 400 and message in error_of(html), (fields, error_of(html))
        assert fields["new"] not in html or not fields["new"]      # a password is never echoed
    assert officer_row(settings, officer_id) == (None, None)

    assert (await save_password(client, login_name="hoa.phu", new=GOOD,
                                confirm=GOOD)).status == 303
    # Changing needs the current password, checked against the stored hash.
    new = "Cà phê Buôn Ma Thuột"
    missing = await save_password(client, login_name="hoa.phu", new=new, confirm=new)
    assert missing.status == 400
    assert error_of(await missing.text()) == "Vui lòng nhập mật khẩu hiện tại để thay đổi."
    wrong = await save_password(client, login_name="hoa.phu", current="không phải nó",
                                new=new, confirm=new)
    assert wrong.status == 403
    assert error_of(await wrong.text()) == "Mật khẩu hiện tại không đúng."
    assert (await save_password(client, login_name="hoa.phu", current=GOOD, new=new,
                                confirm=new)).status == 303
    # The login name alone, with the current password and the new one left empty.
    assert (await save_password(client, login_name="ubnd.hoaphu", current=new)).status == 303
    login_name, stored = officer_row(settings, officer_id)
    assert login_name == "ubnd.hoaphu" and PasswordHasher().verify(stored, new)
    assert [a for a in audit_actions(settings) if a.startswith(("password", "login_name"))] == [
        "password.set", "password.set", "password.change_refused", "password.change",
        "login_name.change"]


async def test_a_new_password_logs_out_the_officers_other_browsers(client, settings):
    officer_id, token = await make_officer(settings, "xa-24175", "editor")
    assert (await client.get(f"/admin/login?token={token}", allow_redirects=False)).status == 302
    async with TestClient(TestServer(build_app(settings))) as other:
        second = await login_link(settings, officer_id)
        assert (await other.get(f"/admin/login?token={second}",
                                allow_redirects=False)).status == 302
        assert (await other.get("/admin", allow_redirects=False)).status == 200
        assert (await save_password(client, login_name="hoa.phu", new=GOOD,
                                    confirm=GOOD)).status == 303
        assert (await other.get("/admin", allow_redirects=False)).status == 302
    assert (await client.get("/admin", allow_redirects=False)).status == 200   # this one stays


async def test_a_wrong_password_and_an_unknown_name_get_the_same_answer(client, settings,
                                                                         fast_hashes):
    officer_id, _ = await make_officer(settings, "xa-24175", "editor")
    await give_password(settings, officer_id, "hoa.phu")
    wrong = await password_login(client, "hoa.phu", "sai mật khẩu rồi")
    unknown = await password_login(client, "khong.co.ai", "sai mật khẩu rồi")
    empty = await password_login(client, "", "")
    for response in (wrong, unknown, empty):
        assert response.status == 401 and "loa_session" not in response.cookies
        assert error_of(await response.text()) == "Tên đăng nhập hoặc mật khẩu không đúng."
    assert 'value="khong.co.ai"' in await unknown.text()          # the name typed is kept
    assert "sai mật khẩu" not in await unknown.text()             # the password is not
    with sql_connect(settings) as db:
        rows = db.execute("select actor, target, after from audit_log "
                          "where action = 'login.failure' order by id").fetchall()
    assert [r[1] for r in rows] == [f"officer:{officer_id}", "login:unknown", "login:unknown"]
    assert all(r[0] == "anonymous" and "khong.co.ai" not in r[2] and "sai" not in r[2]
               for r in rows)


async def test_a_password_typed_with_decomposed_marks_still_works(client, settings,
                                                                  fast_hashes):
    """Unikey and other Vietnamese keyboards type "ồ" as one code point or as o + marks."""
    officer_id, _ = await make_officer(settings, "xa-24175", "editor")
    await give_password(settings, officer_id, "hoa.phu", unicodedata.normalize("NFC", GOOD))
    decomposed = unicodedata.normalize("NFD", GOOD)
    assert decomposed != GOOD
    assert (await password_login(client, "hoa.phu", decomposed)).status == 303


async def test_the_login_form_needs_its_csrf_token(client, settings):
    officer_id, _ = await make_officer(settings, "xa-24175", "editor")
    await give_password(settings, officer_id, "hoa.phu")
    no_token = await client.post("/admin/login", data={"login": "hoa.phu", "password": GOOD},
                                 allow_redirects=False)
    assert no_token.status == 403 and "loa_session" not in no_token.cookies
    assert "Biểu mẫu đã hết hạn" in error_of(await no_token.text())
    page = await client.get("/admin/login")
    cookie = page.cookies["loa_login_csrf"]
    assert cookie["httponly"] and cookie["samesite"] == "Strict"
    forged = await client.post("/admin/login", data={"csrf": "x" * 32, "login": "hoa.phu",
                                                     "password": GOOD}, allow_redirects=False)
    assert forged.status == 403 and "loa_session" not in forged.cookies
    with sql_connect(settings) as db:        # refused before any password is checked
        assert db.execute("select count(*) from login_throttle").fetchone()[0] == 0
    assert (await password_login(client, "hoa.phu", GOOD)).status == 303


# -- the lockout ---------------------------------------------------------------------------------

async def test_five_failures_lock_the_account_in_the_database(client, settings, fast_hashes):
    officer_id, _ = await make_officer(settings, "xa-24175", "editor")
    await give_password(settings, officer_id, "hoa.phu")
    # A success resets the count: 4 failures, a success, 4 more failures are not a lock.
    for _ in range(4):
        assert (await password_login(client, "hoa.phu", "sai mật khẩu rồi")).status == 401
    assert (await password_login(client, "hoa.phu", GOOD)).status == 303
    client.session.cookie_jar.clear()
    for _ in range(4):
        assert (await password_login(client, "hoa.phu", "sai mật khẩu rồi")).status == 401
    fifth = await password_login(client, "hoa.phu", "sai mật khẩu rồi")
    assert fifth.status == 429
    message = error_of(await fifth.text())
    assert "tạm bị khóa vì đăng nhập sai 5 lần" in message and "/quantri" in message
    right = await password_login(client, "hoa.phu", GOOD)         # the right password, locked
    assert right.status == 429 and "loa_session" not in right.cookies
    assert error_of(await right.text()) == message

    # The lock is in the database: another Loa process on it refuses too.
    async with TestClient(TestServer(build_app(settings))) as second:
        refused = await password_login(second, "hoa.phu", GOOD)
        assert refused.status == 429 and "loa_session" not in refused.cookies
        with sql_connect(settings) as db:
            (locks,) = db.execute("select count(*) from login_throttle "
                                  "where locked_until is not null").fetchone()
        assert locks == 1
        # A link from the chat still works while the password is locked.
        _, token = await make_officer(settings, "xa-24175", "viewer")
        assert (await second.get(f"/admin/login?token={token}",
                                 allow_redirects=False)).status == 302

    unlocked = await cli(settings, "unlock", "--officer", str(officer_id))
    assert unlocked.returncode == 0 and "unlocked" in unlocked.stdout, unlocked.stderr
    async with TestClient(TestServer(build_app(settings))) as third:
        assert (await password_login(third, "hoa.phu", GOOD)).status == 303
    actions = audit_actions(settings)
    assert actions.count("login.lockout") == 1 and actions.count("login.failure") == 9
    assert actions.count("login.refused") == 2 and actions.count("login.unlock") == 1
    assert actions.count("login.success") == 2


async def test_unknown_names_lock_the_same_way(client, settings, fast_hashes):
    """Locking only real accounts would tell an attacker which names exist."""
    for _ in range(4):
        assert (await password_login(client, "khong.co.ai", "sai mật khẩu")).status == 401
    locked = await password_login(client, "khong.co.ai", "sai mật khẩu")
    assert locked.status == 429 and "tạm bị khóa" in error_of(await locked.text())


async def test_one_address_cannot_try_many_names(client, settings, fast_hashes):
    officer_id, _ = await make_officer(settings, "xa-24175", "editor")
    await give_password(settings, officer_id, "hoa.phu")
    for i in range(passwords.CLIENT_FAILURES - 1):
        assert (await password_login(client, f"ten.{i}", "sai mật khẩu")).status == 401
    last = await password_login(client, "ten.cuoi", "sai mật khẩu")
    assert last.status == 429 and "địa chỉ mạng này" in error_of(await last.text())
    right = await password_login(client, "hoa.phu", GOOD)
    assert right.status == 429 and "loa_session" not in right.cookies
    with sql_connect(settings) as db:
        stored = " ".join(str(r) for r in db.execute("select * from login_throttle"))
    assert "127.0.0.1" not in stored and "ten.cuoi" not in stored   # keyed hashes only
    assert (await cli(settings, "unlock", "--all")).returncode == 0
    assert (await password_login(client, "hoa.phu", GOOD)).status == 303


async def test_an_old_hash_is_redone_with_the_current_parameters(client, settings):
    officer_id, _ = await make_officer(settings, "xa-24175", "editor")
    weak = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1).hash(GOOD)
    await sql_write(settings, "update officer set login_name = 'hoa.phu', password_hash = ? "
                    "where id = ?", weak, officer_id)      # from a thread: the app runs here
    assert (await password_login(client, "hoa.phu", GOOD)).status == 303
    _, stored = officer_row(settings, officer_id)
    assert stored != weak and stored.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert not passwords.needs_rehash(stored)


# -- the operator's command line -----------------------------------------------------------------

async def test_cli_sets_the_first_password_and_unlocks(client, settings):
    officer_id, _ = await make_officer(settings, "tinh", "admin", name="Trần Văn B")
    no_name = await cli(settings, "password", "--officer", str(officer_id), "--password-stdin",
                  stdin=GOOD + "\n")
    assert no_name.returncode == 2 and "--login" in no_name.stderr
    short = await cli(settings, "password", "--officer", str(officer_id), "--login", "so.khcn",
                stdin="ngan\n")
    assert short.returncode == 2 and "at least 10" in short.stderr
    done = await cli(settings, "password", "--officer", str(officer_id), "--login", "So.KHCN",
               "--password-stdin", stdin=GOOD + "\n")
    assert done.returncode == 0 and "'so.khcn'" in done.stdout, done.stderr
    assert GOOD not in done.stdout + done.stderr
    listed = (await cli(settings, "list")).stdout
    assert re.search(rf"{officer_id}\s+admin\s+tinh\s+cli\s+so.khcn\s+Trần Văn B", listed)
    login_name, stored = officer_row(settings, officer_id)
    assert login_name == "so.khcn" and PasswordHasher().verify(stored, GOOD)
    assert (await password_login(client, "so.khcn", GOOD)).status == 303
    assert (await cli(settings, "unlock", "--officer", str(officer_id))).stdout.endswith(
        "was not locked\n")
    assert audit_actions(settings)[-3:] == ["password.set", "login.success", "login.unlock"]
    with sql_connect(settings) as db:
        (actor,) = db.execute("select actor from audit_log where action = 'password.set'"
                              ).fetchone()
    assert actor == "operator"


async def login_csrf(client) -> str:
    html = await (await client.get("/admin/login")).text()
    return re.search(r'id="login-form">\s*<input type="hidden" name="csrf" value="([^"]+)"',
                     html)[1]


async def parallel_logins(client, attempts: list[tuple[str, str]]) -> list[int]:
    """Send every (login, password) at once, as an attacker's script would."""
    token = await login_csrf(client)

    async def one(login: str, password: str) -> int:
        response = await client.post("/admin/login", data={
            "csrf": token, "login": login, "password": password}, allow_redirects=False)
        await response.read()
        return response.status

    return list(await asyncio.gather(*(one(login, pw) for login, pw in attempts)))


async def test_parallel_wrong_passwords_get_no_more_tries_than_the_lockout(client, settings):
    """40 wrong passwords for one name sent at once: only 5 are checked (before the fix 32
    were), the rest are refused as locked, and the right password is refused afterwards."""
    officer_id, _ = await make_officer(settings, "xa-24175", "editor")
    await give_password(settings, officer_id, "hoa.phu")
    statuses = await parallel_logins(client, [("hoa.phu", f"đoán thử số {i}") for i in range(40)])
    actions = audit_actions(settings)
    assert actions.count("login.failure") == passwords.ACCOUNT_FAILURES      # checked
    assert statuses.count(401) == passwords.ACCOUNT_FAILURES - 1
    assert statuses.count(429) == 40 - (passwords.ACCOUNT_FAILURES - 1)
    assert actions.count("login.lockout") == 2          # the name, and at 20 the address
    right = await password_login(client, "hoa.phu", GOOD)
    assert right.status == 429 and "loa_session" not in right.cookies


async def test_parallel_guesses_from_one_address_stop_at_its_limit(client, settings,
                                                                   fast_hashes):
    """40 names tried at once from one address: at most 20 passwords are checked."""
    officer_id, _ = await make_officer(settings, "xa-24175", "editor")
    await give_password(settings, officer_id, "hoa.phu")
    statuses = await parallel_logins(client, [(f"ten.{i}", "sai mật khẩu") for i in range(40)])
    assert audit_actions(settings).count("login.failure") == passwords.CLIENT_FAILURES
    assert statuses.count(401) == passwords.CLIENT_FAILURES - 1
    right = await password_login(client, "hoa.phu", GOOD)
    assert right.status == 429 and "loa_session" not in right.cookies


async def test_a_batch_with_the_right_password_checks_at_most_five(client, settings):
    """20 passwords at once, the right one last (before the fix: 16 failures recorded, then
    it logged in). Whichever order the server takes them in, at most 5 are checked before the
    right one (or none is right: the account is locked). A success proves the owner and
    forgets the name's failures, as any login does; wrong passwords of the batch still in
    flight after it start a new count of at most 5 (seen on PostgreSQL under load, when the
    server took the right one early), never a way past the lock."""
    officer_id, _ = await make_officer(settings, "xa-24175", "editor")
    await give_password(settings, officer_id, "hoa.phu")
    batch = await parallel_logins(
        client, [("hoa.phu", f"lại sai {i}") for i in range(19)] + [("hoa.phu", GOOD)])
    checked = [a for a in audit_actions(settings) if a in ("login.failure", "login.success")]
    upto = checked.index("login.success") + 1 if "login.success" in checked else len(checked)
    assert upto <= passwords.ACCOUNT_FAILURES                     # before or with the right one
    assert len(checked) - upto <= passwords.ACCOUNT_FAILURES      # after it: a new count
    assert batch.count(429) >= 20 - len(checked)                  # the rest refused unchecked


async def test_a_stolen_session_cannot_guess_the_current_password_in_parallel(client,
                                                                             settings):
    """The password page asks for the current password; 10 guesses sent at once through a
    (stolen) session check at most 5, then the account is locked."""
    officer_id, _ = await make_officer(settings, "xa-24175", "editor")
    await give_password(settings, officer_id, "hoa.phu")      # (ends earlier sessions, links)
    assert (await password_login(client, "hoa.phu", GOOD)).status == 303
    csrf = await page_csrf(client, "/admin/password")
    new = "Cà phê Buôn Ma Thuột"

    async def guess(i: int) -> int:
        response = await client.post("/admin/password", data={
            "csrf": csrf, "login_name": "hoa.phu", "current": f"đoán {i}", "new": new,
            "confirm": new}, allow_redirects=False)
        await response.read()
        return response.status

    statuses = await asyncio.gather(*(guess(i) for i in range(10)))
    assert audit_actions(settings).count("password.change_refused") == \
        passwords.ACCOUNT_FAILURES
    assert statuses.count(429) == 10 - passwords.ACCOUNT_FAILURES
    right = await save_password(client, login_name="hoa.phu", current=GOOD, new=new,
                                confirm=new)
    assert right.status == 429


# -- PostgreSQL ----------------------------------------------------------------------------------

async def test_migration_and_lockout_on_postgresql(postgres_url, fast_hashes):
    """`python -m bot migrate` (Alembic "heads") on PostgreSQL, then the atomic failure count."""
    env = {"BOT_DATABASE_URL": postgres_url, "PATH": "/usr/bin:/bin", "BOT_SECRET_KEY": "k"}
    migrated = await asyncio.to_thread(run_cli, "migrate", env=env)
    assert migrated.returncode == 0, migrated.stderr
    await upgrade_database_async(postgres_url)                     # again: a no-op
    db = Database(make_engine(postgres_url))
    try:
        async with db.begin() as conn:
            await officers.sync_units(conn, "Sở")
            code = await officers.create_invite(conn, "xa-24175", "editor", "test")
            officer = await officers.redeem_invite(conn, code, "cli", "p" * 16, "", "Cán bộ")
            await passwords.store_password(conn, officer.id, "hoa.phu",
                                           passwords.hash_password(GOOD), "test")
        ok = await passwords.attempt_login(db, "k", "hoa.phu", GOOD, "10.0.0.1")
        assert ok.outcome is passwords.Outcome.OK and ok.officer_id == officer.id
        outcomes = [(await passwords.attempt_login(db, "k", "hoa.phu", "sai", "10.0.0.1")).outcome
                    for _ in range(passwords.ACCOUNT_FAILURES + 1)]
        assert outcomes == [passwords.Outcome.FAILED] * 4 + [passwords.Outcome.LOCKED] * 2
        locked = await passwords.attempt_login(db, "k", "hoa.phu", GOOD, "10.0.0.2")
        assert locked.outcome is passwords.Outcome.LOCKED
        async with db.begin() as conn:
            assert await passwords.unlock_officer(conn, "k", officer.id, "operator")
        assert (await passwords.attempt_login(db, "k", "hoa.phu", GOOD, "10.0.0.2")).outcome \
            is passwords.Outcome.OK
    finally:
        await db.dispose()


# -- a real browser ------------------------------------------------------------------------------

async def test_log_in_with_a_password_in_a_browser(browser, live_server, settings):
    officer_id, _ = await make_officer(settings, "xa-24175", "editor", name="Chị Hoa")
    await give_password(settings, officer_id, "hoa.phu")
    context = await browser.new_context()
    page = await context.new_page()
    await page.goto(f"{live_server}/admin/login")
    await page.get_by_label("Tên đăng nhập", exact=True).fill("hoa.phu")
    await page.get_by_label("Mật khẩu", exact=True).fill("sai mật khẩu rồi")
    await page.get_by_role("button", name="Đăng nhập", exact=True).click()
    await page.wait_for_selector("#login-error")
    assert await page.locator("#login-error").inner_text() == \
        "Tên đăng nhập hoặc mật khẩu không đúng."
    assert await page.get_by_label("Tên đăng nhập", exact=True).input_value() == "hoa.phu"
    await page.get_by_label("Mật khẩu", exact=True).fill(GOOD)
    await page.get_by_role("button", name="Đăng nhập", exact=True).click()
    await page.wait_for_url(f"{live_server}/admin")
    assert "Chị Hoa" in await page.locator("header").inner_text()
    (session,) = [c for c in await context.cookies() if c["name"] == "loa_session"]
    assert session["httpOnly"] and session["sameSite"] == "Strict"
    assert await page.evaluate("document.cookie") == ""           # no script reads it
    await context.close()


async def test_behind_a_trusted_load_balancer_each_browser_is_counted_apart(settings,
                                                                             fast_hashes):
    """With BOT_TRUSTED_PROXIES the address limit counts the browser (X-Forwarded-For), so
    one noisy address cannot lock every officer behind the balancer out; without it, the
    header is ignored, so nobody can dodge the limit by sending it."""
    from dataclasses import replace

    from aiohttp.test_utils import TestClient, TestServer

    from bot.app import build_app
    officer_id, _ = await make_officer(settings, "xa-24175", "editor")
    await give_password(settings, officer_id, "hoa.phu")
    behind = replace(settings, trusted_proxies=("127.0.0.1",))
    async with TestClient(TestServer(build_app(behind))) as client:
        noisy = {"X-Forwarded-For": "203.0.113.7"}
        for i in range(passwords.CLIENT_FAILURES):
            await forwarded_login(client, f"ten.{i}", "sai mật khẩu", noisy)
        blocked = await forwarded_login(client, "hoa.phu", GOOD, noisy)
        assert blocked.status == 429
        other = await forwarded_login(client, "hoa.phu", GOOD,
                                      {"X-Forwarded-For": "198.51.100.4, 127.0.0.1"})
        assert other.status == 303
    async with TestClient(TestServer(build_app(settings))) as client:   # no trusted proxy
        for i in range(passwords.CLIENT_FAILURES):
            await forwarded_login(client, f"ten.{i}", "sai mật khẩu",
                                  {"X-Forwarded-For": f"198.51.100.{i}"})
        dodging = await forwarded_login(client, "hoa.phu", GOOD,
                                        {"X-Forwarded-For": "198.51.100.99"})
        assert dodging.status == 429      # all counted against the real peer, 127.0.0.1


async def forwarded_login(client, login: str, password: str, headers: dict[str, str]):
    html = await (await client.get("/admin/login")).text()
    token = re.search(r'id="login-form">\s*<input type="hidden" name="csrf" value="([^"]+)"',
                      html)[1]
    return await client.post("/admin/login", data={"csrf": token, "login": login,
                                                   "password": password},
                             headers=headers, allow_redirects=False)
