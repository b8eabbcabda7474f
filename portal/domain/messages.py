"""The words of each notification: subject and body per alert kind, in English with the Dari terms."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from portal.domain.rates import format_percent

KIND_TITLES = {
    "warning": "Attendance warning (ikhtar, اخطار)",
    "mahroom": "Barred from the final exam (mahroom, محروم)",
    "tasdiq": "Certification required (tasdiq, تصدیق)",
}


@dataclass(frozen=True)
class AlertFacts:
    """What a message says: who, which course, the rate against its threshold, and the hours."""

    kind: str
    student_name: str
    student_number: str
    course_code: str
    course_title: str
    rate: Decimal
    threshold: Decimal
    held: Decimal
    absent: Decimal
    excused: Decimal


def _hours(value: Decimal) -> str:
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return f"{text} hour" + ("" if value == 1 else "s")


def compose(facts: AlertFacts) -> tuple[str, str]:
    """Return ``(subject, body)`` for an alert: the course, the rate, the threshold, what to do."""
    course = f"{facts.course_code} {facts.course_title}"
    rate, threshold = format_percent(facts.rate), format_percent(facts.threshold)
    subject = f"{KIND_TITLES[facts.kind]}: {course}"
    greeting = f"Dear {facts.student_name} ({facts.student_number}),"
    record = (
        f"Of {_hours(facts.held)} held so far you were absent for {_hours(facts.absent)}"
        + (f" and on sick or leave for {_hours(facts.excused)}" if facts.excused else "")
        + "."
    )
    if facts.kind == "warning":
        lines = [
            f"Your attendance rate in {course} is {rate}%, below the required {threshold}%.",
            record,
            "This is a warning (ikhtar): attend every remaining session. If your attendance rate "
            "falls to the mahroom limit you will be barred from the final exam (mahroom, محروم).",
        ]
    elif facts.kind == "mahroom":
        lines = [
            f"Your attendance rate in {course} is {rate}%, at or below the limit of {threshold}%.",
            record,
            "You are mahroom (محروم): barred from the final exam of this course. "
            "Contact the academic office at once if you believe your record is wrong.",
        ]
    else:
        lines = [
            f"Your presence rate in {course} is {rate}%, below {threshold}%, "
            f"and {_hours(facts.excused)} of your absences are sick or leave hours.",
            record,
            "Tasdiq (تصدیق) is required: bring a certification (medical certificate or approved "
            "leave) for your sick/leave hours to the academic office.",
        ]
    return subject, "\n\n".join([greeting, *lines, "Academic Office"])
