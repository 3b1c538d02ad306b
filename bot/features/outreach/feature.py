"""Outreach and the monthly report as Loa registers them: the overview, report, outreach and
kit pages, the /ghinhan and /baocao chat commands, and the report reminders (a job)."""
from __future__ import annotations

from collections.abc import Callable

from bot.delivery.runtime import Runtime
from bot.features.base import Feature
from bot.features.outreach.chat import OutreachChat
from bot.features.outreach.reports import forms
from bot.features.outreach.reports.reminders import reminder_job
from bot.features.outreach.web import setup


def feature(runtime: Runtime, wake_outbox: Callable[[str, str], None]) -> Feature:
    settings = runtime.settings
    chat = OutreachChat(runtime.translator, settings.data_dir, settings.unit,
                        settings.report_deadline_day,
                        forms.topic_titles(runtime.conversation.contents["vi"]))
    reminders = reminder_job(runtime, wake_outbox)
    return Feature("outreach", web=setup, extension=chat,
                   jobs=(reminders,) if reminders is not None else ())
