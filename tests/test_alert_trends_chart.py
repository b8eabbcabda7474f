"""The threshold monitor's job page charts alerts opened (by kind, stacked) and resolved per run
over the last 7 days, next to the durations; one run is one narrow pair of bars."""

from __future__ import annotations

import re
from datetime import datetime

import pytest
import time_machine

from portal.extensions import db
from portal.models import JobRun
from portal.operations import run_trends
from tests.test_pages import signed_in  # noqa: F401 - the fixture

MONITOR = "notification-threshold-monitor"
NOW = datetime(2026, 12, 6, 12, 0)


def _run(at: str, warning=0, mahroom=0, tasdiq=0, resolved=0, job=MONITOR, summary=True) -> int:
    document = {"alertsOpened": {"warning": warning, "mahroom": mahroom, "tasdiq": tasdiq}, "alertsResolved": resolved}
    run = JobRun(
        job_name=job,
        trigger="cron",
        status="success",
        queued_at=datetime.fromisoformat(at),
        duration_ms=1200,
        summary=document if summary else {"reason": "held"},
    )
    db.session.add(run)
    db.session.commit()
    return run.id


def _bars(page: str) -> dict[tuple[int, str], dict[str, float]]:
    svg = re.search(r'<svg class="chart trends".*?</svg>', page, re.S).group(0)
    bars = {}
    for attrs in re.findall(r"<rect ([^>]*)>", svg):
        values = dict(re.findall(r'([\w-]+)="([^"]*)"', attrs))
        key = (int(values["data-run"]), values["data-series"])
        bars[key] = {name: float(values[name]) for name in ("data-value", "height", "width", "x", "y")}
    return bars


@pytest.fixture
def page(client, signed_in):  # noqa: F811
    """Signed in as a viewer at ``NOW`` (the clock stays there); returns a loader of the job page."""

    def load() -> str:
        response = client.get(f"/jobs/{MONITOR}")
        assert response.status_code == 200
        return response.get_data(as_text=True)

    with time_machine.travel(NOW, tick=False):
        signed_in("viewer")
        yield load


def test_known_runs_give_bars_whose_values_and_heights_match_their_counts(page):
    old = _run("2026-11-29 11:00", warning=50)  # 7 days and an hour ago: outside the chart
    first = _run("2026-12-05 10:00", warning=4, mahroom=2, tasdiq=0, resolved=3)
    second = _run("2026-12-06 10:00", warning=1, mahroom=0, tasdiq=1, resolved=8)
    held = _run("2026-12-06 11:00", summary=False)  # a run without alert counts is not a bar
    _run("2026-12-06 11:00", warning=9, job="cache-refresh")
    html = page()
    bars = _bars(html)
    assert {run for run, _ in bars} == {first, second}
    assert old not in {run for run, _ in bars} and held not in {run for run, _ in bars}
    assert {series: bar["data-value"] for (run, series), bar in bars.items() if run == first} == {
        "warning": 4,
        "mahroom": 2,
        "resolved": 3,
    }  # a kind with no alert draws nothing
    plot_height = 180 - run_trends.TOP - run_trends.BOTTOM
    largest = 8  # the second run's resolved count fills the plot
    for bar in bars.values():
        assert bar["height"] == pytest.approx(plot_height * bar["data-value"] / largest, abs=0.1)
    # Stacked: mahroom sits on warning; resolved stands beside them on the axis.
    assert bars[(first, "mahroom")]["y"] + bars[(first, "mahroom")]["height"] == pytest.approx(
        bars[(first, "warning")]["y"]
    )
    assert bars[(first, "resolved")]["x"] > bars[(first, "warning")]["x"]
    assert 'data-largest="8"' in html and 'data-y-tick="8"' in html
    assert "In all: 5 warning, 2 mahroom and 1 tasdiq opened; 11 resolved." in html
    title = re.search(rf'data-run="{first}" data-series="warning".*?<title>(.*?)</title>', html, re.S).group(1)
    assert title == (f"Run #{first} at 2026-12-05 14:30 Asia/Kabul: opened 4 warning, 2 mahroom, 0 tasdiq; resolved 3")
    assert html.index("Durations and outcomes") < html.index("Alerts per run, last 7 days")


def test_one_run_is_one_narrow_pair_of_bars_not_the_whole_width(page):
    only = _run("2026-12-06 10:00", warning=3, resolved=1)
    bars = _bars(page())
    assert set(bars) == {(only, "warning"), (only, "resolved")}
    group = bars[(only, "resolved")]["x"] + bars[(only, "resolved")]["width"] - bars[(only, "warning")]["x"]
    assert group <= run_trends.MAX_GROUP_WIDTH
    assert bars[(only, "warning")]["width"] <= run_trends.MAX_GROUP_WIDTH / 2


def test_other_jobs_have_no_trends_chart_and_an_empty_week_says_so(client, signed_in, page):  # noqa: F811
    assert "No run of the last 7 days counted alerts." in page()
    assert 'id="trends"' not in client.get("/jobs/cache-refresh").get_data(as_text=True)


def test_the_query_is_bounded_to_the_weeks_newest_runs(app):
    for hour in range(3):
        _run(f"2026-12-06 0{hour}:00", warning=hour + 1)
    with time_machine.travel(NOW, tick=False):
        runs = run_trends.trend_runs(MONITOR)
    assert [run["warning"] for run in runs] == [1, 2, 3]  # oldest first
    assert run_trends.MAX_RUNS == 24 * 7 * 4
