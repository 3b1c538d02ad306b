"""Fixtures of the end-to-end tests."""
from __future__ import annotations

from dataclasses import replace

import pytest
from support.env import free_port, start_server
from support.fakebotapi import FakeBotApi

from bot.app import build_app


@pytest.fixture
async def telegram(settings):  # type: ignore[no-untyped-def]
    async with FakeBotApi(token="777:OUTREACH") as api:
        port = free_port()
        s = replace(settings, telegram_token=api.token, telegram_api_url=api.base_url,
                    port=port, public_url=f"http://127.0.0.1:{port}", quiet_hours="",
                    telegram_webhook_secret="o" * 20)
        runner, _ = await start_server(build_app(s), port)
        try:
            yield api, s
        finally:
            await runner.cleanup()
