"""The office's letter templates: list, preview, save a new version, revert, history.

Every save adds a version (``LetterTemplate``); nothing is overwritten, so any version can be
brought back, and a revert is itself a version (a revert to the shipped default stores no
text: the letter follows the catalog again). A save is refused whole, with every problem named
(``LetterRefused``), when a placeholder is unknown, a brace is broken, or a part is empty or
too long; a refused save writes nothing, not even an audit entry of a change.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from flask import current_app
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from portal import audit
from portal.domain.forecast import forecast
from portal.domain.letters import (
    KINDS,
    LANGUAGES,
    RECIPIENTS,
    LetterText,
    default_text,
    letter_values,
    render,
    template_problems,
    with_forecast,
)
from portal.domain.messages import AlertFacts
from portal.domain.rules import Thresholds
from portal.extensions import db
from portal.models import Alert, Course, LetterTemplate, Offering, Student
from portal.notifications.letters import LetterBook, catalogs, saved_text

SUBJECT_MAX = 300
BODY_MAX = 20000
# The preview's alert when none of the kind exists yet.
SAMPLE_FACTS = {
    "warning": ("72.50", "80.00", "40", "11", "0"),
    "mahroom": ("70.00", "75.00", "40", "12", "0"),
    "tasdiq": ("77.50", "80.00", "40", "9", "6"),
}


class LetterRefused(ValueError):
    """A template save was refused; ``problems`` names each reason."""

    def __init__(self, problems: list[str]):
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class LetterRow:
    """One (kind, recipient, language) letter as the templates page lists it."""

    kind: str
    recipient: str
    language: str
    version: int  # 0: the shipped default
    text: LetterText
    edited: bool  # the office's own text (not the shipped default)
    saved_at: datetime | None
    saved_by: str | None


def check_key(kind: str, language: str, recipient: str) -> None:
    """Raise LookupError naming what is unknown in a (kind, language, recipient)."""
    wrong = [
        f"{name} {value!r} is not one of {', '.join(known)}"
        for name, value, known in (
            ("kind", kind, KINDS),
            ("language", language, LANGUAGES),
            ("recipient", recipient, RECIPIENTS),
        )
        if value not in known
    ]
    if wrong:
        raise LookupError("; ".join(wrong))


def letters() -> list[LetterRow]:
    """Every letter, kind by kind, student before guardian, in LANGUAGES order."""
    latest = {}
    for t in db.session.execute(select(LetterTemplate).order_by(LetterTemplate.version)).scalars():
        latest[(t.kind, t.recipient, t.language)] = t
    book = LetterBook({key: (t.version, saved_text(t)) for key, t in latest.items()})
    rows = []
    for kind in KINDS:
        for recipient in RECIPIENTS:
            for language in LANGUAGES:
                t = latest.get((kind, recipient, language))
                version, text = book.text(kind, recipient, language)
                edited = t is not None and saved_text(t) is not None
                rows.append(
                    LetterRow(kind, recipient, language, version, text, edited, t and t.created_at, t and t.created_by)
                )
    db.session.rollback()
    return rows


def letter(kind: str, language: str, recipient: str) -> LetterRow:
    check_key(kind, language, recipient)
    return next(r for r in letters() if (r.kind, r.language, r.recipient) == (kind, language, recipient))


def history(kind: str, language: str, recipient: str) -> list[LetterTemplate]:
    """Every saved version of one letter, newest first."""
    check_key(kind, language, recipient)
    return list(
        db.session.execute(
            select(LetterTemplate)
            .where(
                LetterTemplate.kind == kind, LetterTemplate.language == language, LetterTemplate.recipient == recipient
            )
            .order_by(LetterTemplate.version.desc())
        ).scalars()
    )


def problems(subject: str, body: str) -> list[str]:
    """What is wrong with a subject and body, each problem naming its part; [] when fine."""
    found = []
    for part, text, limit in (("subject", subject, SUBJECT_MAX), ("body", body, BODY_MAX)):
        if not text.strip():
            found.append(f"the {part} is empty")
        elif len(text) > limit:
            found.append(f"the {part} is {len(text):,} characters long; at most {limit:,}")
        found.extend(f"{part}: {p}" for p in template_problems(text))
    if "\n" in subject or "\r" in subject:
        found.append("the subject must be one line")
    return found


def preview_facts(kind: str, language: str) -> tuple[AlertFacts, str]:
    """The facts of the newest alert of ``kind`` (a student of that language first), or a
    sample; and a label saying which."""
    base = (
        select(Alert, Student.name, Student.student_number, Course.code, Course.title, Offering.planned_hours)
        .join(Student, Student.id == Alert.student_id)
        .join(Course, Course.id == Alert.course_id)
        .outerjoin(Offering, (Offering.term_id == Alert.term_id) & (Offering.course_id == Alert.course_id))
        .where(Alert.kind == kind)
        .order_by(Alert.id.desc())
        .limit(1)
    )
    row = db.session.execute(base.where(Student.language == language)).first() or db.session.execute(base).first()
    if row is not None:
        a = row[0]
        facts = AlertFacts(
            kind,
            row.name,
            row.student_number,
            row.code,
            row.title,
            a.rate,
            a.threshold,
            a.held_hours,
            a.absent_hours,
            a.excused_hours,
            _forecast(row.planned_hours, a.absent_hours),
        )
        return facts, f"alert #{a.id} ({row.student_number}, {row.code})"
    rate, threshold, held, absent, excused = (Decimal(v) for v in SAMPLE_FACTS[kind])
    # The sample's course plans 64 hours (the README's worked example).
    outlook = _forecast(Decimal(64), absent)
    facts = AlertFacts(
        kind, "Ahmad Haidari", "S000003", "CS101", "Programming", rate, threshold, held, absent, excused, outlook
    )
    return facts, "a sample alert (none of this kind exists yet)"


def _forecast(planned: Decimal | None, absent: Decimal):
    thresholds = Thresholds.from_config(current_app.config)
    return forecast(planned, absent, thresholds.warning, thresholds.mahroom)


def preview(
    kind: str, language: str, recipient: str, subject: str, body: str
) -> tuple[LetterText | None, list[str], str]:
    """Render a draft for the preview: ``(letter or None when refused, problems, whose alert)``."""
    check_key(kind, language, recipient)
    found = problems(subject, body)
    facts, label = preview_facts(kind, language)
    db.session.rollback()
    if found:
        return None, found, label
    values = with_forecast(letter_values(facts, language), recipient, language, catalogs())
    return render(LetterText(subject, body), values, language), [], label


def _add_version(kind, language, recipient, subject, body, note, actor) -> LetterTemplate:
    top = db.session.scalar(
        select(func.max(LetterTemplate.version)).where(
            LetterTemplate.kind == kind, LetterTemplate.language == language, LetterTemplate.recipient == recipient
        )
    )
    row = LetterTemplate(
        kind=kind,
        language=language,
        recipient=recipient,
        version=(top or 0) + 1,
        subject=subject,
        body=body,
        note=note,
        created_by=actor,
    )
    db.session.add(row)
    db.session.flush()
    return row


def _commit_version(kind, language, recipient, subject, body, note, *, actor, source, ip, action) -> LetterTemplate:
    """Add a version and its audit entry in one transaction; a concurrent save of the same
    letter (the unique version) is refused, not merged."""
    try:
        row = _add_version(kind, language, recipient, subject, body, note, actor)
        details = {"version": row.version, **({"note": note} if note else {})}
        audit.record(actor, action, f"letter:{kind}/{language}/{recipient}", details=details, source=source, ip=ip)
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise LetterRefused(["someone else saved this letter at the same moment: reload it and try again"]) from None
    return row


def save(
    kind: str,
    language: str,
    recipient: str,
    subject: str,
    body: str,
    *,
    actor: str,
    source: str = "page",
    ip: str | None = None,
) -> LetterTemplate:
    """Save a new version of one letter; raise LetterRefused (nothing written) when it has problems."""
    check_key(kind, language, recipient)
    body = "\n".join(body.splitlines())  # a browser's CRLF as the letter's LF
    found = problems(subject, body)
    if found:
        raise LetterRefused(found)
    return _commit_version(
        kind, language, recipient, subject.strip(), body, None, actor=actor, source=source, ip=ip, action="letter.save"
    )


def revert(
    kind: str,
    language: str,
    recipient: str,
    to_version: int | None,
    *,
    actor: str,
    source: str = "page",
    ip: str | None = None,
) -> LetterTemplate:
    """Bring back version ``to_version`` (None or 0: the shipped default) as a new version."""
    check_key(kind, language, recipient)
    if not to_version:
        return _commit_version(
            kind,
            language,
            recipient,
            None,
            None,
            "reverted to the shipped default",
            actor=actor,
            source=source,
            ip=ip,
            action="letter.revert",
        )
    old = db.session.execute(
        select(LetterTemplate).where(
            LetterTemplate.kind == kind,
            LetterTemplate.language == language,
            LetterTemplate.recipient == recipient,
            LetterTemplate.version == to_version,
        )
    ).scalar_one_or_none()
    if old is None:
        raise LookupError(f"the {kind} {recipient} letter in {language} has no version {to_version}")
    return _commit_version(
        kind,
        language,
        recipient,
        old.subject,
        old.body,
        f"reverted to version {to_version}",
        actor=actor,
        source=source,
        ip=ip,
        action="letter.revert",
    )


def shipped(kind: str, language: str, recipient: str) -> LetterText:
    """The shipped default text (from the catalog)."""
    return default_text(kind, recipient, language, catalogs())
