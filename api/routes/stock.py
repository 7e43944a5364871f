"""The stock that is running low: GET /v1/stock/alerts (api/stock_levels.py)."""

from __future__ import annotations

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response

from ..stock_levels import alerts
from .deps import BrandDep, ServiceDep

router = APIRouter(tags=["redemptions"])

EXAMPLE = {
    "at": 1794397200,
    "alerts": [
        {
            "item": "TRIAL-WEEKLY",
            "kind": "redemption",
            "name": "weekly trial pack",
            "left": 12,
            "threshold": 20,
            "state": "low",
        },
        {
            "item": "FLASH-EGGS",
            "kind": "redemption",
            "name": "flash eggs",
            "left": 0,
            "threshold": 10,
            "state": "sold_out",
        },
    ],
}


@router.get(
    "/v1/stock/alerts",
    summary="The redemption items whose stock left is at or below their low_stock",
    responses={
        200: {"content": {"application/json": {"example": EXAMPLE}}},
        403: {"description": "The key has no `backend` scope (`forbidden_scope`)"},
    },
)
async def stock_alerts(request: Request, service: ServiceDep, brand: BrandDep) -> Response:
    """Every item that sets `low_stock` and has that many or fewer left, from the counts
    in Redis (an item released on a schedule with its release of the current period
    applied): `state` is `low`, or `sold_out` when none is left. `at` is the instant
    read for (X-Rights-Now where allowed). Needs the `backend` scope when keys are set."""
    table = brand.table
    assert table is not None
    now = service.now(request.scope)
    found = await service.redis_call(alerts(service.redis, service.scripts, table.model.redemptions, now))
    return Response(orjson.dumps({"at": now, "alerts": found}), media_type="application/json")
