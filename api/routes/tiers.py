"""A member's tier history under tier progression (api/progression.py)."""

from __future__ import annotations

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response

from engine.progression import HISTORY_KEEP

from .. import progression
from ..errors import JSON, MEMBER_ERRORS, answer, error
from ..redis.keys import member_key, tier_history_key
from ..store import MEMBER_ID, record_from_hash
from .deps import BrandDep, ServiceDep

router = APIRouter(tags=["tiers"])
_EXAMPLE = {
    "member_id": "M00001",
    "tier": "silver",
    "tier_since": 1794405600,
    "review_at": 1826035200,
    "history": [
        {"at": 1794405600, "from": "visitor", "to": "silver", "reason": "task:watch_days", "ref": "ev:watch-M00001-3"}
    ],
}


@router.get(
    "/v1/members/{member_id}/tiers",
    summary="A member's tier, its next downgrade review and its tier changes, newest first",
    responses={200: answer("The tier and its history", _EXAMPLE), **MEMBER_ERRORS},
)
async def get_tiers(request: Request, member_id: str, service: ServiceDep, brand: BrandDep) -> Response:
    """The member's tier now (a due review runs first, as on any touch), when tier
    progression last changed it, when its next review is (null: none scheduled), and the
    newest changes (at most 50): instant, from, to, reason (`task:<name>`, `spend`,
    `growth` or `review`) and the request that caused it (`ev:<event id>`,
    `ord:<order id>`, or null for a review on a quote or a read)."""
    if not MEMBER_ID.match(member_id):
        return error(422, "invalid_request", "not a member id", "member_id")
    now = service.now(request.scope)
    record = record_from_hash(member_id, await service.redis_call(service.redis.hgetall(member_key(member_id))))
    if record is None:
        return error(404, "unknown_member", f"no member {member_id!r}", "member_id")
    record = await service.reviewed_member(record, now, brand.table)
    assert record is not None
    raw = await service.redis_call(service.redis.lrange(tier_history_key(member_id), 0, HISTORY_KEEP - 1))
    page = {
        "member_id": member_id,
        "tier": record.tier or "visitor",
        "tier_since": record.tier_since or None,
        "review_at": record.review_at or None,
        "history": progression.parse_history(raw),
    }
    return Response(orjson.dumps(page), media_type=JSON)
