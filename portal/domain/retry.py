"""Delivery retry policy: when to try again, and which failures are worth retrying."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

TRANSIENT = "transient"
PERMANENT = "permanent"
# HTTP 4xx statuses that mean "try again later" rather than "this request is wrong".
RETRYABLE_HTTP_4XX = frozenset({408, 429})


@dataclass(frozen=True)
class RetryDecision:
    """After a failed attempt: ``pending`` with the next attempt time, or ``dead``."""

    status: str
    next_attempt_at: datetime | None


@dataclass(frozen=True)
class RetryPolicy:
    """Attempt 1 at once, then one more attempt after each delay (minutes); then dead."""

    delays_minutes: tuple[int, ...] = (15, 30, 60)

    @property
    def max_attempts(self) -> int:
        """Total attempts a delivery gets automatically (the first plus one per delay)."""
        return len(self.delays_minutes) + 1

    def after_failure(self, attempts_made: int, failure: str, now: datetime) -> RetryDecision:
        """Return what happens after attempt number ``attempts_made`` failed with ``failure``.

        A permanent failure is dead at once; a transient one waits the delay for that attempt
        (15, 30, 60 min by default) until the attempts run out, then it is dead.
        """
        if failure == PERMANENT or attempts_made >= self.max_attempts:
            return RetryDecision("dead", None)
        delay = self.delays_minutes[max(attempts_made, 1) - 1]
        return RetryDecision("pending", now + timedelta(minutes=delay))


def smtp_failure(code: int | None) -> str:
    """Classify an SMTP reply code: 5xx is permanent; 4xx and no reply (network) are transient."""
    if code is not None and 500 <= code <= 599:
        return PERMANENT
    return TRANSIENT


def http_failure(status: int | None) -> str:
    """Classify an HTTP status: 4xx (but 408, 429) is permanent; 5xx, 408, 429, no answer transient."""
    if status is not None and 400 <= status <= 499 and status not in RETRYABLE_HTTP_4XX:
        return PERMANENT
    if status is not None and 300 <= status <= 399:
        return PERMANENT  # a webhook that redirects is misconfigured; retrying will not help
    return TRANSIENT
