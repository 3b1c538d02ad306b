"""The web chat API through the real aiohttp app and a real SQLite file."""
from __future__ import annotations

import pytest
from support.env import sql_connect
from support.officers import login_as

SESSION = "s" * 10 + "webchat-session-1234"


async def post(client, message_id: str, **body):
    return await client.post("/api/chat", json={"session": SESSION, "id": message_id, **body})


async def test_page_and_embed_script_are_served(client):
    page = await client.get("/")
    assert page.status == 200
    html = await page.text()
    assert 'lang="vi"' in html and "viewport" in html
    embed = await client.get("/embed.js")
    assert embed.status == 200


async def test_start_then_number_then_button(client):
    start = await post(client, "msg00001", command="start")
    assert start.status == 200
    (greeting,) = (await start.json())["messages"]
    assert "Xin chào" in greeting["text"]
    assert greeting["buttons"][0][0]["choice"] == "topic:after_shutdown.phone_stopped"
    answer = await post(client, "msg00002", text="2")
    (msg,) = (await answer.json())["messages"]
    assert "Cập nhật ngày" in msg["text"]
    pressed = await post(client, "msg00003", choice="topic:keep_number")
    assert "Đổi máy" in (await pressed.json())["messages"][0]["text"]


async def test_a_retried_message_gets_the_same_answer_and_one_run(client, settings):
    first = await (await post(client, "retry0001", text="khi nao tat song 2g")).json()
    again = await (await post(client, "retry0001", text="khi nao tat song 2g")).json()
    assert first == again
    with sql_connect(settings) as db:
        assert db.execute("select count(*) from run").fetchone()[0] == 1
        assert db.execute("select count(*) from inbox").fetchone()[0] == 1


async def test_runs_are_logged_under_a_pseudonym_without_the_session_or_words(client, settings):
    await post(client, "priv0001", text="khi nào tắt sóng 2g")
    with sql_connect(settings) as db:
        run = db.execute("select medium, form, topic, language, contact_pseudonym, unit "
                         "from run").fetchone()
        dump = "\n".join(db.iterdump())
    assert run[:4] == ("web", "chatbot_qa", "timeline", "vi")
    assert run[4] and run[4] != SESSION and run[5]
    assert "tắt sóng 2g" not in dump and "khi nào" not in dump   # the question is not kept
    with sql_connect(settings) as db:
        runs = "\n".join(str(row) for row in db.execute("select * from run"))
        inbox = "\n".join(str(row) for row in db.execute("select * from inbox"))
    assert SESSION not in runs and SESSION not in inbox


@pytest.mark.parametrize("body, status", [
    (b"not json", 400),
    (b'{"session": "short", "id": "msg00001", "text": "hi"}', 400),
    (('{"session": "%s", "id": "msg00001", "text": "   "}' % SESSION).encode(), 400),
    (('{"session": "%s", "id": "msg00001", "choice": 5}' % SESSION).encode(), 400),
    (('{"session": "%s", "id": "msg00001", "text": "%s"}' % (SESSION, "a" * 2001)).encode(), 413),
])
async def test_bad_input_gets_a_clear_vietnamese_error(client, body, status):
    response = await client.post("/api/chat", data=body,
                                 headers={"Content-Type": "application/json"})
    assert response.status == status
    error = (await response.json())["error"]
    assert error and "Traceback" not in error
    assert any(word in error for word in ("Bạn", "bạn", "Không"))


async def test_oversize_body_is_refused_politely(client):
    response = await client.post("/api/chat", data=b"x" * (300 * 1024),
                                 headers={"Content-Type": "application/json"})
    assert response.status == 413
    assert "dài quá" in (await response.json())["error"]


async def test_emoji_and_long_text_are_answered(client):
    emoji = await post(client, "emoji0001", text="🙏👍🏽 khi nào tắt 2G 😀")
    assert "Cập nhật ngày" in (await emoji.json())["messages"][0]["text"]
    long = await post(client, "long00001", text="tắt sóng 2g " * 150)
    assert long.status == 200


async def test_rate_limit_protects_the_server(client):
    statuses = []
    for i in range(35):
        response = await post(client, f"rate{i:05d}", text=str(i % 11 + 1))
        statuses.append(response.status)
    assert statuses[:30] == [200] * 30
    assert statuses[-1] == 429


async def test_health_admin_and_metrics(client, settings):
    await post(client, "adm00001", text="1")
    health = await (await client.get("/healthz")).json()
    assert health["status"] == "ok" and health["telegram"] == "off"
    await login_as(client, settings, "tinh", "viewer")
    admin = await (await client.get("/admin")).text()
    assert "Lượt truyền thông tháng" in admin and 'id="total">1<' in admin
    metrics = await (await client.get("/metrics")).text()
    assert 'loa_queue_rows{channel="web",queue="outbox",status="sent"} 1.0' in metrics
    assert 'loa_queue_rows{channel="web",queue="inbox",status="done"} 1.0' in metrics


@pytest.fixture
async def languages_client(settings):
    """The web chat of a Loa that offers Ê Đê and J'rai (both still being translated)."""
    from dataclasses import replace

    from aiohttp.test_utils import TestClient, TestServer

    from bot.app import build_app
    async with TestClient(TestServer(build_app(replace(settings, languages=("vi", "rad", "jra"))
                                               ))) as c:
        yield c


async def test_commands_listed_by_help_work_typed_in_the_web_chat(languages_client, settings):
    """/help tells people to type /lang: it opens the language screen as on Telegram, "/lang
    rad" says Ê Đê is being translated, and no command is kept as an unanswered question
    (review finding F2)."""
    client = languages_client

    async def say(message_id: str, text: str) -> str:
        response = await post(client, message_id, text=text)
        assert response.status == 200
        return "\n".join(m["text"] for m in (await response.json())["messages"])

    assert "/lang (ngôn ngữ)" in await say("cmd00001", "/help")
    picker = await say("cmd00002", "/lang")
    assert picker.endswith("Chọn ngôn ngữ:") and "Loa chưa hiểu" not in picker
    assert "Tiếng Ê Đê: đang dịch, tạm dùng tiếng Việt" in picker
    ede = await say("cmd00003", "/lang rad")
    assert "Tiếng Ê Đê: đang dịch, tạm dùng tiếng Việt" in ede and "Loa chỉ trả lời" not in ede
    assert "Chọn ngôn ngữ:" in await say("cmd00004", "🌐 Ngôn ngữ")
    assert "Tiếng J'rai: đang dịch" in await say("cmd00005", "tiếng j'rai")
    assert "Xóa mọi thông tin Loa lưu về bạn" in await say("cmd00006", "/xoadulieu")
    assert "Chọn ngôn ngữ:" in await say("cmd00007", "/LANG")
    with sql_connect(settings) as db:
        assert db.execute("select count(*) from question").fetchone()[0] == 0
        kinds = {row[0] for row in db.execute("select kind from run")}
    assert "unmatched" not in kinds
