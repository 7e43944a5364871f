"""POST /v1/redemptions: an item redeemed with points, exactly once per Idempotency-Key
(the flow itself is api/redeem.py)."""

from __future__ import annotations

import re

from fastapi import APIRouter, Header, Request
from fastapi.responses import Response

from engine import codes

from .. import schemas
from ..access import RateLimit
from ..checkout.request import pricing
from ..errors import JSON, answer, error, refusal
from ..owned_coupons import expiry_of_grant
from ..redeem import redeem
from ..redis.keys import member_key
from ..service import Service
from ..store import record_from_hash

router = APIRouter(tags=["points"])
_KEY = re.compile(r"^[A-Za-z0-9_.:-]{1,128}\Z")
_LEADER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}\Z")
_REDEEMED = {
    "redemption_id": "OATMEAL-LOWGI",
    "member_id": "M00001",
    "points": 1800,
    "cash": 0,
    "balance": 50,
    "pickup_code": "P1~M00001~OATMEAL-LOWGI~L001~123456789~AbCdEfGhIjKlMnOpQrSt",
    "leader_id": "L001",
    "coupon_grant": None,
    "at": 1794405600,
}


@router.post(
    "/v1/redemptions",
    response_model=schemas.RedemptionResult,
    summary="Redeem an item with points, exactly once per Idempotency-Key",
    responses={
        200: answer("Redeemed: points taken, a unit of stock taken, a pickup code", _REDEEMED),
        400: refusal("Malformed JSON"),
        403: refusal("The member is frozen"),
        404: refusal("No such member or item"),
        409: refusal(
            "Not possible now (the error's code says why: `out_of_stock`, "
            "`insufficient_points`, `points_debt`, `member_limit_reached`, "
            "`outside_window`, `tier_too_low`, `tier_not_eligible`, `segment_not_eligible`, "
            "`not_in_room`, `task_locked`, `grants_full`, `alliance_redeem_closed`), or `in_progress`: the first "
            "request with this "
            "key is still running"
        ),
        422: refusal(
            "A field is wrong, the Idempotency-Key header is missing, or the "
            "key was used with another body (`idempotency_key_reused`)"
        ),
        429: refusal("Too many attempts from this member this minute; see Retry-After"),
        503: refusal(schemas.UNAVAILABLE),
    },
)
async def post_redemption(
    body: schemas.RedemptionRequest,
    request: Request,
    idempotency_key: str | None = Header(None, alias="Idempotency-Key"),
) -> Response:
    """Atomically for the member: the window is open, the unlock is met, the tier is
    enough, the per-member limit and the stock allow it and the balance covers it;
    then the points are taken (oldest lots first), one unit of stock is taken, a
    ledger entry is written and a signed pickup code is issued and put on the member's
    pickup leader's list. The answer, success or refusal, is kept for 48 hours under
    the member and the key: a replay returns it byte for byte, and is not counted
    against the member's attempts a minute."""
    service: Service = request.app.state.service  # no dependency to solve on this hot route
    if idempotency_key is None or not _KEY.match(idempotency_key):
        return error(
            422, "invalid_request", "give an Idempotency-Key header: 1 to 128 of A-Z a-z 0-9 _ . : -", "Idempotency-Key"
        )
    now = service.now(request.scope)
    table = service.enter_brand(body.brand, body.room).table
    assert table is not None
    index = table.redemption_index.get(body.redemption_id)
    if index is None:
        return error(404, "unknown_redemption", f"no redemption {body.redemption_id!r} in the rules", "redemption_id")
    if body.room is not None and body.room not in table.room_index:
        return error(422, "invalid_request", f"unknown room {body.room!r}", "room")
    item = table.model.redemptions[index]
    alliance = service.alliance_of(service.brand_of(body.brand, body.room) or service.home)
    if alliance is not None and item.points > 0 and service.brand_of(body.brand, body.room) not in alliance.redeem:
        return error(
            409,
            "alliance_redeem_closed",
            f"alliance {alliance.name}'s points are not redeemed in this brand's catalogue",
            "redemption_id",
        )
    raw = await service.redis_call(service.redis.hgetall(member_key(body.member_id)))
    record = record_from_hash(body.member_id, raw)
    status, hint = "ok", 0
    leader = None
    if record is not None:
        _, member = pricing(record, now)
        verdict = service.evaluator.quote(table, member, body.room, now, []).to_raw().redemptions[index]
        status, hint = codes.REASONS[verdict[0]] or "ok", verdict[1]
        leader = record.leader if record.leader and _LEADER.match(record.leader) else None
    answer = await service.redis_call(
        redeem(
            service.redis,
            service.scripts,
            request=body.model_dump(mode="json"),
            key=idempotency_key,
            now=now,
            item=item,
            engine_status=status,
            engine_hint=hint,
            leader_id=leader,
            secret=service.pickup_secret(),
            rate=RateLimit.of(body.member_id, "redemptions", service.settings.redemptions_per_minute),
            grant_expires=expiry_of_grant(table, item, now),
            one_node=service.one_node,
        )
    )
    if answer.status == 200 and not answer.replayed:
        service.dashboard.redeemed(body.room, item.id, item.points)
    headers = {"Retry-After": str(answer.retry_after)} if answer.retry_after is not None else None
    return Response(answer.body, answer.status, media_type=JSON, headers=headers)
