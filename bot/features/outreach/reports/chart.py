"""The report's chart as a PNG (matplotlib, Agg backend, Noto Sans): runs and people per month
over the last 12 months, and the month's runs by target group."""
from __future__ import annotations

import io
import threading
from collections.abc import Callable

import matplotlib

matplotlib.use("Agg")

from matplotlib import font_manager  # noqa: E402
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from bot.features.outreach.reports import forms  # noqa: E402
from bot.features.outreach.reports.fonts import noto  # noqa: E402
from bot.features.outreach.reports.model import MonthReport  # noqa: E402

Tr = Callable[..., str]
_FONT_LOCK = threading.Lock()
_FAMILY: list[str] = []


def _family() -> str:
    """Register Noto Sans with matplotlib once; returns its family name."""
    with _FONT_LOCK:
        if not _FAMILY:
            for style in ("Regular", "Bold"):
                font_manager.fontManager.addfont(str(noto(style)))
            _FAMILY.append(font_manager.FontProperties(fname=str(noto())).get_name())
        return _FAMILY[0]


GROUP_COLOR = "#2a7f62"


def trend_png(report: MonthReport, tr: Tr) -> bytes:
    """Top: bars of runs per month for the last 12 months, a line of people reached (a month
    whose people nobody gave has no point). Bottom: the month's runs by target group."""
    family = _family()
    fig = Figure(figsize=(10, 7.6), dpi=110)
    FigureCanvasAgg(fig)
    ax, by_group = fig.subplots(2, 1, gridspec_kw={"height_ratios": [3, 2]})
    labels = [x.label for x in report.trend]
    runs = [x.runs for x in report.trend]
    bars = ax.bar(labels, runs, color="#0b3d91", label=tr("Number of runs"))
    ax.bar_label(bars, labels=[f"{v:,}".replace(",", ".") if v else "" for v in runs],
                 fontsize=8, family=family, padding=2)
    ax.set_ylabel(tr("Number of runs"), family=family)
    people = ax.twinx()
    people.plot(labels, [float("nan") if x.people is None else x.people
                         for x in report.trend], color="#d9822b", marker="o",
                label=tr("People reached"))
    people.set_ylabel(tr("People reached"), family=family)
    for axis in (ax, people):
        for tick in axis.get_xticklabels() + axis.get_yticklabels():
            tick.set_family(family)
            tick.set_fontsize(8)
    heading = tr("Outreach per month – {unit} (whole province)", unit=report.unit_name) \
        if report.province else tr("Outreach per month – {unit}", unit=report.unit_name)
    ax.set_title(heading, family=family, fontsize=12, fontweight="bold")
    handles = [bars, people.get_lines()[0]]
    ax.legend(handles, [h.get_label() for h in handles], loc="upper left",
              prop={"family": family, "size": 8})
    ax.set_ylim(bottom=0)
    people.set_ylim(bottom=0)
    groups = list(reversed(report.by_group))     # the list's first group on top
    bars = by_group.barh([x.label for x in groups], [x.runs for x in groups], color=GROUP_COLOR)
    by_group.bar_label(bars, labels=[f"{x.runs:,}".replace(",", ".") for x in groups],
                       fontsize=8, family=family, padding=2)
    by_group.set_title(tr("Runs by target group, {month} (a run may count for several groups)",
                          month=forms.month_label(report.month)), family=family, fontsize=10)
    by_group.set_xlim(left=0, right=max([x.runs for x in groups] + [1]) * 1.15)
    for tick in by_group.get_xticklabels() + by_group.get_yticklabels():
        tick.set_family(family)
        tick.set_fontsize(8)
    fig.tight_layout()
    out = io.BytesIO()
    fig.savefig(out, format="png")
    return out.getvalue()
