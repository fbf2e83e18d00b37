"""Calendar arithmetic on UTC dates (a year after 29 February is 28 February) and how a time left is said."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from escalations.policy.base import (
    as_utc,
)


def add_calendar_years(moment: datetime, years: int) -> datetime:
    """The same UTC date and time `years` later; 29 February becomes 1 March in a common year, so the
    period is never shorter than the years' worth of days."""
    moment = as_utc(moment)
    target_year = moment.year + years
    try:
        return moment.replace(year=target_year)
    except ValueError:  # 29 February into a common year
        return moment.replace(year=target_year, month=3, day=1)


def add_calendar_months(moment: datetime, months: int) -> datetime:
    """The same UTC day and time `months` later; where that month is shorter (from the 31st, or from
    29 February into a common year) the last day of that month. Used for caps, so it is never longer
    than the months' worth: the shorter reading, the one that keeps a cap."""
    moment = as_utc(moment)
    index = moment.month - 1 + months
    year, month = moment.year + index // 12, index % 12 + 1
    return moment.replace(year=year, month=month, day=min(moment.day, _days_in_month(year, month)))


def _days_in_month(year: int, month: int) -> int:
    following = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)
    return (following - timedelta(days=1)).day


def time_left(due_at: datetime, now: datetime) -> timedelta:
    """Signed time until `due_at` (negative once it has passed)."""
    return as_utc(due_at) - as_utc(now)


def humanize_delta(delta: timedelta) -> str:
    """'3 h 12 min left' / '2 d 4 h overdue': short enough for a table cell at 3 a.m."""
    # The sign decides the word: half a second past the target is overdue (as its state says), not "left".
    suffix = "left" if delta >= timedelta(0) else "overdue"
    seconds = abs(delta) // timedelta(seconds=1)
    days, rem = divmod(seconds, 86400)
    hours, rem = divmod(rem, 3600)
    minutes = rem // 60
    parts: Sequence[str]
    if days:
        parts = [f"{days} d", f"{hours} h"]
    elif hours:
        parts = [f"{hours} h", f"{minutes} min"]
    else:
        parts = [f"{minutes} min"] if minutes else ["under 1 min"]
    return f"{' '.join(parts)} {suffix}"
