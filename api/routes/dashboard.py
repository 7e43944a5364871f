"""The live session's big screen: the page, and the figures it polls (api/dashboard.py)."""

from __future__ import annotations

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from ..dashboard import PAGE, data
from ..errors import error
from ..pages import guarded
from .deps import ServiceDep

router = APIRouter(tags=["operations"])


@router.get(
    "/dashboard",
    response_class=HTMLResponse,
    summary="The live session's big screen (HTML, no external assets)",
    responses={200: {"content": {"text/html": {"example": "<!doctype html>..."}}}},
)
async def dashboard_page() -> HTMLResponse:
    return guarded(HTMLResponse(PAGE.read_text(encoding="utf-8")))


@router.get(
    "/dashboard/data",
    summary="The figures of the big screen for one room",
    responses={
        200: {
            "content": {
                "application/json": {
                    "example": {
                        "room": "gala",
                        "rules_version": "dairy-gala@a534c9bded50",
                        "quotes": 1200,
                        "gmv_fen": 52_340_000,
                        "orders": 18_400,
                        "points_issued": 2_460_000,
                        "points_redeemed": 310_000,
                        "top_leaders": [{"id": "L001", "name": "人民广场 People's Square", "orders": 412}],
                        "per_minute": {
                            "minutes": [29937120, 29937121],
                            "gmv_fen": [81_000, 96_500],
                            "quotes": [900, 1_140],
                        },
                        "active_by_tier": {"visitor": 10, "silver": 40, "gold": 80, "black_gold": 12},
                        "stock_alerts": [
                            {
                                "item": "FLASH-EGGS",
                                "kind": "redemption",
                                "name": "flash eggs",
                                "left": 6,
                                "threshold": 10,
                                "state": "low",
                            }
                        ],
                    }
                }
            }
        },
        422: {"description": "Unknown room"},
    },
)
async def dashboard_data(request: Request, service: ServiceDep, room: str | None = None) -> Response:
    """Polled every second by /dashboard; `room` (any brand's) defaults to the first room of
    the home brand's rules."""
    assert service.table is not None
    home = [r.id for r in service.table.model.rooms]
    room = room or (home[0] if home else "")
    if room not in service.rooms:
        return error(422, "invalid_request", f"unknown room {room!r}", "room")
    service.enter_brand(None, room)  # the room's brand: its stock
    now = service.now(request.scope)
    return Response(orjson.dumps(await service.redis_call(data(service, room, now))), media_type="application/json")
