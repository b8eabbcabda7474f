"""The threshold monitor's trends: alerts opened (by kind) and resolved per run over the last
7 days, as the geometry of an SVG bar chart (the job page draws it next to the durations).

One bounded query over ``job_runs`` (its ``(job_name, queued_at)`` index): the runs of the
last ``TREND_DAYS`` days, at most ``MAX_RUNS`` of them, newest kept; the counts come from each
run's summary (``alertsOpened: {warning, mahroom, tasdiq}``, ``alertsResolved``).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import select

from portal.clock import utcnow
from portal.extensions import db
from portal.models import JobRun
from portal.operations.charts import bar_slot, scaled
from portal.periodic.pauses import local_text

TREND_DAYS = 7
# Hourly runs for a week, four times over (manual runs, catch-ups): far past any real week.
MAX_RUNS = 24 * TREND_DAYS * 4
KINDS = ("warning", "mahroom", "tasdiq")
MAX_GROUP_WIDTH = 28  # px per run: one run is one narrow pair of bars
# The plot inside the chart: room for the count labels on the left and the times below.
LEFT, RIGHT, TOP, BOTTOM = 34, 8, 12, 26


def _counts(summary: dict[str, Any]) -> dict[str, int]:
    opened = summary.get("alertsOpened") or {}
    counts = {kind: int(opened.get(kind) or 0) for kind in KINDS}
    counts["resolved"] = int(summary.get("alertsResolved") or 0)
    return counts


def trend_runs(job_name: str, now: datetime | None = None) -> list[dict[str, Any]]:
    """``[{id, queuedAt, warning, mahroom, tasdiq, resolved}]`` of the last 7 days' runs whose
    summary counts alerts, oldest first."""
    since = (now or utcnow()) - timedelta(days=TREND_DAYS)
    rows = db.session.execute(
        select(JobRun.id, JobRun.queued_at, JobRun.summary)
        .where(JobRun.job_name == job_name, JobRun.queued_at >= since)
        .order_by(JobRun.queued_at.desc(), JobRun.id.desc())
        .limit(MAX_RUNS)
    ).all()
    return [
        {"id": row.id, "queuedAt": row.queued_at, **_counts(row.summary)}
        for row in reversed(rows)
        if isinstance(row.summary, dict) and isinstance(row.summary.get("alertsOpened"), dict)
    ]


def _title(run: dict[str, Any]) -> str:
    return _(
        "Run #%(id)d at %(time)s: opened %(warning)d warning, %(mahroom)d mahroom, %(tasdiq)d tasdiq; "
        "resolved %(resolved)d",
        id=run["id"],
        time=local_text(run["queuedAt"]),
        warning=run["warning"],
        mahroom=run["mahroom"],
        tasdiq=run["tasdiq"],
        resolved=run["resolved"],
    )


def _run_bars(run: dict[str, Any], x: float, bar_width: float, largest: int, plot_height: float) -> list[dict]:
    """The run's opened bar (its kinds stacked, warning at the bottom) and its resolved bar beside it."""
    title, bars, base = _title(run), [], TOP + plot_height
    for kind in KINDS:
        height = scaled(run[kind], largest, plot_height, minimum=1)
        if height:
            base -= height
            bars.append({"series": kind, "x": x, "y": round(base, 1), "height": height, "value": run[kind]})
    height = scaled(run["resolved"], largest, plot_height, minimum=1)
    if height:
        y = round(TOP + plot_height - height, 1)
        bars.append(
            {"series": "resolved", "x": round(x + bar_width, 1), "y": y, "height": height, "value": run["resolved"]}
        )
    for bar in bars:
        bar.update(run=run["id"], width=bar_width, title=title)
    return bars


def alert_trends(job_name: str, now: datetime | None = None, width: int = 600, height: int = 180) -> dict[str, Any]:
    """Return the chart: ``{width, height, plot, bars, runs, largest, yTicks, xLabels, totals}``.

    ``bars`` carry their series (a kind or ``resolved``), run id and value for the page's data
    attributes; the largest count of a run (opened in all, or resolved) fills the plot's height.
    """
    runs = trend_runs(job_name, now)
    plot = {"x": LEFT, "y": TOP, "width": width - LEFT - RIGHT, "height": height - TOP - BOTTOM}
    largest = max((max(sum(run[k] for k in KINDS), run["resolved"]) for run in runs), default=0)
    slot = bar_slot(len(runs), plot["width"], MAX_GROUP_WIDTH)
    bar_width = round(max(slot - 4, 2) / 2, 1)
    bars = []
    for index, run in enumerate(runs):
        bars += _run_bars(run, round(LEFT + index * slot + 2, 1), bar_width, largest, plot["height"])
    bottom = TOP + plot["height"]
    y_ticks = [{"y": bottom, "label": "0"}]
    if largest:
        y_ticks.append({"y": TOP, "label": str(largest)})
    x_labels = []
    if runs:
        x_labels.append({"x": LEFT, "anchor": "start", "label": local_text(runs[0]["queuedAt"])})
    if len(runs) > 1:
        x_labels.append({"x": width - RIGHT, "anchor": "end", "label": local_text(runs[-1]["queuedAt"])})
    totals = {series: sum(run[series] for run in runs) for series in (*KINDS, "resolved")}
    return {
        "width": width,
        "height": height,
        "plot": plot,
        "bars": bars,
        "runs": len(runs),
        "largest": largest,
        "yTicks": y_ticks,
        "xLabels": x_labels,
        "totals": totals,
    }
