"""Points that arrive at once: behaviour events credited through the ledger (the
ledger's keys and scripts are api/ledger.py; the one path of an event is api/events.py)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from .. import schemas
from ..errors import JSON, MEMBER_ERRORS, answer, refusal
from ..events import record_event
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
    outcome = await record_event(service, body, service.now(request.scope))
    if outcome.status != 200:
        response = Response(outcome.content, outcome.status, media_type=JSON)
        if outcome.retry_after is not None:
            response.headers["Retry-After"] = str(outcome.retry_after)
        return response
    headers = {"Idempotent-Replay": "true"} if outcome.replay else None
    return Response(outcome.content, media_type=JSON, headers=headers)
