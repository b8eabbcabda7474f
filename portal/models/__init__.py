"""Database models, one module per concern; import them from here."""

from portal.models.alerts import Alert, Delivery, InboxMessage, Notification
from portal.models.audit import AuditLog, AuditLogArchive
from portal.models.auth import ApiToken, SignInFailure, User
from portal.models.cases import AlertCase, AlertNote
from portal.models.jobs import JobRun, JobState
from portal.models.letters import LetterTemplate
from portal.models.people import AttendanceRecord, Course, Enrollment, Student
from portal.models.terms import OPEN_TERM_ID, Offering, Term

__all__ = [
    "Alert",
    "AlertCase",
    "AlertNote",
    "ApiToken",
    "AttendanceRecord",
    "AuditLog",
    "AuditLogArchive",
    "Course",
    "Delivery",
    "Enrollment",
    "InboxMessage",
    "JobRun",
    "JobState",
    "LetterTemplate",
    "Notification",
    "OPEN_TERM_ID",
    "Offering",
    "SignInFailure",
    "Student",
    "Term",
    "User",
]
