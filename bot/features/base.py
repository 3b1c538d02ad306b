"""Loa's features, one package each (officers, broadcasts, outreach, translations, questions,
privacy, content). Each package's `feature(...)` returns its one registration surface, a
`Feature`, which the composition root (bot/app.py) loops over; its CLI is `cli.py`
(`add_parser`, `run`), which bot/cli.py loops over. Features never import each other, except
`officers` (units, officers and their login), which every other feature may use."""
from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

from aiohttp import web

from bot.delivery.commands import ChatFeature
from bot.delivery.handler import TurnLog
from bot.delivery.jobs import Job

Reload = Callable[[], Awaitable[None]]


@dataclass(frozen=True)
class Feature:
    """What one feature adds to a Loa process."""

    name: str
    # Its admin pages: routes, templates folder and menu entries (bot/web/admin.py).
    web: Callable[[web.Application], None] | None = None
    # Chat commands and buttons it answers before the citizen conversation, in the contact's
    # language (bot/delivery/commands.py: they are listed in /canbo and /help from here).
    extension: ChatFeature | None = None
    # What a conversation turn leaves for later (the review log of questions).
    turn_log: TurnLog | None = None
    # Work done once per period across all processes, under the job leases.
    jobs: tuple[Job, ...] = ()
    # Once the database is open, before any message is handled (e.g. install what reviewers
    # approved, load taught questions).
    start: Reload | None = None
    # Long-running work of the whole bot, run by the leading process only (name -> loop;
    # bot/delivery/cluster.py), e.g. the announcement runner.
    duties: Mapping[str, Callable[[], Awaitable[None]]] = field(default_factory=dict)
    # Told when a sender of this process delivered messages (announcement progress).
    on_sent: Callable[[], None] | None = None
    # Cluster topic -> what to reload when another process announces a change on it.
    reloads: Mapping[str, Reload] = field(default_factory=dict)
