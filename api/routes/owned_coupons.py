"""GET /v1/members/{id}/coupons: the coupons a member was granted (api/owned_coupons.py)."""

from __future__ import annotations

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response

from .. import schemas
from ..errors import JSON, MEMBER_ERRORS, answer, error
from ..owned_coupons import grant_list
from ..redis.keys import grants_key, member_key
from ..store import MEMBER_ID
from .deps import BrandDep, ServiceDep

router = APIRouter(tags=["points"])
_EXAMPLE = {
    "member_id": "M00001",
    "grants": [
        {
            "id": "g1",
            "coupon": "BIG-50",
            "granted": 1794405600,
            "expires": 1796918400,
            "state": "valid",
            "order_id": None,
            "used_at": None,
        }
    ],
}


@router.get(
    "/v1/members/{member_id}/coupons",
    response_model=schemas.CouponGrants,
    summary="The coupons a member was granted (bought with points), oldest first",
    responses={200: answer("The member's grants", _EXAMPLE), **MEMBER_ERRORS},
)
async def get_owned_coupons(request: Request, member_id: str, service: ServiceDep, brand: BrandDep) -> Response:
    """Every grant the member holds a record of: valid (an order may use it now), used (by
    the order named; its refund gives it back while it holds) or expired. A record is
    kept 90 days after its grant lapses, and a member keeps at most 200."""
    if not MEMBER_ID.match(member_id):
        return error(422, "invalid_request", "not a member id", "member_id")
    pipe = service.redis.pipeline(transaction=False)
    pipe.exists(member_key(member_id))
    pipe.hgetall(grants_key(member_id))
    known, raw = await service.redis_call(pipe.execute())
    if not known:
        return error(404, "unknown_member", f"no member {member_id!r}", "member_id")
    page = {"member_id": member_id, "grants": grant_list(raw, service.now(request.scope))}
    return Response(orjson.dumps(page), media_type=JSON)
