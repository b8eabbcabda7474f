"""What writing one letter as email costs: the standard library's ``email`` package against
``portal.notifications.mime`` (the writer the deliveries use), for a Dari letter with its
HTML part. Prints microseconds per message (best of 3 x 2,000); see docs/performance.md.

    .venv/bin/python bench/mime.py
"""

from __future__ import annotations

import sys
import timeit
from email.message import EmailMessage
from email.policy import SMTP
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from portal.notifications.mime import letter_body, letter_html, letter_message  # noqa: E402

SUBJECT = "هشدار حاضری: CS101 برنامه‌نویسی"
BODY = (
    "محمد عزیز (S000003)،\n\n"
    + "میزان حاضری شما در مضمون CS101 برنامه‌نویسی ۷۲٫۵٪ است که از حد لازم ۸۰٪ کمتر می‌باشد.\n\n" * 3
    + "دفتر امور تدریسی"
)


def with_email_package() -> bytes:
    message = EmailMessage(policy=SMTP)
    message["From"] = "office@uni.example"
    message["To"] = "s3@uni.example"
    message["Subject"] = SUBJECT
    message.set_content(BODY)
    message.add_alternative(letter_html(SUBJECT, BODY, "fa"), subtype="html")
    return message.as_bytes()


def with_mime_module() -> bytes:
    return letter_message("office@uni.example", "s3@uni.example", letter_body(SUBJECT, BODY, "fa"))


def main() -> None:
    for name, write in (("email package (EmailMessage, as_bytes)", with_email_package), ("mime.py", with_mime_module)):
        seconds = min(timeit.repeat(write, number=2000, repeat=3)) / 2000
        print(f"{name}: {seconds * 1e6:,.0f} us per message")


if __name__ == "__main__":
    main()
