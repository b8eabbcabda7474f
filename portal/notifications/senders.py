"""Sending one message on a channel: SMTP email and HTTP webhook, each reusing one connection.

A sender raises ``DeliveryFailure`` with ``transient`` or ``permanent`` (see the retry policy);
anything it raises otherwise is a bug and propagates.
"""

from __future__ import annotations

import calendar
import hashlib
import hmac
import http.client
import json
import smtplib
import ssl
from collections.abc import Callable
from datetime import datetime
from urllib.parse import parse_qs, unquote, urlsplit

from portal.clock import utcnow
from portal.domain.retry import TRANSIENT, http_failure, smtp_failure
from portal.notifications.mime import letter_body, letter_message


class DeliveryFailure(Exception):
    """An attempt failed; ``kind`` is ``transient`` (retry later) or ``permanent`` (dead now)."""

    def __init__(self, kind: str, message: str, *, connection_lost: bool = False):
        super().__init__(message)
        self.kind = kind
        self.connection_lost = connection_lost


class SmtpSender:
    """Sends email through ``SMTP_URL`` (``smtp://user:pass@host:587?starttls=1`` or ``smtps://``)."""

    def __init__(self, url: str, mail_from: str, timeout: float):
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ValueError(
                f"SMTP_URL must look like smtp://user:pass@host:587?starttls=1, got scheme {parts.scheme!r}"
            )
        query = parse_qs(parts.query)
        self.ssl = parts.scheme == "smtps"
        self.starttls = query.get("starttls", ["0"])[0].lower() in ("1", "true", "yes")
        self.host, self.port = parts.hostname, parts.port or (465 if self.ssl else 25)
        self.username = unquote(parts.username) if parts.username else None
        self.password = unquote(parts.password) if parts.password else None
        self.mail_from, self.timeout = mail_from, timeout
        self._conn: smtplib.SMTP | None = None

    def _connect(self) -> smtplib.SMTP:
        if self._conn is None:
            try:
                if self.ssl:
                    self._conn = smtplib.SMTP_SSL(
                        self.host, self.port, timeout=self.timeout, context=ssl.create_default_context()
                    )
                else:
                    self._conn = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
                    if self.starttls:
                        self._conn.starttls(context=ssl.create_default_context())
                if self.username:
                    self._conn.login(self.username, self.password or "")
            except smtplib.SMTPResponseException as exc:
                # Close a refused connection (a 535 login, a 454 STARTTLS) now, not when this failure
                # is collected: its traceback holds the connection, and the delivery job keeps the
                # failure (``smtp_down``) for the rest of its batch.
                self._drop()
                raise DeliveryFailure(
                    smtp_failure(exc.smtp_code), f"SMTP {exc.smtp_code}: {_text(exc.smtp_error)}", connection_lost=True
                ) from None
            except ssl.SSLCertVerificationError as exc:
                # Transient like an unreachable server (once the operator fixes the trust, the
                # scheduled retries go through), but named for what it is.
                self._drop()
                raise DeliveryFailure(
                    TRANSIENT,
                    f"SMTP server {self.host}:{self.port} certificate not trusted (see SSL_CERT_FILE): {exc}",
                    connection_lost=True,
                ) from None
            except (OSError, smtplib.SMTPException) as exc:
                self._drop()
                raise DeliveryFailure(
                    TRANSIENT, f"SMTP server {self.host}:{self.port} unreachable: {exc}", connection_lost=True
                ) from None
        return self._conn

    def send(self, recipient: str, subject: str, body: str, language: str = "en") -> None:
        """Send one letter (text and HTML, in ``language``) to ``recipient``."""
        self.send_letter(recipient, letter_body(subject, body, language))

    def send_letter(self, recipient: str, letter: bytes) -> None:
        """Send a letter built by ``mime.letter_body`` to ``recipient`` (its own From, To, Date
        and Message-ID in front)."""
        conn = self._connect()
        message = letter_message(self.mail_from, recipient, letter)
        try:
            conn.sendmail(self.mail_from, [recipient], message)
        except smtplib.SMTPRecipientsRefused as exc:
            code, reply = next(iter(exc.recipients.values()))
            raise DeliveryFailure(smtp_failure(code), f"SMTP {code}: {_text(reply)}") from None
        except smtplib.SMTPResponseException as exc:
            raise DeliveryFailure(
                smtp_failure(exc.smtp_code), f"SMTP {exc.smtp_code}: {_text(exc.smtp_error)}"
            ) from None
        except (OSError, smtplib.SMTPException) as exc:
            self._drop()
            raise DeliveryFailure(TRANSIENT, f"SMTP connection lost: {exc}") from None

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except OSError:
                pass

    def close(self) -> None:
        """Say QUIT and close the connection, if one is open."""
        if self._conn is not None:
            try:
                self._conn.quit()
            except (OSError, smtplib.SMTPException):
                pass
            self._drop()


def webhook_signature(secret: bytes, timestamp: int, body: bytes) -> str:
    """``sha256=<hex HMAC-SHA256 of "<timestamp>.<body>">``: the ``X-Attendance-Signature`` header."""
    return "sha256=" + hmac.new(secret, b"%d.%s" % (timestamp, body), hashlib.sha256).hexdigest()


class WebhookSender:
    """POSTs JSON documents to one URL over a kept-alive HTTP(S) connection.

    Every request carries ``X-Attendance-Delivery`` (the delivery id: a receiver drops a repeat);
    with a ``secret`` also ``X-Attendance-Timestamp`` (Unix seconds of ``clock``) and
    ``X-Attendance-Signature`` over the exact bytes sent (docs/webhooks.md).
    """

    def __init__(self, url: str, timeout: float, secret: str = "", clock: Callable[[], datetime] = utcnow):
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"WEBHOOK_URL must be an http(s) URL, got {url!r}")
        self.url, self.parts, self.timeout = url, parts, timeout
        self.path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self.secret = secret.encode("utf-8") if secret else b""
        self.clock = clock
        self._conn: http.client.HTTPConnection | None = None

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            cls = http.client.HTTPSConnection if self.parts.scheme == "https" else http.client.HTTPConnection
            self._conn = cls(self.parts.hostname, self.parts.port, timeout=self.timeout)
        return self._conn

    def headers_for(self, body: bytes, delivery_id: int) -> dict[str, str]:
        """The request headers of one POST of ``body`` (one HMAC, computed here, when signed)."""
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": "attendance-portal/1",
            "X-Attendance-Delivery": str(delivery_id),
        }
        if self.secret:
            timestamp = calendar.timegm(self.clock().utctimetuple())
            headers["X-Attendance-Timestamp"] = str(timestamp)
            headers["X-Attendance-Signature"] = webhook_signature(self.secret, timestamp, body)
        return headers

    def send(self, document: dict, delivery_id: int) -> None:
        """POST ``document`` as JSON for delivery ``delivery_id``; a 2xx answer is success."""
        body = json.dumps(document, ensure_ascii=False).encode("utf-8")
        headers = self.headers_for(body, delivery_id)
        conn = self._connection()
        try:
            conn.request("POST", self.path, body=body, headers=headers)
            response = conn.getresponse()
            answer = response.read(2000)
        except (OSError, http.client.HTTPException) as exc:
            self.close()
            raise DeliveryFailure(TRANSIENT, f"webhook {self.url} unreachable: {type(exc).__name__}: {exc}") from None
        if response.will_close:
            self.close()
        if not 200 <= response.status <= 299:
            raise DeliveryFailure(
                http_failure(response.status), f"HTTP {response.status} {response.reason}: {_text(answer)[:300]}"
            )

    def close(self) -> None:
        """Close the connection, if one is open."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def _text(value) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace").strip()
    return str(value).strip()
