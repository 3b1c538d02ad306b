"""Announcements as Loa registers them: the pages, the chat buttons (approve, stop, poll
answers) and the runner that expands approved announcements, run by the leading process."""
from __future__ import annotations

from collections.abc import Callable

from bot.delivery.runtime import Runtime
from bot.features.base import Feature
from bot.features.broadcasts.runner import BroadcastChat, BroadcastRunner
from bot.features.broadcasts.service import Broadcasts
from bot.features.broadcasts.web import BroadcastPages, setup


def feature(runtime: Runtime, wake_outbox: Callable[[str, str], None]) -> Feature:
    """`wake_outbox(channel, lane)` wakes that channel's sender, in whichever process runs it."""
    channels = tuple(c for c in runtime.channels if c != "web")
    # The configured languages, not those the conversation serves yet: an ethnic language's
    # content is installed after start-up, and an announcement's version in it (sent once its
    # reviewer approves it) does not wait for that.
    languages = tuple(dict.fromkeys(("vi", *runtime.settings.languages)))
    broadcasts = Broadcasts(runtime.translator, languages, channels,
                            runtime.settings.quiet_hours)
    runner = BroadcastRunner(runtime.db, broadcasts, runtime.translator,
                             dict(runtime.channels), lambda c: wake_outbox(c, "bulk"),
                             lambda c: wake_outbox(c, "reply"))
    pages = BroadcastPages(**runtime.parts(), broadcasts=broadcasts, broadcast_runner=runner,
                           wake_outbox=wake_outbox)
    return Feature("broadcasts", web=lambda app: setup(app, pages),
                   extension=BroadcastChat(broadcasts, runtime.translator, runner),
                   duties={"broadcasts": runner.run}, on_sent=runner.wake)

