"""The letters students and guardians receive: texts per kind, recipient and language.

The default texts are whole sentences written in English here and translated in gettext
catalogs (``portal/translations/<lang>/LC_MESSAGES/letters.po``), one message per
(kind, recipient, part) with the context ``"<kind> <recipient> <part>"``. A text holds
placeholders such as ``{student_name}`` and ``{rate}``; numbers fill them formatted for the
letter's language: Dari and Pashto with Extended Arabic-Indic digits (۰-۹), the Arabic
decimal separator ``٫`` and the percent sign ``٪`` of the Afghan locales (CLDR ``fa_AF`` and
``ps_AF``, numbering system ``arabext``); English with Latin digits.

Plain Python: the catalogs arrive as ``gettext``-style objects (``pgettext``) from the caller.
"""

from __future__ import annotations

import functools
import string
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from babel.numbers import format_decimal

from portal.domain.messages import AlertFacts
from portal.domain.rates import format_percent
from portal.domain.records import LETTER_LANGUAGES

LANGUAGES = tuple(LETTER_LANGUAGES)  # fa, ps, en
RTL_LANGUAGES = frozenset({"fa", "ps"})
LOCALES = {"fa": "fa_AF", "ps": "ps_AF", "en": "en"}
RECIPIENTS = ("student", "guardian")
KINDS = ("warning", "mahroom", "tasdiq")
PLACEHOLDERS = (
    "student_name",
    "student_number",
    "course_code",
    "course_title",
    "rate",
    "threshold",
    "held_hours",
    "absent_hours",
    "excused_hours",
    # The term's forecast (empty when the course has no planned hours for the term): see
    # portal.domain.forecast. ``{forecast}`` is a whole sentence, chosen by the letter's
    # recipient and whether mahroom is still avoidable, or nothing.
    "planned_hours",
    "warning_absent_limit",
    "mahroom_absent_limit",
    "hours_left_before_mahroom",
    "forecast",
)
_ARABEXT_DIGITS = str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹")


class Catalog(Protocol):
    """What a letter needs of a gettext catalog (``babel.support.Translations`` has it)."""

    def pgettext(self, context: str, message: str) -> str: ...


@dataclass(frozen=True)
class LetterText:
    """A subject and a body with placeholders, in one language."""

    subject: str
    body: str


def _p(context: str, message: str) -> tuple[str, str]:
    """Marks a default text for ``pybabel extract -k _p:1c,2`` (context, message)."""
    return context, message


DEFAULTS: dict[tuple[str, str], tuple[tuple[str, str], tuple[str, str]]] = {
    ("warning", "student"): (
        _p("warning student subject", "Attendance warning: {course_code} {course_title}"),
        _p(
            "warning student body",
            "Dear {student_name} ({student_number}),\n\n"
            "Your attendance rate in {course_code} {course_title} is {rate}%, below the required "
            "{threshold}%. Of {held_hours} hours held so far you were absent for {absent_hours} hours."
            "{forecast}\n\n"
            "Please attend every remaining session. If your attendance rate falls to the mahroom "
            "limit, you will be barred from the final exam of this course.\n\nAcademic Office",
        ),
    ),
    ("mahroom", "student"): (
        _p("mahroom student subject", "Barred from the final exam: {course_code} {course_title}"),
        _p(
            "mahroom student body",
            "Dear {student_name} ({student_number}),\n\n"
            "Your attendance rate in {course_code} {course_title} is {rate}%, at or below the limit "
            "of {threshold}%. Of {held_hours} hours held so far you were absent for {absent_hours} hours.\n\n"
            "You are mahroom: barred from the final exam of this course. Contact the academic "
            "office at once if you believe your attendance record is wrong.\n\nAcademic Office",
        ),
    ),
    ("tasdiq", "student"): (
        _p("tasdiq student subject", "Certification required: {course_code} {course_title}"),
        _p(
            "tasdiq student body",
            "Dear {student_name} ({student_number}),\n\n"
            "Your presence rate in {course_code} {course_title} is {rate}%, below {threshold}%, and "
            "{excused_hours} hours of your absences are sick or leave hours. Of {held_hours} hours "
            "held so far you were absent for {absent_hours} hours.\n\n"
            "Please bring a certification (a medical certificate or an approved leave) for your "
            "sick and leave hours to the academic office.\n\nAcademic Office",
        ),
    ),
    ("warning", "guardian"): (
        _p("warning guardian subject", "Attendance warning for your child: {course_code} {course_title}"),
        _p(
            "warning guardian body",
            "Dear parent or guardian of {student_name} ({student_number}),\n\n"
            "{student_name}'s attendance rate in {course_code} {course_title} is {rate}%, below the "
            "required {threshold}%. Of {held_hours} hours held so far, {student_name} was absent for "
            "{absent_hours} hours.{forecast}\n\n"
            "If the rate falls to the mahroom limit, {student_name} will be barred from the final "
            "exam of this course. Please encourage {student_name} to attend every remaining session.\n\nAcademic Office",
        ),
    ),
    ("mahroom", "guardian"): (
        _p("mahroom guardian subject", "Your child is barred from a final exam: {course_code} {course_title}"),
        _p(
            "mahroom guardian body",
            "Dear parent or guardian of {student_name} ({student_number}),\n\n"
            "{student_name}'s attendance rate in {course_code} {course_title} is {rate}%, at or below "
            "the limit of {threshold}%. Of {held_hours} hours held so far, {student_name} was absent "
            "for {absent_hours} hours.\n\n"
            "{student_name} is therefore barred (mahroom) from the final exam of this course. Please "
            "talk with {student_name} about regular attendance, and contact the academic office if you "
            "believe the record is wrong or the absences had a reason.\n\nAcademic Office",
        ),
    ),
    ("tasdiq", "guardian"): (
        _p("tasdiq guardian subject", "Certification needed for your child: {course_code} {course_title}"),
        _p(
            "tasdiq guardian body",
            "Dear parent or guardian of {student_name} ({student_number}),\n\n"
            "{student_name}'s presence rate in {course_code} {course_title} is {rate}%, below "
            "{threshold}%, and {excused_hours} hours of the absences are sick or leave hours.\n\n"
            "Please help {student_name} bring a certification (a medical certificate or an approved "
            "leave) for these hours to the academic office.\n\nAcademic Office",
        ),
    ),
}


# The forecast's sentence, by (recipient, state): "open" while mahroom can still be avoided,
# "certain" once the absences alone bar the student at the end of the term.
FORECAST_SENTENCES: dict[tuple[str, str], tuple[str, str]] = {
    ("student", "open"): _p(
        "forecast student open",
        "This term's sessions of the course will hold {planned_hours} hours: if you are absent for "
        "{hours_left_before_mahroom} more hours, you will be barred from the final exam.",
    ),
    ("student", "certain"): _p(
        "forecast student certain",
        "This term's sessions of the course will hold {planned_hours} hours, and your absences have "
        "already reached the mahroom limit of {mahroom_absent_limit} hours: you will be barred from the final exam.",
    ),
    ("guardian", "open"): _p(
        "forecast guardian open",
        "This term's sessions of the course will hold {planned_hours} hours: if {student_name} is "
        "absent for {hours_left_before_mahroom} more hours, {student_name} will be barred from the final exam.",
    ),
    ("guardian", "certain"): _p(
        "forecast guardian certain",
        "This term's sessions of the course will hold {planned_hours} hours, and {student_name}'s "
        "absences have already reached the mahroom limit of {mahroom_absent_limit} hours: "
        "{student_name} will be barred from the final exam.",
    ),
}


def forecast_sentence(recipient: str, state: str, language: str, catalogs: dict[str, Catalog]) -> str:
    """The forecast sentence (with placeholders) for ``recipient`` in ``state``, translated."""
    context, message = FORECAST_SENTENCES[(recipient, state)]
    catalog = catalogs.get(language)
    return catalog.pgettext(context, message) if catalog is not None else message


def default_text(kind: str, recipient: str, language: str, catalogs: dict[str, Catalog]) -> LetterText:
    """Return the shipped text of a (kind, recipient) letter in ``language`` (its catalog's
    translation; the English source when the catalog lacks one)."""
    (subject_ctx, subject), (body_ctx, body) = DEFAULTS[(kind, recipient)]
    catalog = catalogs.get(language)
    if catalog is None:
        return LetterText(subject, body)
    return LetterText(catalog.pgettext(subject_ctx, subject), catalog.pgettext(body_ctx, body))


def template_problems(text: str) -> list[str]:
    """Return what is wrong with a template text (unknown placeholders, broken braces); [] if fine."""
    try:
        fields = list(string.Formatter().parse(text))
    except ValueError as exc:
        return [f"broken brace: {exc} (write {{{{ and }}}} for a literal brace)"]
    problems = []
    for _, name, spec, conversion in fields:
        if name is None:
            continue
        if name not in PLACEHOLDERS:
            known = ", ".join("{" + p + "}" for p in PLACEHOLDERS)
            problems.append(f"unknown placeholder {'{' + name + '}'}; known: {known}")
        elif spec or conversion:
            problems.append(f"placeholder {{{name}}} takes no format or conversion")
    return problems


@functools.lru_cache(maxsize=4096)  # hours and rates repeat across a scan's letters
def format_number(value: Decimal, language: str, *, places: str = "#,##0.##") -> str:
    """``value`` as the letter's language writes it (Dari and Pashto: ۰-۹ digits, ``٫`` separator)."""
    if language not in RTL_LANGUAGES:
        return format_decimal(value, format=places, locale=LOCALES[language], numbering_system="latn")
    # Babel gives arabext's separators (٫ ٬) but leaves the digits Latin: map them here.
    text = format_decimal(value, format=places, locale=LOCALES[language], numbering_system="arabext")
    return text.translate(_ARABEXT_DIGITS)


def letter_values(facts: AlertFacts, language: str) -> dict[str, str]:
    """The placeholder values of one alert's letter, formatted for ``language``; course titles
    and names as recorded. A percentage keeps the places ``format_percent`` gives it."""

    def percent(value: Decimal) -> str:
        shown = format_percent(value)
        places = "#,##0." + "0" * len(shown.split(".")[1]) if "." in shown else "#,##0"
        return format_number(Decimal(shown), language, places=places)

    outlook = facts.forecast
    if outlook is None:
        forecast_values = dict.fromkeys(
            ("planned_hours", "warning_absent_limit", "mahroom_absent_limit", "hours_left_before_mahroom"), ""
        )
        forecast_values["forecast_state"] = ""
    else:
        exact = "#,##0.######"  # limits are exact: never rounded towards the safe side
        forecast_values = {
            "planned_hours": format_number(outlook.planned, language),
            "warning_absent_limit": format_number(outlook.warning_limit, language, places=exact),
            "mahroom_absent_limit": format_number(outlook.mahroom_limit, language, places=exact),
            "hours_left_before_mahroom": format_number(
                max(outlook.hours_left_before_mahroom, Decimal(0)), language, places=exact
            ),
            "forecast_state": "certain" if outlook.mahroom_certain else "open",
        }
    return {
        **forecast_values,
        "student_name": facts.student_name,
        "student_number": facts.student_number,
        "course_code": facts.course_code,
        "course_title": facts.course_title,
        "rate": percent(facts.rate),
        "threshold": percent(facts.threshold),
        "held_hours": format_number(facts.held, language),
        "absent_hours": format_number(facts.absent, language),
        "excused_hours": format_number(facts.excused, language),
    }


def with_forecast(
    values: dict[str, str], recipient: str, language: str, catalogs: dict[str, Catalog]
) -> dict[str, str]:
    """``values`` with ``{forecast}`` filled for ``recipient``: a leading space and the sentence
    for the forecast's state, or nothing without planned hours."""
    state = values.get("forecast_state", "")
    if not state:
        return {**values, "forecast": ""}
    sentence = forecast_sentence(recipient, state, language, catalogs).format_map(values)
    return {**values, "forecast": " " + sentence}


def render(text: LetterText, values: dict[str, str], language: str) -> LetterText:
    """Fill a letter's placeholders; in Dari and Pashto the percent sign is ``٪``."""
    values = values if "forecast" in values else {**values, "forecast": ""}
    subject, body = text.subject.format_map(values), text.body.format_map(values)
    if language in RTL_LANGUAGES:
        subject, body = subject.replace("%", "٪"), body.replace("%", "٪")
    return LetterText(subject, body)
