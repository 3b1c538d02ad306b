"""Operations: /metrics in the Prometheus format after real traffic (web chat and Telegram),
/healthz with workers and lag, and logs without tokens or citizens' words."""
from __future__ import annotations

import asyncio
import datetime as dt
import io
import json
import logging
from dataclasses import replace

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select, update
from sqlalchemy.exc import OperationalError
from support.env import free_port, start_server
from support.fakebotapi import FakeBotApi, text_update
from support.waiting import wait_for

from bot.app import build_app
from bot.ops.logging_setup import REDACTED, RedactingFilter, make_handler, setup_logging
from bot.ops.metrics import METRICS, heartbeat, lag_problems, read_lag, watch_workers
from bot.store import queries
from bot.store.db import Database, make_engine
from bot.store.models import utcnow
from bot.web.keys import RUNTIME

SESSION = "ops-session-0123456789abcdef"
TOKEN = "7012345678:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw0"     # the shape of a real bot token
MARKER = "Quả Táo Xanh của bà Năm 0987654321"               # a citizen's words, unique


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(found: dict, name: str, **labels: str) -> float:  # type: ignore[type-arg]
    return found.get((name, frozenset(labels.items())), 0.0)


async def post(client, message_id: str, **body):  # type: ignore[no-untyped-def]
    return await client.post("/api/chat", json={"session": SESSION, "id": message_id, **body})


# -- /metrics -----------------------------------------------------------------------------------

async def test_metrics_after_web_chat_traffic(client, settings):
    for index, text in enumerate(["1", "khi nao tat song 2g", "5"]):
        assert (await post(client, f"ops{index:05d}", text=text)).status == 200
    assert (await post(client, "ops00001", text="khi nao tat song 2g")).status == 200   # retry
    assert (await client.post("/api/chat", data=b"not json")).status == 400
    response = await client.get("/metrics")
    assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    found = samples(await response.text())
    db = client.app[RUNTIME].db
    async with db.connect() as conn:
        replies = len((await conn.execute(select(queries.OUTBOX.c.id))).all())
    assert replies >= 3
    assert value(found, "loa_updates_received_total", channel="web") == 3
    assert value(found, "loa_replies_sent_total", channel="web") == replies   # retry: not again
    assert value(found, "loa_send_outcomes_total", channel="web", outcome="sent") == replies
    assert value(found, "loa_reply_latency_seconds_count", channel="web") == replies
    assert 0 < value(found, "loa_reply_latency_seconds_sum", channel="web") < 30
    assert value(found, "loa_reply_latency_seconds_bucket", channel="web", le="+Inf") == replies
    chat = {"route": "/api/chat", "method": "POST"}
    assert value(found, "loa_http_request_duration_seconds_count", status="200", **chat) == 4
    assert value(found, "loa_http_request_duration_seconds_count", status="400", **chat) == 1
    assert value(found, "loa_queue_rows", queue="inbox", channel="web", status="done") == 3
    assert value(found, "loa_queue_lag_seconds", queue="inbox") == 0
    assert value(found, "loa_worker_up", worker="inbox-worker") == 1
    assert value(found, "loa_contacts") == 1
    assert value(found, "process_resident_memory_bytes") > 0


@pytest.fixture
async def api():
    async with FakeBotApi(token=TOKEN) as fake:
        yield fake


async def start_telegram_loa(settings, api):  # type: ignore[no-untyped-def]
    port = free_port()
    s = replace(settings, telegram_token=api.token, telegram_api_url=api.base_url, port=port)
    return await start_server(build_app(s), port)


async def test_metrics_count_telegram_sends_by_outcome(settings, api):
    import aiohttp
    api.block(5550002)
    api.flood(1, retry_after=1)
    runner, url = await start_telegram_loa(settings, api)
    try:
        api.push_update(text_update(5550001, "1"))
        api.push_update(text_update(5550002, "1"))
        await api.wait_for_calls("sendMessage", 1, chat_id=5550001, timeout=10)

        async def scrape() -> dict:  # type: ignore[type-arg]
            async with aiohttp.ClientSession() as http:
                return samples(await (await http.get(f"{url}/metrics")).text())

        found: dict = {}  # type: ignore[type-arg]

        async def settled() -> bool:
            nonlocal found
            found = await scrape()
            return value(found, "loa_reply_latency_seconds_count", channel="telegram") == 1 \
                and value(found, "loa_send_outcomes_total", channel="telegram",
                          outcome="blocked") == 1

        for _ in range(100):
            if await settled():
                break
            await asyncio.sleep(0.05)
        tg = {"channel": "telegram"}
        assert value(found, "loa_updates_received_total", **tg) == 2
        assert value(found, "loa_send_outcomes_total", outcome="sent", **tg) == 1
        assert value(found, "loa_send_outcomes_total", outcome="blocked", **tg) == 1
        assert value(found, "loa_send_outcomes_total", outcome="retry", **tg) >= 1   # the 429
        assert value(found, "loa_flood_waits_total", **tg) == 1
        assert value(found, "loa_sent_total", **tg) == 1
        assert value(found, "loa_replies_sent_total", **tg) == 1
        assert value(found, "loa_reply_latency_seconds_count", **tg) == 1
        assert value(found, "loa_reply_latency_seconds_sum", **tg) >= 1.0   # waited the 429
        assert value(found, "loa_worker_up", worker="telegram-sender") == 1
        # A reply sent at once (handed from the handler to the sender in memory, not read
        # back from the outbox) is timed too.
        api.push_update(text_update(5550003, "1"))
        await api.wait_for_calls("sendMessage", 1, chat_id=5550003, timeout=10)
        for _ in range(100):
            found = await scrape()
            if value(found, "loa_reply_latency_seconds_count", **tg) == 2:
                break
            await asyncio.sleep(0.05)
        assert value(found, "loa_replies_sent_total", **tg) == 2
        assert value(found, "loa_reply_latency_seconds_count", **tg) == 2
    finally:
        await runner.cleanup()


# -- /healthz -----------------------------------------------------------------------------------

async def test_healthz_reports_database_workers_and_lag(client):
    assert (await post(client, "health001", text="1")).status == 200
    response = await client.get("/healthz")
    health = await response.json()
    assert response.status == 200
    assert health["status"] == "ok" and health["database"] == "ok"
    assert health["telegram"] == "off" and health["queues"]["inbox"] == {"done": 1}
    assert health["workers"]["inbox-worker"] == "running"
    assert health["workers"]["jobs"] == "running"
    assert health["lag_s"] == {"inbox": 0.0, "outbox_reply": 0.0, "outbox_bulk": 0.0}
    assert health["problems"] == []


async def test_healthz_degrades_when_a_worker_dies_or_goes_silent(client):
    async def crashing() -> None:
        raise RuntimeError("worker bug")

    task = asyncio.create_task(crashing(), name="probe-worker")
    await asyncio.gather(task, return_exceptions=True)
    watch_workers(client.app, [task])
    response = await client.get("/healthz")
    health = await response.json()
    assert response.status == 503 and health["status"] == "degraded"
    assert health["workers"]["probe-worker"] == "dead: RuntimeError"
    assert health["problems"] == ["worker probe-worker: dead: RuntimeError"]
    assert health["workers"]["inbox-worker"] == "running"

    workers = client.app[METRICS].workers
    workers._tasks.pop("probe-worker")
    now = [workers.clock()]
    workers.clock = lambda: now[0]                   # time passes when the test says so
    beat = heartbeat(client.app, "probe-loop", stale_after_s=5)
    beat()
    assert (await client.get("/healthz")).status == 200
    now[0] += 6                                      # the loop stopped beating: stuck
    health = await (await client.get("/healthz")).json()
    assert health["status"] == "degraded" and health["problems"][0].startswith(
        "worker probe-loop: silent")
    metrics = samples(await (await client.get("/metrics")).text())
    assert value(metrics, "loa_worker_up", worker="probe-loop") == 0


async def test_healthz_when_the_database_is_unreachable(client, monkeypatch):
    def broken() -> None:
        raise OperationalError("connect", {}, ConnectionRefusedError("refused"))

    monkeypatch.setattr(client.app[RUNTIME].db, "connect", broken)
    response = await client.get("/healthz")
    assert response.status == 503
    assert await response.json() == {"status": "error", "database": "unreachable"}


async def test_lag_of_the_inbox_and_of_due_replies(settings):
    db = Database(make_engine(settings.database_url))
    now = utcnow()
    try:
        async with db.begin() as conn:
            stuck = await queries.insert_inbox(conn, "telegram", "9001", "{}")
            await conn.execute(update(queries.INBOX).where(queries.INBOX.c.id == stuck)
                               .values(received_at=now - dt.timedelta(minutes=10)))
            contact = await queries.insert_contact(conn, channel="telegram", pseudonym="p",
                                                   address="1", state="{}", status="active")
            await queries.insert_outbox(conn, [
                {"contact_id": contact, "channel": "telegram", "address": "1", "lane": lane,
                 "payload": "{}", "status": "pending", "attempts": 0,
                 "not_before": now - dt.timedelta(seconds=seconds), "ambiguous": False}
                for lane, seconds in (("reply", 30), ("bulk", 7200), ("reply", -60))])
        async with db.connect() as conn:
            lag = await read_lag(conn, ["telegram"], ["telegram"], now)
            assert await read_lag(conn, [], [], now) == {"inbox": 0.0, "outbox_reply": 0.0,
                                                         "outbox_bulk": 0.0}
    finally:
        await db.dispose()
    assert lag == {"inbox": 600.0, "outbox_reply": 30.0, "outbox_bulk": 7200.0}
    assert lag_problems(lag) == ["inbox: the oldest unhandled update has waited 600 s"]
    assert lag_problems({**lag, "outbox_reply": 400.0})[1] == "outbox: a reply is 400 s overdue"


# -- logs ---------------------------------------------------------------------------------------

def test_json_logs_one_object_per_line_without_tokens_or_secrets(settings):
    s = replace(settings, log_format="json", telegram_token=TOKEN,
                zalo_webhook_secret="zalo-hook-secret-value")
    stream = io.StringIO()
    handler = make_handler(s, stream)
    logger = logging.getLogger("bot.test_ops")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    try:
        logger.info("calling https://api.telegram.org/bot%s/getMe", TOKEN,
                    extra={"inbox_id": 42, "note": "header zalo-hook-secret-value"})
        other = "1234567:" + "Z" * 35              # a token Loa was not configured with
        logger.warning("a stranger's token %s and the secret key %s", other, s.secret_key)
        try:
            raise ValueError(f"bad url .../bot{TOKEN}/sendMessage")
        except ValueError:
            logger.exception("send failed")
    finally:
        logger.removeHandler(handler)
        logger.propagate = True
    lines = stream.getvalue().splitlines()
    records = [json.loads(line) for line in lines]
    assert len(records) == 3
    first = records[0]
    assert set(first) >= {"time", "level", "logger", "message"}
    assert first["level"] == "INFO" and first["logger"] == "bot.test_ops"
    assert first["time"].endswith("Z") and dt.datetime.fromisoformat(first["time"][:-1])
    assert first["message"] == f"calling https://api.telegram.org/bot{REDACTED}/getMe"
    assert first["inbox_id"] == 42 and first["note"] == f"header {REDACTED}"
    assert records[1]["message"] == f"a stranger's token {REDACTED} and the secret key " \
                                    f"{REDACTED}"
    assert "Traceback" in records[2]["exc"] and REDACTED in records[2]["exc"]
    text = stream.getvalue()
    for secret in (TOKEN, TOKEN.split(":")[1], other, s.secret_key, "zalo-hook-secret-value"):
        assert secret not in text


def test_text_logs_and_the_root_setup(settings):
    s = replace(settings, telegram_token=TOKEN, log_level="INFO")
    stream = io.StringIO()
    handler = make_handler(s, stream)
    record = logging.LogRecord("bot.x", logging.INFO, __file__, 1, "token=%s", (TOKEN,), None)
    handler.handle(record)
    assert stream.getvalue().rstrip().endswith(f"INFO bot.x: token={REDACTED}")
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        setup_logging(s)
        (installed,) = root.handlers
        assert any(isinstance(f, RedactingFilter) for f in installed.filters)
        assert root.level == logging.INFO
        assert logging.getLogger("httpx").level == logging.WARNING   # URLs hold the token
        setup_logging(replace(s, log_level="DEBUG"))
        assert len(root.handlers) == 1 and root.level == logging.DEBUG
        for name in ("telegram", "aiosqlite"):     # their DEBUG logs carry message bodies
            assert not logging.getLogger(name).isEnabledFor(logging.DEBUG)
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
        for name in ("telegram", "aiosqlite", "asyncio", "hpack"):
            logging.getLogger(name).setLevel(logging.NOTSET)


async def test_a_citizens_words_never_reach_the_logs(settings, api, caplog):
    """Everything Loa logs while handling a citizen's messages on the web chat and Telegram,
    at DEBUG: ids and pseudonyms may appear, the words may not."""
    import aiohttp
    caplog.set_level(logging.INFO)
    caplog.set_level(logging.DEBUG, logger="bot")
    api.fail_next(1, status=400, description="Bad Request: chat not found")
    runner, url = await start_telegram_loa(settings, api)
    try:
        async with aiohttp.ClientSession() as http:
            for index, text in enumerate([MARKER, "xóa dữ liệu"]):
                response = await http.post(f"{url}/api/chat", json={
                    "session": SESSION, "id": f"words{index:04d}", "text": text})
                assert response.status == 200
            pressed = await http.post(f"{url}/api/chat", json={
                "session": SESSION, "id": "words0009", "choice": "forget:yes"})
            assert pressed.status == 200
        api.push_update(text_update(5550003, MARKER))   # its reply fails: a warning is logged
        api.push_update(text_update(5550004, MARKER))
        await api.wait_for_calls("sendMessage", 1, chat_id=5550004, timeout=10)
        await wait_for(lambda: "failed" in caplog.text)
    finally:
        await runner.cleanup()
    bot_records = [r for r in caplog.records if r.name.startswith("bot.")]
    assert any("erased a contact's data on web" in r.getMessage() for r in bot_records)
    assert bot_records and MARKER not in caplog.text
    assert "0987654321" not in caplog.text and "Quả Táo" not in caplog.text
    assert TOKEN not in caplog.text
