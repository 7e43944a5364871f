"""When a room, coupon or redemption holds: absolute times, times relative to a room
(`room_end - 5m`), and the room a coupon or redemption is bound to.

Naive times are read in the table's timezone (`Checker.utc_offset`), and every time
becomes Unix seconds, so the evaluators compare integers.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from ...model import Room
from .common import MISSING, RELATIVE_TIME_RE, Checker, did_you_mean

_DURATION_PART = re.compile(r"(\d+)([dhms])")
_UNIT_SECONDS = {"d": 86400, "h": 3600, "m": 60, "s": 1}


def instant(checker: Checker, value: Any, path: tuple) -> int | None:
    """An absolute instant, as Unix seconds. Naive times are in the table's timezone."""
    if isinstance(value, dt.datetime):
        moment = value
    elif isinstance(value, str):
        try:
            moment = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            checker.error(
                path, f"{value!r} is not a time; write e.g. 2026-11-11T20:00:00+08:00, room_start or room_end - 5m"
            )
            return None
    elif isinstance(value, dt.date):
        moment = dt.datetime(value.year, value.month, value.day)
    else:
        checker.error(path, f"must be a time such as 2026-11-11T20:00:00+08:00, not {value!r}")
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone(dt.timedelta(seconds=checker.utc_offset)))
    return int(moment.timestamp())


def window_end(checker: Checker, value: Any, path: tuple, room: Room | None, has_room: bool) -> int | None:
    """One end of a window: an absolute instant, or room_start / room_end shifted by a duration."""
    if isinstance(value, str):
        match = RELATIVE_TIME_RE.match(value.strip())
        if match:
            if not has_room:
                checker.error(path, f"{value!r} is relative to a room; name the room in `room`")
                return None
            if room is None:
                return None  # the room's own error is reported already
            base = room.start if match.group(1) == "room_start" else room.end
            if match.group(3):
                seconds = sum(int(n) * _UNIT_SECONDS[u] for n, u in _DURATION_PART.findall(match.group(3)))
                base = base + seconds if match.group(2) == "+" else base - seconds
            return base
        if value.strip().startswith("room"):
            checker.error(path, f"{value!r} is not understood; write room_start, room_end, or e.g. room_end - 5m")
            return None
    return instant(checker, value, path)


def window(checker: Checker, obj: dict, path: tuple, rooms: dict) -> tuple:
    """(from, to) of an optional window; a room's coupon without one holds while the room is live."""
    room_id = obj.get("room")
    room = rooms.get(room_id) if type(room_id) is str else None
    has_room = room_id is not None
    value = obj.get("window", MISSING)
    if value is MISSING:
        return (room.start, room.end) if room else (None, None)
    win = checker.mapping(value, path + ("window",), ("from", "to"))
    if win is None:
        return (None, None)
    start = window_end(checker, win["from"], path + ("window", "from"), room, has_room) if "from" in win else None
    end = window_end(checker, win["to"], path + ("window", "to"), room, has_room) if "to" in win else None
    if start is not None and end is not None and end <= start:
        checker.error(path + ("window", "to"), "must end after it starts")
    return (start, end)


def room_ref(checker: Checker, obj: dict, path: tuple, rooms: dict) -> str | None:
    """The room a coupon or redemption is bound to, if any, which must be a listed room."""
    room = obj.get("room")
    if room is None:
        return None
    if type(room) is not str or room not in rooms:
        checker.error(path + ("room",), f"unknown room {room!r}{did_you_mean(room, rooms)}")
        return None
    return room
