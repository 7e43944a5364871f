"""POST /v1/eligibility in OpenAPI: the documented twin of the route the front serves.

api/front.py answers every POST /v1/eligibility before FastAPI sees it (the decision is
api/checkout/decide.py); the decorated route below never runs for a POST and only
documents the route, from the same models. Any other method reaches it and gets 405.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from .. import schemas
from ..errors import ERRORS, JSON

router = APIRouter()

_ELIGIBILITY_EXAMPLE = {
    "rules_version": "dairy-gala@a534c9bded50",
    "at": 1794402000,
    "member": {
        "id": "M00001",
        "status": "member",
        "tier": "gold",
        "member_tier": "gold",
        "points": 1850,
        "frozen": False,
        "paid_until": None,
    },
    "tier": "gold",
    "room": {"id": "gala", "live": True},
    "lines": [
        {
            "sku": "MILK-1L",
            "qty": 2,
            "eligible": True,
            "reason": None,
            "hint": None,
            "unit_price": 1290,
            "price_layer": "live",
            "amount": 2580,
            "discount": 387,
            "final": 2193,
            "coupons": [{"id": "GOLD-GALA-85", "amount": 387}],
        }
    ],
    "coupons_applied": [
        {"id": "GOLD-GALA-85", "name": "金卡盛典全场85折 gold 15% off storewide", "kind": "percent_off", "amount": 387}
    ],
    "coupons_not_applied": [
        {
            "id": "SPEND199-SAVE30",
            "name": "满199减30 spend 199 save 30",
            "kind": "threshold_off",
            "reason": "threshold_not_met",
            "hint": {"code": "add_amount", "value": 17320, "text": "add 173.20 yuan more of these items"},
        }
    ],
    "coupon_search": {"combinations": 1, "exact": True},
    "totals": {"subtotal": 2580, "discount": 387, "payable": 2193},
    "points": {
        "total": 706,
        "base": 219,
        "per_yuan": 10,
        "multipliers": [
            {"source": "tier", "id": "gold", "percent": 150},
            {"source": "room", "id": "gala", "percent": 200},
        ],
        "after_multipliers": 656,
        "bonuses": [{"source": "room_order", "id": "gala", "points": 50}],
        "note": None,
    },
    "redemptions": [
        {
            "id": "OATMEAL-LOWGI",
            "name": "低GI燕麦 low-GI oatmeal",
            "points": 1800,
            "cash": 0,
            "available": True,
            "reason": None,
            "hint": None,
        }
    ],
    "join_offer": None,
}


@router.post(
    "/v1/eligibility",
    tags=["checkout"],
    response_model=None,
    summary="What this member may buy, at what price, with which coupons, earning what",
    responses={
        200: {
            "model": schemas.EligibilityResponse,
            "description": "The quote",
            "content": {JSON: {"example": _ELIGIBILITY_EXAMPLE}},
        },
        **ERRORS,
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                JSON: {
                    "schema": {"$ref": "#/components/schemas/EligibilityRequest"},
                    "examples": {
                        "by OpenID": {"value": schemas.ELIGIBILITY_REQUEST_EXAMPLE},
                        "visitor": {"value": {"room": "gala", "lines": [{"sku": "MILK-1L", "qty": 1}]}},
                        "by member id, pickup": {
                            "value": {
                                "member_id": "M00002",
                                "room": "gala",
                                "lines": [{"sku": "CHEESE-LTD", "qty": 1}],
                                "fulfillment": "pickup",
                            }
                        },
                    },
                }
            },
        }
    },
)
async def eligibility_documented() -> Response:  # pragma: no cover - the front answers every POST
    """The checkout calls this on every cart change. The member is found by `member_id`
    or a channel `identity` (neither: a visitor); an unknown identity is a visitor too.
    The instant is the server's clock. A lapsed paid membership is priced as a visitor
    and says so; visitors and lapsed members get a `join_offer` for this very cart."""
    raise RuntimeError("answered by api/front.py before the router")
