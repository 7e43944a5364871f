"""Points that arrive at once: behaviour events credited through the ledger, and the
ledger itself, page by page (see api/ledger.py for the keys and the scripts)."""
from __future__ import annotations

import re
from typing import Callable, Optional

import orjson
from fastapi import FastAPI, Query, Request
from fastapi.responses import Response

from . import schemas
from .ledger import credit_event, freeze, parse_entry, sweep
from engine.model import MAX_POINTS

from .access import RateWindow
from .rules_routes import check_admin
from .redis.keys import ledger_key, member_key
from .redis.scripts import Scripts
from .store import MEMBER_ID, record_from_hash

JSON = "application/json"
_STREAM_ID = re.compile(r"^([0-9]{1,20})-([0-9]{1,20})\Z")
_STREAM_PART_MAX = 2**64 - 1
_EVENT_EXAMPLE = {"event_id": "watch-M00001-gala-1", "member_id": "M00001", "type": "watch", "points": 20,
                  "balance": 1870, "expires": None, "note": None}
_LEDGER_EXAMPLE = {"member_id": "M00001", "balance": 1870, "points_debt": 0, "entries": [
    {"id": "1794405600000-0", "delta": 20, "reason": "event:watch", "ref": "watch-M00001-gala-1", "at": 1794405600,
     "expires": None, "balance": 1870},
    {"id": "1794398400000-0", "delta": 1850, "reason": "opening", "ref": "", "at": 1794398400, "expires": None,
     "balance": 1850}], "next": None}
_ERRORS = {404: {"model": schemas.ErrorResponse, "description": "No member with this id"},
           422: {"model": schemas.ErrorResponse, "description": "A field is wrong; the error names it"},
           503: {"model": schemas.ErrorResponse, "description": schemas.UNAVAILABLE}}


def _ledger_position(text: str) -> bool:
    """A stream id Redis can start an exclusive range after: both parts fit 64 bits, and
    it is after 0-0 (nothing comes before that)."""
    found = _STREAM_ID.match(text)
    if found is None:
        return False
    ms, seq = int(found.group(1)), int(found.group(2))
    return ms <= _STREAM_PART_MAX and seq <= _STREAM_PART_MAX and (ms, seq) != (0, 0)


def _day(now: int, utc_offset: int) -> str:
    """The rule table's local calendar day of an instant, as yyyymmdd (for the day caps)."""
    import datetime as dt

    return dt.datetime.fromtimestamp(now, dt.timezone(dt.timedelta(seconds=utc_offset))).strftime("%Y%m%d")


def _hour(now: int, utc_offset: int) -> str:
    import datetime as dt

    return dt.datetime.fromtimestamp(now, dt.timezone(dt.timedelta(seconds=utc_offset))).strftime("%Y%m%d%H")


def _event_body(event_id: str, member_id: str, record: str) -> bytes:
    """The answer to an event, rendered from what the ledger stored: a replay gets the same
    bytes as the first answer."""
    points, balance, expires, note, reason = record.split(" ")
    return orjson.dumps({"event_id": event_id, "member_id": member_id, "type": reason.partition(":")[2],
                         "points": int(points), "balance": int(balance), "expires": int(expires) or None,
                         "note": None if note == "-" else note})


def add_freeze_route(app: FastAPI, service, error: Callable, clock: Callable, ledger_scripts, frozen: bool) -> None:
    verb = "freeze" if frozen else "unfreeze"

    @app.post(f"/v1/members/{{member_id}}/{verb}", tags=["points"], response_model=schemas.FreezeResult,
              summary=("Freeze a member for review: it earns and spends nothing until unfrozen (admin)" if frozen
                       else "Unfreeze a member (admin)"),
              responses={200: {"description": "Done (also when it was so already)",
                               "content": {JSON: {"example": {"member_id": "M00001", "frozen": frozen}}}},
                         401: {"model": schemas.ErrorResponse, "description": "No admin token"},
                         403: {"model": schemas.ErrorResponse, "description": "A wrong admin token, or admin off"},
                         **_ERRORS})
    async def change(member_id: str, request: Request, body: Optional[schemas.FreezeRequest] = None) -> Response:
        check_admin(request)
        if not MEMBER_ID.match(member_id):
            return error(422, "invalid_request", "not a member id", "member_id")
        reason = (body.reason if body else "") or "admin"
        done = await service.redis_call(freeze(ledger_scripts(), member_id, frozen, clock(request.scope), reason))
        if done < 0:
            return error(404, "unknown_member", f"no member {member_id!r}", "member_id")
        return Response(orjson.dumps({"member_id": member_id, "frozen": frozen}), media_type=JSON)


def add_points_routes(app: FastAPI, service, error: Callable, clock: Callable) -> None:
    scripts: dict = {}

    def ledger_scripts() -> Scripts:
        if scripts.get("client") is not service.redis:  # registered once per Redis client
            scripts["client"] = service.redis
            scripts["scripts"] = Scripts(service.redis)
        return scripts["scripts"]

    @app.post("/v1/events", tags=["points"], response_model=schemas.EventResult,
              summary="Credit a behaviour event (watching, sharing, an invite that ordered, a photo review)",
              responses={200: {"description": "The points the event earned and the balance after; a replay of "
                                              "the same event id returns the first answer with the header "
                                              "`Idempotent-Replay: true`",
                               "content": {JSON: {"example": _EVENT_EXAMPLE}}},
                         400: {"model": schemas.ErrorResponse, "description": "Malformed JSON"},
                         403: {"model": schemas.ErrorResponse, "description": "The member is frozen"},
                         429: {"model": schemas.ErrorResponse,
                               "description": "Too many events from this member this minute; see Retry-After"},
                         **_ERRORS,
                         422: {"model": schemas.ErrorResponse,
                               "description": "A field is wrong (the error names it), or the credit would take the "
                                              "balance past 1,000,000,000 points (`points_over_limit`)"}})
    async def post_event(body: schemas.EventRequest, request: Request) -> Response:
        """Points by the rule table's `points.events`, with their caps per live session and
        per day. The same `event_id` counts once for a member. A `watch` event names its
        room and the seconds watched: more seconds than the room has been live is refused,
        fewer than the rule's `min_seconds` earn nothing. The answer is sent after Redis
        has acknowledged the credit."""
        now = clock(request.scope)
        model = service.table.model
        rule = model.points.events.get(body.type)
        if rule is None:
            return error(422, "invalid_request", f"the rules give no points for {body.type} events", "type")
        room = None
        if body.room is not None:
            room = next((r for r in model.rooms if r.id == body.room), None)
            if room is None:
                return error(422, "invalid_request", f"unknown room {body.room!r}", "room")
        points, note = rule.points, "-"
        if body.type == "watch":
            if room is None:
                return error(422, "invalid_request", "a watch event names the live room watched", "room")
            if body.seconds is None:
                return error(422, "invalid_request", "a watch event gives the seconds watched", "seconds")
            live_for = max(0, min(now, room.end) - room.start)
            if body.seconds > live_for:
                return error(422, "invalid_request",
                             f"{body.seconds} s is more than room {room.id} has been live ({live_for} s)", "seconds")
            if body.seconds < rule.min_seconds:
                points, note = 0, "below_min_seconds"
        elif body.seconds is not None:
            return error(422, "invalid_request", "only a watch event gives seconds", "seconds")
        expires = now + model.points.expire_after_days * 86400 if model.points.expire_after_days else 0
        if rule.session_only:
            if room is None:
                return error(422, "invalid_request", f"{body.type} points last one live session: name the room",
                             "room")
            if not room.start <= now < room.end:
                return error(422, "invalid_request", f"room {room.id} is not live: its session's points "
                                                     "cannot be earned now", "room")
            expires = min(expires, room.end) if expires else room.end
        rate = RateWindow.now(body.member_id, "events", service.settings.events_per_minute)
        answer = await service.redis_call(credit_event(
            ledger_scripts(), body.member_id, now=now, event_id=body.event_id, reason=f"event:{body.type}",
            points=points, expires=expires, note=note,
            session_field=f"{body.type}:s:{room.id}:{room.start}" if room else "",
            session_cap=rule.cap_per_session if room else None,
            day_field=f"{body.type}:d:{_day(now, model.utc_offset_seconds)}", day_cap=rule.cap_per_day,
            rate_field=f"{body.type}:h:{_hour(now, model.utc_offset_seconds)}", rate_limit=rule.freeze_above_per_hour,
            rate=rate))
        status = answer[0].decode() if isinstance(answer[0], bytes) else answer[0]
        if status == "rate_limited":
            response = error(429, "rate_limited", f"more than {rate.limit} events a minute for this member; retry "
                                                  f"after {rate.retry_after} s", "member_id")
            response.headers["Retry-After"] = str(rate.retry_after)
            return response
        if status == "unknown_member":
            return error(404, "unknown_member", f"no member {body.member_id!r}", "member_id")
        if status == "frozen_now":
            return error(403, "member_frozen", f"more than {rule.freeze_above_per_hour} {body.type} events in one "
                                               "hour: the member is frozen for review", "member_id")
        if status == "member_frozen":
            return error(403, "member_frozen", "the member is frozen for review: it earns and spends nothing "
                                               "until unfrozen", "member_id")
        if status == "balance_limit":
            return error(422, "points_over_limit", f"the member's balance would pass the most a balance holds "
                                                   f"({MAX_POINTS:,} points)", "member_id")
        record = answer[1].decode() if isinstance(answer[1], bytes) else answer[1]
        headers = {"Idempotent-Replay": "true"} if status == "replay" else None
        if status == "ok":
            service.dashboard.points(body.room, int(record.split(" ")[0]))
        return Response(_event_body(body.event_id, body.member_id, record), media_type=JSON, headers=headers)

    @app.get("/v1/members/{member_id}/ledger", tags=["points"], response_model=schemas.LedgerPage,
             summary="A member's points ledger, newest first, page by page",
             responses={200: {"description": "One page of entries", "content": {JSON: {"example": _LEDGER_EXAMPLE}}},
                        **_ERRORS})
    async def get_ledger(request: Request, member_id: str,
                         limit: int = Query(50, ge=1, le=500, description="Entries per page."),
                         before: Optional[str] = Query(None, description="The `next` of the previous page.")) -> Response:
        """Every change of the balance, with its reason and reference. Reading the ledger
        first lapses the member's expired points, so the balance shown is the one a quote
        would use now."""
        if not MEMBER_ID.match(member_id):
            return error(422, "invalid_request", "not a member id", "member_id")
        if before is not None and not _ledger_position(before):
            return error(422, "invalid_request", "not a ledger position: pass the `next` of the previous page",
                         "before")
        balance = await service.redis_call(sweep(ledger_scripts(), member_id, clock(request.scope)))
        if balance < 0:
            return error(404, "unknown_member", f"no member {member_id!r}", "member_id")
        raw = await service.redis_call(service.redis.xrevrange(
            ledger_key(member_id), max=f"({before}" if before else "+", min="-", count=limit + 1))
        debt = await service.redis_call(service.redis.hget(member_key(member_id), "debt"))
        entries = [parse_entry(entry_id, fields) for entry_id, fields in raw[:limit]]
        page = {"member_id": member_id, "balance": balance, "points_debt": int(debt or 0), "entries": entries,
                "next": entries[-1]["id"] if len(raw) > limit else None}
        return Response(orjson.dumps(page), media_type=JSON)

    for frozen in (True, False):
        add_freeze_route(app, service, error, clock, ledger_scripts, frozen)

    async def current(record, now: int):
        """The member with its expired points lapsed, when one of its lots is due."""
        if record is None or not 0 < record.lapse_at <= now:
            return record
        await service.redis_call(sweep(ledger_scripts(), record.id, now))
        return record_from_hash(record.id, await service.redis_call(service.redis.hgetall(member_key(record.id))))

    service.current_member = current
