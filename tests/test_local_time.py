"""Times on the pages in UNIVERSITY_TIMEZONE (the UTC time in each element's title), the
footer naming the zone, and the crons in local words; the API keeps ISO 8601 UTC."""

from __future__ import annotations

from datetime import datetime

import pytest

from portal.domain.cron_words import cron_words
from portal.extensions import db
from portal.models import JobRun
from portal.periodic.registry import PERIODIC_JOBS
from tests.adminkit import pending_delivery
from tests.test_pages import signed_in  # noqa: F401  (the fixture)

INSTANT = datetime(2026, 3, 1, 2, 0)  # 2026-03-01 02:00 UTC = 06:30 in Kabul
KABUL_TIME = '<time datetime="2026-03-01T02:00:00Z" title="2026-03-01 02:00:00 UTC">2026-03-01 06:30</time>'
REFERENCE = datetime(2026, 3, 1)


def test_a_job_run_queued_at_a_known_utc_instant_shows_in_kabul_time_on_the_job_page(client, signed_in):  # noqa: F811
    signed_in("admin")
    db.session.add(JobRun(job_name="cache-refresh", trigger="manual", status="success", queued_at=INSTANT))
    db.session.commit()
    page = client.get("/jobs/cache-refresh").get_data(as_text=True)
    assert f'<td data-label="Queued" class="run-queued">{KABUL_TIME}</td>' in page
    assert "<footer>Times are Kabul time (UTC+04:30).</footer>" in page


def test_a_notification_time_shows_in_kabul_time_and_the_api_keeps_utc(client, signed_in):  # noqa: F811
    signed_in("admin")
    delivery = pending_delivery("S1")
    delivery.notification.created_at = INSTANT
    delivery.next_attempt_at = INSTANT
    db.session.commit()
    page = client.get("/notifications").get_data(as_text=True)
    assert f'<td data-label="When" class="notification-time">{KABUL_TIME}</td>' in page
    retry = client.get("/retry-queue/").get_data(as_text=True)
    assert KABUL_TIME in retry
    api = client.get("/api/admin/background-jobs").get_json()["data"]["jobs"]
    assert all(job["nextRun"] is None or job["nextRun"].endswith("Z") for job in api)


@pytest.mark.parametrize("app_config", [{"UNIVERSITY_TIMEZONE": "Europe/Berlin"}])
def test_the_footer_and_the_times_follow_another_university_timezone(client, signed_in):  # noqa: F811
    signed_in("admin")
    db.session.add(JobRun(job_name="cache-refresh", trigger="manual", status="success", queued_at=INSTANT))
    db.session.commit()
    page = client.get("/jobs/cache-refresh").get_data(as_text=True)
    assert ">2026-03-01 03:00</time>" in page  # CET, UTC+1 on that day
    assert "Times are Berlin time (UTC+0" in page


def test_the_dashboard_says_the_seeds_crons_in_kabul_words(client, signed_in):  # noqa: F811
    signed_in("viewer")
    page = client.get("/").get_data(as_text=True)
    assert "Every day at 06:30 Kabul time (02:00 UTC)" in page
    assert "Every hour at minute 30 Kabul time (minute 0 UTC)" in page
    assert "Every 15 minutes" in page


# The words themselves: a pure function, so the seed's schedules and the edge cases are plain calls.


@pytest.mark.parametrize(
    ("cron", "words"),
    [
        ("0 * * * *", "Every hour at minute 30 Kabul time (minute 0 UTC)"),
        ("*/15 * * * *", "Every 15 minutes"),
        ("*/5 * * * *", "Every 5 minutes"),
        ("*/10 * * * *", "Every 10 minutes"),
        ("0 2 * * *", "Every day at 06:30 Kabul time (02:00 UTC)"),
    ],
)
def test_the_seeds_schedules_in_kabul_words(cron, words):
    assert cron_words(cron, "Asia/Kabul", "Kabul", reference=REFERENCE) == words


def test_every_registered_schedule_has_local_words():
    for job in PERIODIC_JOBS:
        assert cron_words(job.cron, "Asia/Kabul", "Kabul", reference=REFERENCE), job.name


def test_a_time_late_in_the_utc_day_reads_as_the_next_kabul_day():
    assert cron_words("0 22 * * *", "Asia/Kabul", "Kabul", reference=REFERENCE) == (
        "Every day at 02:30 Kabul time (22:00 UTC)"
    )
    assert cron_words("0 22 * * 1", "Asia/Kabul", "Kabul", reference=REFERENCE) == (
        "Every Tuesday at 02:30 Kabul time (Monday 22:00 UTC)"
    )
    assert cron_words("30 6 * * 5,0", "Asia/Kabul", "Kabul", reference=REFERENCE) == (
        "Every Sunday, Friday at 11:00 Kabul time (Sunday, Friday 06:30 UTC)"
    )


def test_a_zone_west_of_utc_moves_the_day_back():
    assert cron_words("0 2 * * 1", "America/New_York", "New York", reference=REFERENCE) == (
        "Every Sunday at 21:00 New York time (Monday 02:00 UTC)"
    )


def test_a_whole_hour_zone_keeps_the_minute_and_utc_needs_no_brackets():
    assert cron_words("0 * * * *", "Europe/Berlin", "Berlin", reference=REFERENCE) == "Every hour at minute 0"
    assert cron_words("0 2 * * *", "UTC", "UTC", reference=REFERENCE) == "Every day at 02:00 UTC"
    assert cron_words("0 2,14 * * *", "Asia/Kabul", "Kabul", reference=REFERENCE) == (
        "Every day at 06:30, 18:30 Kabul time (02:00, 14:00 UTC)"
    )


def test_daylight_saving_is_the_offset_in_force_at_the_reference():
    summer = datetime(2026, 7, 1)
    assert cron_words("0 2 * * *", "Europe/Berlin", "Berlin", reference=summer) == (
        "Every day at 04:00 Berlin time (02:00 UTC)"
    )


@pytest.mark.parametrize("cron", ["0 2 1 * *", "0 */2 * * *", "30 2 * * 1-5", "0 9-17 * * *", "bad", "0 22 * * *x"])
def test_shapes_it_cannot_say_exactly_fall_back_to_the_caller(cron):
    assert cron_words(cron, "Asia/Kabul", "Kabul", reference=REFERENCE) is None


def test_a_cron_whose_times_land_on_different_local_days_falls_back():
    assert cron_words("0 2,22 * * 1", "Asia/Kabul", "Kabul", reference=REFERENCE) is None


def test_the_words_come_through_the_callers_gettext():
    dari = {"Every day at %(local)s %(city)s time (%(utc)s UTC)": "هر روز ساعت %(local)s به وقت %(city)s (%(utc)s UTC)"}

    def gettext(text, **values):
        return dari.get(text, text) % values

    assert cron_words("0 2 * * *", "Asia/Kabul", "کابل", reference=REFERENCE, gettext=gettext) == (
        "هر روز ساعت 06:30 به وقت کابل (02:00 UTC)"
    )
