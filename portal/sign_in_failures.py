"""Failed sign-ins counted in the database: the rate limit's store while Redis is unreachable.

Redis is the usual counter (``portal/auth.py``: one key per username+address and one per
address, expiring a window after the first failure). While Redis does not answer, each
attempt is a row here, written before its password is checked (``reserve``) and deleted with
the user's others when it succeeds, and the limit counts the rows of the last window (a
sliding window). The check sums both stores, so a failure counted here keeps counting for its window
after Redis is back, and one counted in Redis still counts if Redis goes away (once it answers
again). Rows older than the window are deleted whenever a new one is written.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, text

from portal.clock import utcnow
from portal.extensions import db
from portal.models import SignInFailure


def normal_username(username: str) -> str:
    """The username as both stores key it: stripped, lowercased, at most 64 characters."""
    return username.strip().lower()[:64]


def record(username: str, address: str, window_seconds: int) -> None:
    """Write one failure of ``username`` from ``address`` now, pruning rows past the window (committed)."""
    now = utcnow()
    db.session.execute(
        delete(SignInFailure)
        .where(SignInFailure.failed_at < now - timedelta(seconds=window_seconds))
        .execution_options(synchronize_session=False)
    )
    db.session.add(SignInFailure(username=normal_username(username), address=address[:64], failed_at=now))
    db.session.commit()


def reserve(username: str, address: str, per_pair: int, per_address: int, window_seconds: int) -> bool:
    """Count this attempt as a failure before its password is checked, unless a limit is
    reached; True when it may go on (the row committed), False when refused (nothing written).

    Insert, then count in the same transaction, serialized per address: on PostgreSQL by an
    advisory transaction lock, on SQLite by the write lock the INSERT takes. So however many
    requests arrive at once, at most the limit's number of attempts reach the password check.
    A success then clears the user's rows (``clear``), this one included.
    """
    session = db.session
    if db.engine.dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": f"sign-in:{address[:64]}"})
    now = utcnow()
    session.execute(
        delete(SignInFailure)
        .where(SignInFailure.failed_at < now - timedelta(seconds=window_seconds))
        .execution_options(synchronize_session=False)
    )
    session.add(SignInFailure(username=normal_username(username), address=address[:64], failed_at=now))
    session.flush()
    pair, from_address = recent(username, address, window_seconds)
    if len(pair) > per_pair or len(from_address) > per_address:
        session.rollback()
        return False
    session.commit()
    return True


def recent(username: str, address: str, window_seconds: int) -> tuple[list[datetime], list[datetime]]:
    """The failure times of the last window, oldest first: of ``username`` from ``address``, and
    of every username from ``address``."""
    since = utcnow() - timedelta(seconds=window_seconds)
    in_window = (SignInFailure.address == address[:64], SignInFailure.failed_at >= since)
    rows = db.session.execute(
        select(SignInFailure.username, SignInFailure.failed_at).where(*in_window).order_by(SignInFailure.failed_at)
    ).all()
    name = normal_username(username)
    return [row.failed_at for row in rows if row.username == name], [row.failed_at for row in rows]


def seconds_until_below(times: list[datetime], also: int, limit: int, window_seconds: int) -> int:
    """Seconds until fewer than ``limit`` failures remain, given ``times`` (oldest first) from
    the database and ``also`` counted elsewhere (Redis); 0 when already below."""
    excess = len(times) + also - limit
    if excess < 0 or not times:
        return 0
    # The (excess+1)-th oldest row must age out; beyond what the rows can cover, Redis holds it.
    expires = times[min(excess, len(times) - 1)] + timedelta(seconds=window_seconds)
    return max(int((expires - utcnow()).total_seconds()) + 1, 1)


def clear(username: str, address: str) -> None:
    """Forget ``username``'s failures from ``address`` (a successful sign-in; committed by the caller)."""
    db.session.execute(
        delete(SignInFailure)
        .where(SignInFailure.address == address[:64], SignInFailure.username == normal_username(username))
        .execution_options(synchronize_session=False)
    )


def count_all() -> int:
    """How many failures the database holds (for tests and the operations docs)."""
    return int(db.session.scalar(select(func.count()).select_from(SignInFailure)) or 0)
