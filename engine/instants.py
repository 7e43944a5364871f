"""Reading an instant written by a person or a file: Unix seconds, or ISO 8601 where a
time without an offset is at the given UTC offset (China Standard Time by default)."""

from __future__ import annotations

import calendar
import datetime as dt

CST_SECONDS = 8 * 3600


def parse_instant(value, utc_offset: int = CST_SECONDS) -> int:
    """Unix seconds from an int, a string of digits or an ISO 8601 text; ValueError else."""
    if type(value) is int:
        return value
    if not isinstance(value, str):
        raise ValueError(f"not a time: {value!r}")
    if value.isdigit():
        return int(value)
    moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone(dt.timedelta(seconds=utc_offset)))
    return int(moment.timestamp())


def at_offset(seconds: float, utc_offset: int | None = 0) -> dt.datetime:
    """Unix seconds as a moment at a UTC offset (in seconds); None: this machine's zone."""
    if utc_offset is None:
        return dt.datetime.fromtimestamp(seconds).astimezone()
    return dt.datetime.fromtimestamp(seconds, dt.timezone(dt.timedelta(seconds=utc_offset)))


def format_instant(seconds: float, utc_offset: int | None = 0) -> str:
    """Unix seconds in ISO 8601 to the second, as a reader reads them (UTC by default)."""
    return at_offset(seconds, utc_offset).isoformat(timespec="seconds")


def months_later_day_end(seconds: float, months: int, utc_offset: int) -> int:
    """The end of the local day `months` calendar months after the day of `seconds`, at a
    UTC offset: Unix seconds of the midnight that follows it. A day the later month lacks
    becomes that month's last day (31 January + 1 month: the end of 28 or 29 February)."""
    day = at_offset(seconds, utc_offset).date()
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    month += 1
    last = dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))
    midnight = dt.datetime.combine(
        last + dt.timedelta(days=1), dt.time(), dt.timezone(dt.timedelta(seconds=utc_offset))
    )
    return int(midnight.timestamp())


def last_day(expires: int, utc_offset: int) -> str:
    """The last local day (ISO date) something lapsing at `expires` may still be used: an
    instant at midnight belongs to the day before."""
    return at_offset(expires - 1, utc_offset).date().isoformat()


def days_later_day_end(seconds: float, days: int, utc_offset: int) -> int:
    """The end of the local day `days` days after the day of `seconds`, at a UTC offset:
    Unix seconds of the midnight that follows it (0 days: the end of that very day)."""
    day = at_offset(seconds, utc_offset).date() + dt.timedelta(days=days)
    midnight = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), dt.timezone(dt.timedelta(seconds=utc_offset)))
    return int(midnight.timestamp())
