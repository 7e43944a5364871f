"""A pickup leader's back office: its group ranked by points, its pick list, its new
neighbours (the reads are api/leader_office.py). Scoped like the feed: a leader key for
this leader (or `leader:*`)."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Path, Query
from fastapi.responses import Response

from .. import leader_office, schemas
from ..errors import JSON, answer, error, refusal
from ..store import MEMBER_ID
from .deps import ServiceDep

router = APIRouter(tags=["leaders"])

_RANKING = {
    "leader_id": "L001",
    "members": 3,
    "complete": True,
    "entries": [
        {"rank": 1, "member_id": "M00007", "name_masked": "王*明", "points": 5200, "tier": "black_gold"},
        {"rank": 2, "member_id": "M00001", "name_masked": "张*", "points": 2360, "tier": "gold"},
        {"rank": 3, "member_id": "M00042", "name_masked": "A*", "points": 80, "tier": "visitor"},
    ],
}
_REDEMPTIONS = {
    "leader_id": "L001",
    "entries": [
        {
            "member_id": "M00001",
            "redemption_id": "OATMEAL-LOWGI",
            "state": "awaiting_pickup",
            "redeemed_at": 1794406200,
            "handed_at": None,
        },
        {
            "member_id": "M00007",
            "redemption_id": "EGGS-FLASH",
            "state": "handed_over",
            "redeemed_at": 1794405900,
            "handed_at": 1794492000,
        },
    ],
}
_NEIGHBOURS = {
    "leader_id": "L001",
    "entries": [{"member_id": "M00001", "name_masked": "张*", "order_id": "O-20261111-000001", "at": 1794405600}],
}
_LEADER = Path(description="The leader's id, as imported by `rights leaders import`.")
_ERRORS: dict[int | str, dict[str, Any]] = {
    403: refusal("`forbidden_scope`: the API key does not act for this leader"),
    404: refusal("`unknown_leader`: no leader with this id was imported"),
    422: refusal("A parameter is wrong (`leader_id`, `top` or `limit`); the error names it"),
    503: refusal(schemas.UNAVAILABLE),
}


async def _refused(service, leader_id: str) -> Response | None:
    if not MEMBER_ID.match(leader_id):
        return error(422, "invalid_request", "not a leader id", "leader_id")
    if not await service.redis_call(leader_office.leader_known(service.redis, leader_id)):
        return error(404, "unknown_leader", f"no leader {leader_id!r}", "leader_id")
    return None


@router.get(
    "/v1/leaders/{leader_id}/ranking",
    response_model=schemas.LeaderRanking,
    summary="A pickup leader's group ranked by points, names masked",
    responses={200: answer("The ranking", _RANKING), **_ERRORS},
)
async def leader_ranking(
    service: ServiceDep,
    leader_id: str = _LEADER,
    top: int = Query(20, ge=1, le=100, description="How many of the first ranks to answer (1-100)."),
) -> Response:
    """The members bound to this leader, by points balance (most first; equal balances
    by member id), as the balances stand now: each with its rank, id, masked name,
    points and tier. Frozen members are left out. Computed when read from the leader's
    group (at most 5,000 members read; `complete` says whether all were)."""
    refused = await _refused(service, leader_id)
    if refused is not None:
        return refused
    ranked = await service.redis_call(leader_office.ranking(service.redis, leader_id, top))
    return Response(orjson.dumps(ranked), media_type=JSON)


@router.get(
    "/v1/leaders/{leader_id}/redemptions",
    response_model=schemas.LeaderRedemptions,
    summary="What members redeemed for pickup at a leader, and whether it was handed over, newest first",
    responses={200: answer("The leader's pick list", _REDEMPTIONS), **_ERRORS},
)
async def leader_redemptions(
    service: ServiceDep,
    leader_id: str = _LEADER,
    limit: int = Query(50, ge=1, le=500, description="How many entries (1-500)."),
) -> Response:
    """The leader's pick list (what `POST /v1/redemptions` lists and `POST
    /v1/pickups/verify` hands over), newest first, for the 90 days it keeps a code. The
    pickup codes themselves are not shown: the member shows theirs at pickup."""
    refused = await _refused(service, leader_id)
    if refused is not None:
        return refused
    listed = await service.redis_call(leader_office.redemptions(service.redis, leader_id, limit))
    return Response(orjson.dumps(listed), media_type=JSON)


@router.get(
    "/v1/leaders/{leader_id}/neighbours",
    response_model=schemas.LeaderNeighbours,
    summary="A pickup leader's new neighbours, newest first, names masked",
    responses={200: answer("The new neighbours", _NEIGHBOURS), **_ERRORS},
)
async def leader_neighbours(
    service: ServiceDep,
    leader_id: str = _LEADER,
    limit: int = Query(50, ge=1, le=500, description="How many entries (1-500)."),
) -> Response:
    """Members bound to this leader by their first order, newest first: the feed's
    `new_neighbour` entries (the newest 1,000 are kept) with each member's masked name."""
    refused = await _refused(service, leader_id)
    if refused is not None:
        return refused
    found = await service.redis_call(leader_office.neighbours(service.redis, leader_id, limit))
    return Response(orjson.dumps(found), media_type=JSON)
