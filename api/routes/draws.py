"""Draws in the live room (the flow is api/draws.py): enter with a checkout key, exactly
once per Idempotency-Key; read the results (the commitment before, the seed, entries and
winners after); draw with the admin token, once."""

from __future__ import annotations

import re

from fastapi import APIRouter, Header, Request
from fastapi.responses import Response

from .. import schemas
from ..access import RateLimit, check_admin
from ..draws import enter, results, run_draw
from ..errors import JSON, answer, error, refusal
from ..redis.keys import member_key
from .admin import ADMIN_ERRORS, json_answer
from .deps import ServiceDep

router = APIRouter(tags=["draws"])
_KEY = re.compile(r"^[A-Za-z0-9_.:-]{1,128}\Z")
_ENTERED = {
    "draw_id": "GALA-LUCKY",
    "member_id": "M00001",
    "entry": 1,
    "tier": "black_gold",
    "weight": 3,
    "points": 0,
    "balance": 1850,
    "at": 1794405600,
}
_UNKNOWN_DRAW = "No such draw in the rules (`unknown_draw`)"
_OPEN = {
    "algorithm": "rights-engine-draw-v1",
    "draw_id": "GALA-LUCKY",
    "name": "gala lucky draw",
    "room": "gala",
    "state": "open",
    "opens": 1794398400,
    "closes": 1794407400,
    "commitment": "9f2c5a0e4b1d7c3a8e6f0b2d4c6a8e0f1b3d5f7a9c1e3b5d7f9a1c3e5b7d9f1a",
    "weights": {"black_gold": 3, "gold": 2},
    "prizes": [{"id": "POINTS-500", "name": "500 points", "kind": "points", "points": 500, "stock": 5}],
    "entries_count": 1200,
    "max_entries": 100000,
}
_DRAWN = {
    **{k: v for k, v in _OPEN.items() if k != "max_entries"},
    "state": "drawn",
    "drawn_at": 1794408000,
    "seed": "5e1d0c7b3a2f49e8d6c5b4a39281706f5e4d3c2b1a09f8e7d6c5b4a392817060",
    "entries_count": 2,
    "entries": [
        {"member_id": "M00001", "entry": 1, "tier": "black_gold", "weight": 3},
        {"member_id": "M00002", "entry": 1, "tier": "silver", "weight": 1},
    ],
    "winners": [
        {"slot": 1, "prize": "POINTS-500", "member_id": "M00001", "entry": 1, "tier": "black_gold", "award": "awarded"},
        {"slot": 2, "prize": "POINTS-500", "member_id": "M00002", "entry": 1, "tier": "silver", "award": "awarded"},
    ],
}


def _draw(service, draw_id: str):
    """The draw of that id in the tables served (the home brand's first), with this
    request's keys made its brand's; None when no table has it."""
    for brand in (service.home, *sorted(service.brands)):
        table = service.table_of(brand)
        draw = next((d for d in table.model.draws if d.id == draw_id), None) if table is not None else None
        if draw is not None:
            service.enter_brand(brand)
            return draw
    return None


@router.post(
    "/v1/draws/{draw_id}/entries",
    response_model=schemas.DrawEntryResult,
    summary="Enter a draw, exactly once per Idempotency-Key",
    responses={
        200: answer("Entered: the entry's number, tier and weight, the points it cost", _ENTERED),
        400: refusal("Malformed JSON"),
        403: refusal(
            "The member is frozen (`member_frozen`), or a visitor: no tier, or a lapsed paid membership "
            "(`members_only`)"
        ),
        404: refusal(_UNKNOWN_DRAW + ", or no such member (`unknown_member`)"),
        409: refusal(
            "Not possible now (the error's code says why: `not_open` (before the window), `draw_closed` "
            "(after it, or once drawing began), `entries_used_up`, `draw_full`, `insufficient_points`, "
            "`points_debt`, `alliance_redeem_closed`: the draw's brand takes no alliance points), or `in_progress`: "
            "the first request with this key is still running"
        ),
        422: refusal(
            "A field is wrong, the Idempotency-Key header is missing, or the key was used with another "
            "body (`idempotency_key_reused`)"
        ),
        429: refusal("Too many attempts from this member this minute; see Retry-After"),
        503: refusal(schemas.UNAVAILABLE),
    },
)
async def post_entry(
    draw_id: str,
    body: schemas.DrawEntryRequest,
    request: Request,
    service: ServiceDep,
    idempotency_key: str | None = Header(None, alias="Idempotency-Key"),
) -> Response:
    """Atomically for the member: the draw's window is open, the member has entries left
    and the draw room for one, the member is not frozen and the balance covers the cost;
    then the cost is taken (oldest lots first, ledger reason `draw:<id>`) and the entry
    recorded with the member's tier and its weight. The answer, success or refusal, is
    kept for 48 hours under the member, the draw and the key: a replay returns it byte
    for byte. The draw's commitment exists before the first entry is recorded."""
    if idempotency_key is None or not _KEY.match(idempotency_key):
        return error(
            422, "invalid_request", "give an Idempotency-Key header: 1 to 128 of A-Z a-z 0-9 _ . : -", "Idempotency-Key"
        )
    draw = _draw(service, draw_id)
    if draw is None:
        return error(404, "unknown_draw", f"no draw {draw_id!r} in the rules", "draw_id")
    brand = service.rooms.get(draw.room, service.home)
    alliance = service.alliance_of(brand)
    if alliance is not None and draw.cost > 0 and brand not in alliance.redeem:
        return error(
            409,
            "alliance_redeem_closed",
            f"alliance {alliance.name}'s points are not spent on this brand's draws",
            "draw_id",
        )
    now = service.now(request.scope)
    reading = service.redis.pipeline(transaction=False)  # one key: one round trip, on a Cluster too
    reading.exists(member_key(body.member_id))
    reading.hmget(member_key(body.member_id), "tier", "paid_until")
    found, (tier, paid_until) = await service.redis_call(reading.execute())
    tier_text = (tier.decode() if isinstance(tier, bytes) else tier) or "visitor"
    lapsed = 0 < int(paid_until or 0) <= now  # a lapsed paid membership counts as a visitor, as when it is priced
    if found and (tier_text == "visitor" or lapsed):  # an unknown member is the script's to answer (404)
        return error(
            403,
            "members_only",
            "visitors cannot enter a draw" + (": the member's paid membership has lapsed" if lapsed else ""),
            "member_id",
        )
    done = await service.redis_call(
        enter(
            service.scripts,
            draw=draw,
            request={"member_id": body.member_id, "draw_id": draw.id},
            key=idempotency_key,
            now=now,
            tier=tier_text,
            rate=RateLimit.of(body.member_id, "draws", service.settings.redemptions_per_minute),
        )
    )
    headers = {"Retry-After": str(done.retry_after)} if done.retry_after is not None else None
    return Response(done.body, done.status, media_type=JSON, headers=headers)


@router.get(
    "/v1/draws/{draw_id}",
    response_model=schemas.DrawResults,
    response_model_exclude_none=True,
    summary="A draw's commitment, then its seed, entries and winners",
    responses={
        200: answer("The commitment and the counts; once drawn, the seed, the entries and the winners", _OPEN),
        404: refusal(_UNKNOWN_DRAW),
        503: refusal(schemas.UNAVAILABLE),
    },
)
async def get_results(draw_id: str, service: ServiceDep) -> Response:
    """Before the draw: the commitment (SHA-256 of the seed, made at the draw's first
    sight if not yet), its window, weights, prizes and the count of entries. Once drawn:
    the seed, every entry in canonical order and the winners, each with its award's
    state: everything `rights draw verify` recomputes the winners from."""
    draw = _draw(service, draw_id)
    if draw is None:
        return error(404, "unknown_draw", f"no draw {draw_id!r} in the rules", "draw_id")
    return json_answer(await service.redis_call(results(service.scripts, draw)))


@router.post(
    "/v1/draws/{draw_id}/draw",
    response_model=schemas.DrawResults,
    response_model_exclude_none=True,
    summary="Draw the winners (admin), once; again returns the same result",
    responses={
        200: answer("The results document: the seed revealed, every entry, the winners and their awards", _DRAWN),
        **ADMIN_ERRORS,
        404: refusal(_UNKNOWN_DRAW),
        409: refusal(
            "`not_closed`: the window has not closed yet; `settling`: entries under way are settling, "
            "retry after Retry-After seconds"
        ),
        503: refusal(schemas.UNAVAILABLE),
    },
)
async def post_draw(draw_id: str, request: Request, service: ServiceDep) -> Response:
    """After the window closed: the draw takes no more entries, entries left half done by
    a crash are settled, the winners are computed from the seed and the entry list and
    stored with the seed (revealed from now on), then each winner's prize is awarded
    once: goods as a pickup code on the winner's leader's pick list, a coupon as a grant,
    points through the ledger. Drawing again returns the stored result and finishes any
    award a crash left undone. The answer is the results document, pickup codes included."""
    check_admin(request)
    draw = _draw(service, draw_id)
    if draw is None:
        return error(404, "unknown_draw", f"no draw {draw_id!r} in the rules", "draw_id")
    now = service.now(request.scope)
    table = service.served(service.rooms.get(draw.room, service.home)).table
    done = await service.redis_call(run_draw(service.scripts, table, draw, now, service.pickup_secret()))
    if done.status == "not_closed":
        return Response(
            error(409, "not_closed", f"the draw closes in {done.retry_after} s", "draw_id").body,
            409,
            media_type=JSON,
            headers={"Retry-After": str(done.retry_after)},
        )
    if done.status == "settling":
        return Response(
            error(409, "settling", "entries under way are settling; retry", "draw_id").body,
            409,
            media_type=JSON,
            headers={"Retry-After": str(done.retry_after)},
        )
    return json_answer(await service.redis_call(results(service.scripts, draw, with_codes=True)))
