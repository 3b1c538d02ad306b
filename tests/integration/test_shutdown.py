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

from bot.app import LOA, build_app


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


async def test_loa_stops_even_when_woken_as_it_is_told_to_stop(settings):
    """SIGTERM often lands while a message has just woken a worker. Each long-running loop
    (inbox worker, reply and announcement lanes, broadcast runner, cluster link) is woken and
    cancelled in the same turn of the event loop, as a stop under load does; every one must
    end. With `asyncio.wait_for` (Python 3.11 loses a cancellation that coincides with the
    wake-up) they went round again and the stop waited forever: `bot run` did not exit on
    SIGTERM, and a CI run hung for 90 minutes."""
    loops = ("inbox-worker", "telegram-sender", "bulk-lane", "broadcasts", "cluster")
    async with FakeBotApi(token="3031:SHUTDOWN") as api:
        port = free_port()
        s = replace(settings, telegram_token=api.token, telegram_api_url=api.base_url,
                    port=port, quiet_hours="")
        app = build_app(s)
        runner, _ = await start_server(app, port)
        try:
            await wait_for(lambda: all(task_named(n) for n in loops), timeout=20)
            tasks = [t for t in asyncio.all_tasks() if t.get_name() in loops]
            await wait_for(lambda: all(waiting(t) for t in tasks), timeout=20)
            await stop_while_woken(app[LOA], tasks)
        finally:
            await runner.cleanup()


def waiting(task: asyncio.Task) -> bool:
    """The task is between rounds, waiting to be woken or for its next turn (not in the
    middle of a round): the innermost coroutine it awaits is a wait or a sleep."""
    names, coro = [], task.get_coro()
    while coro is not None and hasattr(coro, "cr_code"):
        names.append(coro.cr_code.co_name)
        coro = coro.cr_await
    return names[-1] in {"wait", "_wait", "wait_for", "sleep"}


async def stop_while_woken(loa, tasks: list[asyncio.Task]) -> None:
    loa.worker.wake()                                    # a message arrived
    loa.senders["telegram"].wake()                       # a reply is due
    loa.senders["telegram"].wake("bulk")                 # an announcement is due
    for feature in loa.features:                         # something was sent
        if feature.on_sent is not None:
            feature.on_sent()
    loa.runtime.cluster.notify("loa_outbox")             # a notice to other processes
    for task in tasks:                                   # ... and the stop, in that same turn
        task.cancel()
    _, running = await asyncio.wait(tasks, timeout=20)
    for task in running:                                 # a second cancel does get through
        task.cancel()
    assert not running, "still running after the stop: " + ", ".join(
        sorted(t.get_name() for t in running))
