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
            "{threshold}%. Of {held_hours} hours held so far you were absent for {absent_hours} hours.\n\n"
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
            "{absent_hours} hours.\n\n"
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

    return {
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


def render(text: LetterText, values: dict[str, str], language: str) -> LetterText:
    """Fill a letter's placeholders; in Dari and Pashto the percent sign is ``٪``."""
    subject, body = text.subject.format_map(values), text.body.format_map(values)
    if language in RTL_LANGUAGES:
        subject, body = subject.replace("%", "٪"), body.replace("%", "٪")
    return LetterText(subject, body)
