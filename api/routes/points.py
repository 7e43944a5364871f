"""Points that arrive at once: behaviour events credited through the ledger (the
ledger's keys and scripts are api/ledger.py)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response

from engine.instants import at_offset
from engine.model import EVENT_KINDS, MAX_POINTS, EventRule
from engine.rules.checks.common import did_you_mean

from .. import progression, schemas
from ..access import RateLimit
from ..errors import JSON, MEMBER_ERRORS, answer, error, refusal
from ..ledger import credit_event, earned_expiry
from .deps import ServiceDep

router = APIRouter(tags=["points"])

_EVENT_EXAMPLE = {
    "event_id": "watch-M00001-gala-1",
    "member_id": "M00001",
    "type": "watch",
    "points": 20,
    "balance": 1870,
    "expires": None,
    "note": None,
}


def _day(now: int, utc_offset: int) -> str:
    """The rule table's local calendar day of an instant, as yyyymmdd (for the day caps)."""
    return at_offset(now, utc_offset).strftime("%Y%m%d")


def _week(now: int, utc_offset: int) -> str:
    """The ISO week (Monday to Sunday) of an instant in the table's local time, as yyyyWww."""
    year, week, _ = at_offset(now, utc_offset).isocalendar()
    return f"{year}W{week:02d}"


def known_kinds(events: Mapping[str, EventRule]) -> list[str]:
    """The event kinds a served table knows: the four every table knows, then its own."""
    return list(EVENT_KINDS) + [kind for kind in events if kind not in EVENT_KINDS]


def _hour(now: int, utc_offset: int) -> str:
    return at_offset(now, utc_offset).strftime("%Y%m%d%H")


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


@router.post(
    "/v1/events",
    response_model=schemas.EventResult,
    summary="Credit a behaviour event (watching, sharing, an invite that ordered, a photo review, "
    "or a kind the rule table names)",
    responses={
        200: answer(
            "The points the event earned and the balance after; a replay of "
            "the same event id returns the first answer with the header "
            "`Idempotent-Replay: true`",
            _EVENT_EXAMPLE,
        ),
        400: refusal("Malformed JSON"),
        403: refusal("The member is frozen"),
        429: refusal("Too many events from this member this minute; see Retry-After"),
        **MEMBER_ERRORS,
        422: refusal(
            "A field is wrong (the error names it), or the credit would take the "
            "balance past 1,000,000,000 points (`points_over_limit`)"
        ),
    },
)
async def post_event(body: schemas.EventRequest, request: Request, service: ServiceDep) -> Response:
    """Points by the rule table's `points.events`, with their caps per live session, per
    day and per ISO week. The same `event_id` counts once for a member. A `watch` event
    (any kind whose rule has `min_seconds`) names its room and the seconds watched: more
    seconds than the room has been live is refused, fewer than the rule's `min_seconds`
    earn nothing. A kind the table does not know is refused with the kinds it knows. The
    answer is sent after Redis has acknowledged the credit."""
    now = service.now(request.scope)
    assert service.table is not None
    model = service.table.model
    rule = model.points.events.get(body.type)
    if rule is None:
        known = known_kinds(model.points.events)
        if body.type in known:
            return error(422, "invalid_request", f"the rules give no points for {body.type} events", "type")
        return error(
            422,
            "invalid_request",
            f"unknown event kind {body.type!r}{did_you_mean(body.type, known)}; the rules know {', '.join(known)}",
            "type",
        )
    room = None
    if body.room is not None:
        room = next((r for r in model.rooms if r.id == body.room), None)
        if room is None:
            return error(422, "invalid_request", f"unknown room {body.room!r}", "room")
    points, note = rule.points, "-"
    if rule.min_seconds is not None:
        if room is None:
            return error(422, "invalid_request", f"a {body.type} event names the live room watched", "room")
        if body.seconds is None:
            return error(422, "invalid_request", f"a {body.type} event gives the seconds watched", "seconds")
        live_for = max(0, min(now, room.end) - room.start)
        if body.seconds > live_for:
            return error(
                422,
                "invalid_request",
                f"{body.seconds} s is more than room {room.id} has been live ({live_for} s)",
                "seconds",
            )
        if body.seconds < rule.min_seconds:
            points, note = 0, "below_min_seconds"
    elif body.seconds is not None:
        watched = [kind for kind, r in model.points.events.items() if r.min_seconds is not None]
        return error(422, "invalid_request", f"only a {' or '.join(watched) or 'watch'} event gives seconds", "seconds")
    expires = earned_expiry(model.points, model.utc_offset_seconds, now)
    if rule.session_only:
        if room is None:
            return error(422, "invalid_request", f"{body.type} points last one live session: name the room", "room")
        if not room.start <= now < room.end:
            return error(
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
        response = error(
            429,
            "rate_limited",
            f"more than {rate.limit} events a minute for this member; retry after {wait} s",
            "member_id",
        )
        response.headers["Retry-After"] = str(wait)
        return response
    if status == "unknown_member":
        return error(404, "unknown_member", f"no member {body.member_id!r}", "member_id")
    if status == "frozen_now":
        return error(
            403,
            "member_frozen",
            f"more than {rule.freeze_above_per_hour} {body.type} events in one hour: the member is frozen for review",
            "member_id",
        )
    if status == "member_frozen":
        return error(
            403,
            "member_frozen",
            "the member is frozen for review: it earns and spends nothing until unfrozen",
            "member_id",
        )
    if status == "balance_limit":
        return error(
            422,
            "points_over_limit",
            f"the member's balance would pass the most a balance holds ({MAX_POINTS:,} points)",
            "member_id",
        )
    record = answer[1].decode() if isinstance(answer[1], bytes) else answer[1]
    headers = {"Idempotent-Replay": "true"} if status == "replay" else None
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
    return Response(content, media_type=JSON, headers=headers)
