"""Crediting one behaviour event: the one path every event takes, whether it came by
HTTP (POST /v1/events, api/routes/points.py) or from the event stream (`rights consume
events`, api/event_stream.py).

`record_event(service, event, now)` looks up the event's rule, checks the event against
it, credits it through the ledger script (api/ledger.py: once per event id, its caps, the
member's rate), counts it toward tier progression and on the big screen, and returns an
`Outcome`: the HTTP status with the answer's bytes, or the error's code, field and reason.
A Redis fault is raised (RedisUnavailable, Overloaded), never an Outcome: the caller
decides whether to answer 503 or to try again later.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from engine.inputs import QuoteInputError
from engine.instants import at_offset
from engine.model import EVENT_KINDS, MAX_POINTS, EventRule
from engine.rules.checks.common import did_you_mean

from . import progression, schemas
from .access import RateLimit
from .ledger import credit_event, earned_expiry


@dataclass(frozen=True)
class Outcome:
    """What became of one event: `status` 200 with `content` the answer (`replay` when the
    event id was credited before), or an error status with `code`, `field` and `reason`."""

    status: int
    content: bytes
    replay: bool = False
    code: str | None = None
    field: str | None = None
    reason: str | None = None
    retry_after: int | None = None  # seconds, with a 429

    @property
    def credited(self) -> bool:
        """Credited now (not a replay of an earlier credit, not refused)."""
        return self.status == 200 and not self.replay


def refused(status: int, code: str, reason: str, field: str | None = None, retry_after: int | None = None) -> Outcome:
    """An error Outcome; its content is the one error shape of api/errors.py."""
    content = orjson.dumps({"error": {"code": code, "field": field, "reason": reason}})
    return Outcome(status, content, code=code, field=field, reason=reason, retry_after=retry_after)


def _day(now: int, utc_offset: int) -> str:
    """The rule table's local calendar day of an instant, as yyyymmdd (for the day caps)."""
    return at_offset(now, utc_offset).strftime("%Y%m%d")


def _week(now: int, utc_offset: int) -> str:
    """The ISO week (Monday to Sunday) of an instant in the table's local time, as yyyyWww."""
    year, week, _ = at_offset(now, utc_offset).isocalendar()
    return f"{year}W{week:02d}"


def _hour(now: int, utc_offset: int) -> str:
    return at_offset(now, utc_offset).strftime("%Y%m%d%H")


def known_kinds(events: Mapping[str, EventRule]) -> list[str]:
    """The event kinds a served table knows: the four every table knows, then its own."""
    return list(EVENT_KINDS) + [kind for kind in events if kind not in EVENT_KINDS]


def _event_body(event_id: str, member_id: str, record: str) -> bytes:
    """The answer to an event, rendered from what the ledger stored: a replay gets the same
    bytes as the first answer."""
    points, balance, expires, note, reason = record.split(" ")
    return orjson.dumps(
        {
            "event_id": event_id,
            "member_id": member_id,
            "type": reason.partition(":")[2],
            "points": int(points),
            "balance": int(balance),
            "expires": int(expires) or None,
            "note": None if note == "-" else note,
        }
    )


async def record_event(service: Any, body: schemas.EventRequest, now: int) -> Outcome:
    """Credit one event at `now` by the table `service` serves for the event's brand (see
    the module's doc)."""
    if body.brand is not None and service.brand_of(body.brand, None) is None:
        await service.redis_call(service.follow_brands())  # a brand added since this process looked
    try:
        table = service.enter_brand(body.brand, body.room).table
    except QuoteInputError as exc:
        return refused(422, "invalid_request", exc.reason, exc.field)
    assert table is not None
    model = table.model
    rule = model.points.events.get(body.type)
    if rule is None:
        known = known_kinds(model.points.events)
        if body.type in known:
            return refused(422, "invalid_request", f"the rules give no points for {body.type} events", "type")
        return refused(
            422,
            "invalid_request",
            f"unknown event kind {body.type!r}{did_you_mean(body.type, known)}; the rules know {', '.join(known)}",
            "type",
        )
    room = None
    if body.room is not None:
        room = next((r for r in model.rooms if r.id == body.room), None)
        if room is None:
            return refused(422, "invalid_request", f"unknown room {body.room!r}", "room")
    points, note = rule.points, "-"
    if rule.min_seconds is not None:
        if room is None:
            return refused(422, "invalid_request", f"a {body.type} event names the live room watched", "room")
        if body.seconds is None:
            return refused(422, "invalid_request", f"a {body.type} event gives the seconds watched", "seconds")
        if now >= room.end:  # watch time is credited while the room is live, as a session_only kind is
            return refused(
                422,
                "invalid_request",
                f"room {room.id}'s session has ended: its watch time is credited while live",
                "room",
            )
        live_for = max(0, now - room.start)
        if body.seconds > live_for:
            return refused(
                422,
                "invalid_request",
                f"{body.seconds} s is more than room {room.id} has been live ({live_for} s)",
                "seconds",
            )
        if body.seconds < rule.min_seconds:
            points, note = 0, "below_min_seconds"
    elif body.seconds is not None:
        watched = [kind for kind, r in model.points.events.items() if r.min_seconds is not None]
        return refused(
            422, "invalid_request", f"only a {' or '.join(watched) or 'watch'} event gives seconds", "seconds"
        )
    expires = earned_expiry(model.points, model.utc_offset_seconds, now)
    if rule.session_only:
        if room is None:
            return refused(422, "invalid_request", f"{body.type} points last one live session: name the room", "room")
        if not room.start <= now < room.end:
            return refused(
                422, "invalid_request", f"room {room.id} is not live: its session's points cannot be earned now", "room"
            )
        expires = min(expires, room.end) if expires else room.end
    rate = RateLimit.of(body.member_id, "events", service.settings.events_per_minute)
    answer = await service.redis_call(
        credit_event(
            service.scripts,
            body.member_id,
            now=now,
            event_id=body.event_id,
            reason=f"event:{body.type}",
            points=points,
            expires=expires,
            note=note,
            session_field=f"{body.type}:s:{room.id}:{room.start}" if room else "",
            session_cap=rule.cap_per_session if room else None,
            day_field=f"{body.type}:d:{_day(now, model.utc_offset_seconds)}",
            day_cap=rule.cap_per_day,
            week_field=f"{body.type}:w:{_week(now, model.utc_offset_seconds)}",
            week_cap=rule.cap_per_week,
            rate_field=f"{body.type}:h:{_hour(now, model.utc_offset_seconds)}",
            rate_limit=rule.freeze_above_per_hour,
            rate=rate,
        )
    )
    status = answer[0].decode() if isinstance(answer[0], bytes) else answer[0]
    if status == "rate_limited" and rate is not None:
        wait = int(answer[1])
        return refused(
            429,
            "rate_limited",
            f"more than {rate.limit} events a minute for this member; retry after {wait} s",
            "member_id",
            retry_after=wait,
        )
    if status == "unknown_member":
        return refused(404, "unknown_member", f"no member {body.member_id!r}", "member_id")
    if status == "frozen_now":
        return refused(
            403,
            "member_frozen",
            f"more than {rule.freeze_above_per_hour} {body.type} events in one hour: the member is frozen for review",
            "member_id",
        )
    if status == "member_frozen":
        return refused(
            403,
            "member_frozen",
            "the member is frozen for review: it earns and spends nothing until unfrozen",
            "member_id",
        )
    if status == "balance_limit":
        return refused(
            422,
            "points_over_limit",
            f"the member's balance would pass the most a balance holds ({MAX_POINTS:,} points)",
            "member_id",
        )
    record = answer[1].decode() if isinstance(answer[1], bytes) else answer[1]
    if status == "ok":
        service.dashboard.points(body.room, int(record.split(" ")[0]))
    content = _event_body(body.event_id, body.member_id, record)
    if model.progression is not None:  # tier progression: the event counts, and the answer says what it changed
        counts = record.split(" ")[3] != "below_min_seconds"
        earned = int(record.split(" ")[0]) > 0  # growth, like points, stops at the rule's caps
        count: dict[str, Any] = dict(
            ref=f"ev:{body.event_id}",
            growth=rule.growth if counts and earned else 0,
            tasks=rule.counts_toward if counts else (),
        )
        if status == "ok":
            change = await service.redis_call(
                progression.run(service.scripts, model, body.member_id, now, mode="count", **count)
            )
            if isinstance(change, dict):
                service.dashboard.tier_change(body.room, change)
        else:
            change = await service.redis_call(
                progression.replayed(service.scripts, service.redis, model, body.member_id, now, **count)
            )
        content = content[:-1] + b',"tier":' + orjson.dumps(change if isinstance(change, dict) else None) + b"}"
    return Outcome(200, content, replay=status == "replay")
