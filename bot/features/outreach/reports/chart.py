"""The month-over-month chart as a PNG (matplotlib, Agg backend, Noto Sans)."""
from __future__ import annotations

import io
import threading
from collections.abc import Callable

import matplotlib

matplotlib.use("Agg")

from matplotlib import font_manager  # noqa: E402
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

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


def trend_png(report: MonthReport, tr: Tr) -> bytes:
    """Bars: runs per month for the last 12 months; a line: people reached."""
    family = _family()
    fig = Figure(figsize=(10, 4.8), dpi=110)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    labels = [x.label for x in report.trend]
    runs = [x.runs for x in report.trend]
    bars = ax.bar(labels, runs, color="#0b3d91", label=tr("Number of runs"))
    ax.bar_label(bars, labels=[f"{v:,}".replace(",", ".") if v else "" for v in runs],
                 fontsize=8, family=family, padding=2)
    ax.set_ylabel(tr("Number of runs"), family=family)
    people = ax.twinx()
    people.plot(labels, [x.people or 0 for x in report.trend], color="#d9822b", marker="o",
                label=tr("People reached"))
    people.set_ylabel(tr("People reached"), family=family)
    for axis in (ax, people):
        for tick in axis.get_xticklabels() + axis.get_yticklabels():
            tick.set_family(family)
            tick.set_fontsize(8)
    ax.set_title(tr("Outreach per month – {unit}", unit=report.unit_name), family=family,
                 fontsize=12, fontweight="bold")
    handles = [bars, people.get_lines()[0]]
    ax.legend(handles, [h.get_label() for h in handles], loc="upper left",
              prop={"family": family, "size": 8})
    ax.set_ylim(bottom=0)
    people.set_ylim(bottom=0)
    fig.tight_layout()
    out = io.BytesIO()
    fig.savefig(out, format="png")
    return out.getvalue()
