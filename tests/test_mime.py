"""Every letter the hand-written MIME writer produces parses with the standard ``email``
package into exactly the headers and the two parts it should have."""

from __future__ import annotations

from decimal import Decimal as D
from email import message_from_bytes
from email.policy import default

import pytest

from portal.domain.letters import KINDS, LANGUAGES, RECIPIENTS, default_text, letter_values, render
from portal.domain.messages import AlertFacts
from portal.notifications.letters import catalogs
from portal.notifications.mime import letter_body, letter_message


def _facts(kind: str) -> AlertFacts:
    return AlertFacts(
        kind, "Ahmad <Haidari> & Sons", "S000003", "CS101", "Programming", D("66.66"), D("75"), D("6"), D("2"), D("1")
    )


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("recipient", RECIPIENTS)
@pytest.mark.parametrize("language", LANGUAGES)
def test_each_letter_parses_into_its_headers_and_a_text_and_an_html_part(kind, recipient, language):
    letter = render(
        default_text(kind, recipient, language, catalogs()), letter_values(_facts(kind), language), language
    )

    raw = letter_message(
        "Academic Office <office@uni.example>",
        "family@home.example",
        letter_body(letter.subject, letter.body, language),
    )
    message = message_from_bytes(raw, policy=default)

    assert message["From"] == "Academic Office <office@uni.example>"
    assert message["To"] == "family@home.example"
    assert message["Subject"] == letter.subject
    assert message["Content-Language"] == language
    assert message["Message-ID"].endswith("@uni.example>") and message["Date"]
    assert message.get_content_type() == "multipart/alternative"
    text, page = message.get_payload()
    assert text.get_content_type() == "text/plain" and text.get_content() == letter.body + "\n"
    assert page.get_content_type() == "text/html"
    html = page.get_content()
    rtl = ' dir="rtl"' if language in ("fa", "ps") else ""
    assert html.startswith(f'<!DOCTYPE html><html lang="{language}"{rtl}>')
    assert "Ahmad &lt;Haidari&gt; &amp; Sons" in html and "<Haidari>" not in html
    assert html.count("<p>") == letter.body.count("\n\n") + 1


def test_a_line_break_in_a_header_value_cannot_add_a_header():
    raw = letter_message(
        "office@uni.example", "a@b.example\r\nBcc: evil@x.example", letter_body("Hi\r\nBcc: x@y", "Body", "en")
    )
    message = message_from_bytes(raw, policy=default)
    assert b"\r\nBcc:" not in raw and message["Bcc"] is None
    assert message["Subject"] == "Hi Bcc: x@y"
