"""POST /v1/rules/simulate: carts quoted under a candidate table and/or at another
instant, against the active table, without touching live traffic (admin)."""

from __future__ import annotations

import asyncio
import time

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response

from engine.inputs import QuoteInputError
from engine.rules.load import RulesInvalid, compile_source

from ..access import check_admin
from ..brands import BRAND_ID, BRAND_ID_HELP, enter
from ..checkout.request import RequestInvalid
from ..errors import JSON, error, not_json_typed
from ..redis.keys import rules_keys
from ..rules_store import recent_samples
from ..service import LATEST_NOW
from ..simulate import MAX_CARTS, MAX_REPLAY, simulate
from .admin import ADMIN_ERRORS, instant_or_none, json_answer
from .deps import ServiceDep
from .rules import BrandParam

router = APIRouter(tags=["rules"])


@router.post(
    "/v1/rules/simulate",
    summary="Quote carts under a candidate table and/or at an instant, against the active table",
    responses={
        200: {
            "content": {
                JSON: {
                    "example": {
                        "active": "dairy-gala@a534c9bded50",
                        "candidate": "cheaper-milk@9c1d2e3f4a5b",
                        "at": 1794402000,
                        "carts": 1,
                        "changed": 1,
                        "payable_change": -200,
                        "points_change": -30,
                        "results": [
                            {
                                "cart": 0,
                                "active": {
                                    "version": "dairy-gala@a534c9bded50",
                                    "payable": 2193,
                                    "points": 706,
                                    "coupons": ["GOLD-GALA-85"],
                                },
                                "candidate": {
                                    "version": "cheaper-milk@9c1d2e3f4a5b",
                                    "payable": 1993,
                                    "points": 676,
                                    "coupons": ["GOLD-GALA-85"],
                                },
                                "change": {"payable": -200, "points": -30, "coupons_added": [], "coupons_removed": []},
                            }
                        ],
                    }
                }
            }
        },
        422: {"description": "The candidate table or a cart is wrong"},
        404: {"description": "No such brand (`brand`) on this deployment"},
        **ADMIN_ERRORS,
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                JSON: {
                    "schema": {
                        "type": "object",
                        "properties": {
                            "rules": {
                                "type": "string",
                                "description": "a candidate table (YAML or JSON text); default: the active table",
                            },
                            "at": {"type": ["integer", "string"], "description": "the instant (Unix s or ISO 8601)"},
                            "carts": {
                                "type": "array",
                                "maxItems": 1000,
                                "items": {"type": "object"},
                                "description": "eligibility requests; `member` may be an inline snapshot",
                            },
                            "replay": {
                                "type": "integer",
                                "minimum": 0,
                                "maximum": 10000,
                                "description": "also replay this many of the latest real eligibility requests",
                            },
                        },
                    },
                    "example": {
                        "rules": "...",
                        "at": "2026-11-11T21:00:00+08:00",
                        "carts": [
                            {
                                "member": {"tier": "gold", "points": 1850},
                                "room": "gala",
                                "lines": [{"sku": "MILK-1L", "qty": 2}],
                            }
                        ],
                        "replay": 100,
                    },
                }
            },
        }
    },
)
async def simulate_route(request: Request, service: ServiceDep, brand: BrandParam = None) -> Response:
    brand = service.home if brand is None else brand
    if not BRAND_ID.match(brand):
        return error(422, "invalid_request", f"must be {BRAND_ID_HELP}", "brand")
    check_admin(request, brand)
    holder = service.served(brand)
    if holder is None:
        return error(404, "not_found", f"no brand {brand!r} on this deployment", "brand")
    enter(service.scope(brand))  # the carts' members are this brand's
    refused = not_json_typed(request)
    if refused is not None:
        return refused
    try:
        data = orjson.loads(await request.body())
    except orjson.JSONDecodeError as exc:
        return error(400, "malformed_json", f"the body is not valid JSON: {exc}")
    if not isinstance(data, dict) or not set(data) <= {"rules", "at", "carts", "replay"}:
        return error(422, "invalid_request", "an object with rules, at, carts and/or replay")
    carts, replay = data.get("carts", []), data.get("replay", 0)
    if not isinstance(carts, list) or len(carts) > MAX_CARTS:
        return error(422, "invalid_request", f"a list of at most {MAX_CARTS} carts", "carts")
    if type(replay) is not int or not 0 <= replay <= MAX_REPLAY:
        return error(422, "invalid_request", f"a whole number from 0 to {MAX_REPLAY}", "replay")
    try:
        at = instant_or_none(str(data["at"])) if data.get("at") is not None else None
    except (ValueError, OverflowError):
        return error(422, "invalid_request", "Unix seconds or an ISO 8601 time", "at")
    if at is not None and not 0 <= at <= LATEST_NOW:
        return error(422, "invalid_request", f"an instant from 0 to {LATEST_NOW} (Unix seconds)", "at")
    active = holder.table
    candidate = active
    if data.get("rules") is not None:
        if not isinstance(data["rules"], str):
            return error(422, "invalid_request", "the candidate table as YAML or JSON text", "rules")
        try:
            candidate = await asyncio.to_thread(compile_source, data["rules"].encode(), "candidate")
        except RulesInvalid as exc:
            problems = [p.as_dict() for p in exc.problems]
            return json_answer(
                {
                    "error": {"code": "invalid_rules", "field": "rules", "reason": f"{len(problems)} error(s)"},
                    "problems": problems,
                },
                422,
            )
    keys = rules_keys("" if brand == service.home else brand)
    samples = await service.redis_call(recent_samples(service.redis, replay, keys)) if replay else []
    try:
        result = await simulate(
            service.evaluator, active, candidate, service.find_member, carts, samples, at, int(time.time()), brand
        )
    except RequestInvalid as exc:
        return error(422, exc.code, exc.reason, exc.field)
    except QuoteInputError as exc:
        return error(422, "invalid_request", exc.reason, exc.field)
    return json_answer(result)
