"""The letters' texts: whole translations in Dari and Pashto, numbers in the reader's digits,
guardians addressed as guardians, and template text checked before anyone can save it."""

from __future__ import annotations

import re
import string
from decimal import Decimal as D

import pytest
from babel.messages.pofile import read_po

from portal.domain.letters import (
    DEFAULTS,
    FORECAST_SENTENCES,
    KINDS,
    LANGUAGES,
    PLACEHOLDERS,
    RECIPIENTS,
    default_text,
    letter_values,
    render,
    template_problems,
)
from portal.domain.messages import AlertFacts
from portal.notifications.letters import TRANSLATIONS, catalogs

FATIMA = AlertFacts(
    "mahroom", "Fatima Ahmadi", "S000002", "MATH110", "Calculus", D("75.00"), D("75"), D("8"), D("2"), D("0")
)
ZAHRA = AlertFacts(
    "tasdiq", "Zahra Noori", "S000003", "PHYS120", "Physics", D("70.00"), D("85"), D("20"), D("0"), D("6")
)


def _fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}


@pytest.mark.parametrize("language", ["fa", "ps"])
def test_every_default_text_is_translated_with_the_same_placeholders(language):
    with open(TRANSLATIONS / language / "LC_MESSAGES" / "letters.po", "rb") as po:
        catalog = read_po(po)
    messages = {m.context: m for m in catalog if m.id}
    assert set(messages) == {ctx for pair in DEFAULTS.values() for ctx, _ in pair} | {
        ctx for ctx, _ in FORECAST_SENTENCES.values()
    }
    for message in messages.values():
        assert message.string, message.context
        assert _fields(message.string) == _fields(message.id), message.context
        assert not re.search("[A-Za-z]", re.sub(r"\{[a-z_]+\}", "", message.string)), message.context  # no English left


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("recipient", RECIPIENTS)
@pytest.mark.parametrize("language", LANGUAGES)
def test_every_letter_renders_with_no_placeholder_left(kind, recipient, language):
    text = default_text(kind, recipient, language, catalogs())
    letter = render(text, letter_values(FATIMA, language), language)
    assert "{" not in letter.subject + letter.body and "}" not in letter.body
    assert "Fatima Ahmadi" in letter.body and "MATH110 Calculus" in letter.subject


def test_a_dari_mahroom_letter_is_dari_with_persian_digits():
    letter = render(default_text("mahroom", "student", "fa", catalogs()), letter_values(FATIMA, "fa"), "fa")
    assert letter.subject == "محرومیت از امتحان نهایی: MATH110 Calculus"
    assert "میزان حاضری شما در مضمون MATH110 Calculus ۷۵٫۰۰٪ است که به حد محرومیت ۷۵٫۰۰٪ رسیده" in letter.body
    assert "از ۸ ساعت درسی" in letter.body and "شما ۲ ساعت غیرحاضر" in letter.body
    assert letter.body.endswith("دفتر امور تدریسی")


def test_a_pashto_tasdiq_letter_is_pashto_with_persian_digits():
    letter = render(default_text("tasdiq", "student", "ps", catalogs()), letter_values(ZAHRA, "ps"), "ps")
    assert letter.subject == "تصدیق ته اړتیا: PHYS120 Physics"
    assert "د حضور کچه ۷۰٫۰۰٪ ده، چې له ۸۵٫۰۰٪ څخه ټیټه ده" in letter.body
    assert "د غیرحاضرۍ ۶ ساعته د ناروغۍ یا رخصتۍ له امله دي" in letter.body


def test_an_english_letter_keeps_latin_digits():
    letter = render(default_text("tasdiq", "student", "en", catalogs()), letter_values(ZAHRA, "en"), "en")
    assert "Your presence rate in PHYS120 Physics is 70.00%, below 85.00%, and 6 hours" in letter.body


@pytest.mark.parametrize(
    "language, greeting",
    [
        ("en", "Dear parent or guardian of Fatima Ahmadi (S000002),"),
        ("fa", "ولی محترم Fatima Ahmadi (S000002)،"),
        ("ps", "د Fatima Ahmadi (S000002) درنه سرپرسته،"),
    ],
)
def test_a_guardian_letter_addresses_the_guardian_and_names_the_student(language, greeting):
    letter = render(
        default_text("mahroom", "guardian", language, catalogs()), letter_values(FATIMA, language), language
    )
    student = render(
        default_text("mahroom", "student", language, catalogs()), letter_values(FATIMA, language), language
    )
    assert letter.body.startswith(greeting)
    assert letter.body != student.body and letter.subject != student.subject


def test_a_threshold_with_three_places_keeps_them_in_every_language():
    facts = AlertFacts("warning", "Ali", "S1", "CS101", "Programming", D("79.99"), D("79.995"), D("10"), D("2"), D("0"))
    assert letter_values(facts, "en")["threshold"] == "79.995"
    assert letter_values(facts, "fa")["threshold"] == "۷۹٫۹۹۵"


@pytest.mark.parametrize(
    "text, problem",
    [
        ("Dear {student}", "unknown placeholder {student}"),
        ("Rate {rate:.1f}", "placeholder {rate} takes no format"),
        ("Broken {rate", "broken brace"),
        ("Broken rate}", "broken brace"),
        ("Positional {}", "unknown placeholder {}"),
    ],
)
def test_a_template_with_a_bad_placeholder_or_brace_is_refused_naming_it(text, problem):
    problems = template_problems(text)
    assert problems and problem in problems[0]


def test_every_known_placeholder_and_literal_braces_are_accepted():
    assert template_problems(" ".join("{" + p + "}" for p in PLACEHOLDERS) + " {{literal}}") == []
