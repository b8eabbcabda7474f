"""Letters as email: ``multipart/alternative`` with a text part and an HTML part, written by hand.

The standard library's ``email`` package builds the same message in about 2.6 ms (measured
on this project's 2-core machine for a Dari letter: ``EmailMessage`` with ``set_content`` and
``add_alternative``, then ``as_bytes``), which caps two delivery workers near 770 messages a
second; this writer takes a few tens of microseconds. What it writes is checked by
``tests/test_mime.py``, which parses every kind of letter it writes with ``email`` and checks
each header and both parts.
"""

from __future__ import annotations

import base64
import html
import uuid
from email.header import Header
from email.utils import formatdate, make_msgid

from portal.domain.letters import RTL_LANGUAGES


def header_value(value: str) -> str:
    """One header value: never a line break (no header injection), RFC 2047 words when not ASCII."""
    value = " ".join(value.splitlines())
    return value if value.isascii() else Header(value, "utf-8").encode()


def letter_html(subject: str, body: str, language: str) -> str:
    """The HTML part: the body's paragraphs, escaped, with ``lang`` and (Dari, Pashto) ``dir="rtl"``."""
    direction = ' dir="rtl"' if language in RTL_LANGUAGES else ""
    paragraphs = "".join(
        "<p>" + "<br>".join(html.escape(line) for line in paragraph.splitlines()) + "</p>"
        for paragraph in body.split("\n\n")
        if paragraph.strip()
    )
    return (
        f'<!DOCTYPE html><html lang="{language}"{direction}><head><meta charset="utf-8">'
        f"<title>{html.escape(subject)}</title></head><body{direction}>{paragraphs}</body></html>"
    )


def _base64_part(content_type: str, text: str) -> str:
    encoded = base64.encodebytes(text.encode("utf-8")).decode("ascii").replace("\n", "\r\n")
    return f'Content-Type: {content_type}; charset="utf-8"\r\nContent-Transfer-Encoding: base64\r\n\r\n{encoded}'


def letter_body(subject: str, body: str, language: str) -> bytes:
    """The recipient-independent part of a letter: its Subject, MIME headers and both parts.

    Built once per letter; ``letter_message`` adds the per-recipient headers in front.
    """
    boundary = f"=_letter_{uuid.uuid4().hex}"
    text = "\n".join(body.splitlines()) + "\n"
    parts = (
        f"Subject: {header_value(subject)}\r\n"
        f"Content-Language: {language}\r\n"
        "MIME-Version: 1.0\r\n"
        f'Content-Type: multipart/alternative; boundary="{boundary}"\r\n'
        "\r\n"
        f"--{boundary}\r\n{_base64_part('text/plain', text)}"
        f"--{boundary}\r\n{_base64_part('text/html', letter_html(subject, body, language))}"
        f"--{boundary}--\r\n"
    )
    return parts.encode("ascii")


def letter_message(mail_from: str, recipient: str, body: bytes) -> bytes:
    """A complete message for ``recipient``: From, To, Date and Message-ID before ``body``
    (from ``letter_body``)."""
    domain = mail_from.rpartition("@")[2] or None
    return (
        f"From: {header_value(mail_from)}\r\n"
        f"To: {header_value(recipient)}\r\n"
        f"Date: {formatdate(usegmt=True)}\r\n"
        f"Message-ID: {make_msgid(domain=domain)}\r\n"
    ).encode("ascii") + body
