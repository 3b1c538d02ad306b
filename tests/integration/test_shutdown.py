"""A stopped sender leaves nothing behind: its announcement lane has ended when the sender's
own task has. A lane still unwinding then held a database connection while the engine was
disposed and the event loop closed; the connection was collected later, inside another test,
as "coroutine ignored GeneratorExit" (seen once under load)."""
from __future__ import annotations

import asyncio
from dataclasses import replace

from support.env import free_port, start_server
from support.fakebotapi import FakeBotApi
from support.waiting import wait_for

from bot.app import build_app


def task_named(name: str) -> asyncio.Task | None:
    return next((t for t in asyncio.all_tasks() if t.get_name() == name), None)


async def test_a_stopped_sender_has_no_lane_left_running(settings):
    async with FakeBotApi(token="3030:SHUTDOWN") as api:
        port = free_port()
        s = replace(settings, telegram_token=api.token, telegram_api_url=api.base_url,
                    port=port, quiet_hours="")
        runner, _ = await start_server(build_app(s), port)
        try:
            await wait_for(lambda: task_named("bulk-lane") and task_named("telegram-sender"))
            bulk, sender = task_named("bulk-lane"), task_named("telegram-sender")
            sender.cancel()                        # as the app's stop does
            await asyncio.gather(sender, return_exceptions=True)
            assert bulk.done()
        finally:
            await runner.cleanup()
