"""Reading an instant written by a person or a file: Unix seconds, or ISO 8601 where a
time without an offset is at the given UTC offset (China Standard Time by default)."""

from __future__ import annotations

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
