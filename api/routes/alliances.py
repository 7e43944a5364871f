"""Admin routes for alliances: declare one, list them, and the clearing between their
brands (api/alliance.py). The deployment's admin token only: an alliance spans brands."""

from __future__ import annotations

import asyncio
import time
from typing import Annotated

import orjson
from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from ..access import check_admin
from ..alliance import MAX_ALLIANCES, AllianceInvalid, clearing, overlap, parse
from ..errors import error, not_json_typed
from ..redis.connect import sync_client
from ..redis.keys import ALLIANCES_KEY
from ..service import LATEST_NOW
from .admin import ADMIN_ERRORS, instant_or_none, json_answer
from .deps import ServiceDep

router = APIRouter(tags=["alliances"])
_DECLARED = {
    "name": "grain-dairy",
    "brands": ["dairy", "grain"],
    "point_value": {"fen": 1, "points": 1},
    "values": {},
    "redeem": ["dairy", "grain"],
}
_CLEARING = {
    "alliance": "grain-dairy",
    "from": 1794326400,
    "to": 1794412800,
    "point_value": {"fen": 1, "points": 1},
    "members": 2,
    "entries": 5,
    "brands": [
        {
            "brand": "dairy",
            "issued": 7792,
            "redeemed": 0,
            "redeemed_elsewhere": 1500,
            "redeemed_here_from_others": 0,
            "taken_back": 0,
            "unattributed": 0,
            "owed_fen": 0,
            "owes_fen": 1500,
            "net_fen": -1500,
        },
        {
            "brand": "grain",
            "issued": 399,
            "redeemed": 1500,
            "redeemed_elsewhere": 0,
            "redeemed_here_from_others": 1500,
            "taken_back": 0,
            "unattributed": 0,
            "owed_fen": 1500,
            "owes_fen": 0,
            "net_fen": 1500,
        },
    ],
    "flows": [{"issued_by": "dairy", "redeemed_at": "grain", "points": 1500, "fen": 1500}],
    "balance_fen": 0,
}


@router.put(
    "/v1/alliances/{name}",
    summary="Declare an alliance: brands that share their members and one points pool",
    responses={
        200: {"content": {"application/json": {"example": _DECLARED}}},
        409: {"description": "A brand is in another alliance already, or there are 32 alliances"},
        422: {"description": "A field is wrong; the error names it"},
        **ADMIN_ERRORS,
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "example": {"brands": ["dairy", "grain"], "point_value": {"fen": 1, "points": 1}},
                }
            },
        }
    },
)
async def declare(name: str, request: Request, service: ServiceDep) -> Response:
    """The body: `brands` (2 or more; the first's members are the alliance's unless the
    home brand is among them), `point_value` ({fen, points}: what points are worth in
    clearing), optionally `values` (brand -> {fen, points} for the points that brand
    issues, when they are worth another amount) and `redeem` (the brands whose catalogues
    take the pool's points; default all). Declaring again replaces it. Every worker
    follows within a second or two."""
    check_admin(request)
    refused = not_json_typed(request)
    if refused is not None:
        return refused
    try:
        raw = orjson.loads(await request.body())
    except orjson.JSONDecodeError as exc:
        return error(400, "malformed_json", f"the body is not valid JSON: {exc}")
    try:
        alliance = parse(raw, name)
    except AllianceInvalid as exc:
        return error(422, "invalid_request", exc.reason, exc.field)
    unknown = [b for b in alliance.brands if service.served(b) is None]
    if unknown:  # perhaps pushed through another worker a moment ago: follow the deployment's brands first
        await service.redis_call(service.follow_brands())
        unknown = [b for b in alliance.brands if service.served(b) is None]
    if unknown:  # a misspelt brand would hide the members of the brands it joins
        served = ", ".join(sorted([service.home, *service.brands]))
        return error(
            422, "invalid_request", f"brand {unknown[0]!r} is not served here; the brands are {served}", "brands"
        )
    current = dict(service.alliances)
    clash = overlap(alliance, current)
    if clash:
        return error(409, "brand_in_another_alliance", clash, "brands")
    if name not in current and len(current) >= MAX_ALLIANCES:
        return error(409, "too_many_alliances", f"a deployment holds at most {MAX_ALLIANCES} alliances", "name")
    body = orjson.dumps(alliance.as_dict())
    await service.redis_call(service.redis.hset(ALLIANCES_KEY, name, body))
    await service.redis_call(service.follow_brands())
    return json_answer(alliance.as_dict())


@router.get(
    "/v1/alliances",
    summary="The alliances declared on this deployment",
    responses={200: {"content": {"application/json": {"example": {"alliances": [_DECLARED]}}}}, **ADMIN_ERRORS},
)
async def list_alliances(request: Request, service: ServiceDep) -> Response:
    check_admin(request)
    await service.redis_call(service.follow_brands())
    return json_answer({"alliances": [a.as_dict() for _, a in sorted(service.alliances.items())]})


From = Annotated[str | None, Query(alias="from", description="Unix seconds or ISO 8601; default: the beginning")]
To = Annotated[str | None, Query(alias="to", description="Unix seconds or ISO 8601, not included; default: now")]


@router.get(
    "/v1/alliances/{name}/clearing",
    summary="Clearing between an alliance's brands: issued, redeemed, and who owes whom",
    responses={
        200: {"content": {"application/json": {"example": _CLEARING}}},
        404: {"description": "No such alliance"},
        **ADMIN_ERRORS,
    },
)
async def get_clearing(
    name: str, request: Request, service: ServiceDep, since: From = None, until: To = None
) -> Response:
    """Read from the members' ledgers (entries by their instant `at`): per brand the
    points it issued and those redeemed at it, the flows of points issued by one brand and
    redeemed at another, and each brand's net in fen at the issuer's value per point (X
    owes Y for X's points redeemed at Y). `balance_fen`, the sum of the nets, is 0.
    Query: `from` and `to` (default: everything up to now)."""
    check_admin(request)
    bounds = []
    for field, text, default in (("from", since, 0), ("to", until, int(time.time()) + 1)):
        try:
            instant = instant_or_none(text)
        except (ValueError, OverflowError):
            return error(422, "invalid_request", "Unix seconds or an ISO 8601 time", field)
        if instant is not None and not 0 <= instant <= LATEST_NOW:
            return error(422, "invalid_request", f"an instant from 0 to {LATEST_NOW} (before the year 3000)", field)
        bounds.append(default if instant is None else instant)
    start, end = bounds
    if start > end:
        return error(422, "invalid_request", "`from` is after `to`", "from")
    await service.redis_call(service.follow_brands())
    alliance = service.alliances.get(name)
    if alliance is None:
        return error(404, "not_found", f"no alliance {name!r}", "name")
    url = service.settings.redis_url or ""

    def run() -> dict:
        client = sync_client(url, socket_timeout=30)
        try:
            return clearing(client, alliance, service.home, start, end)
        finally:
            client.close()

    return json_answer(await asyncio.to_thread(run))
