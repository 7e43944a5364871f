"""The routes operators and probes use: liveness, readiness, metrics, and a no-op."""

from __future__ import annotations

import asyncio
import contextlib
import time

import orjson
from fastapi import APIRouter
from fastapi.responses import Response

from ..brands import enter
from ..errors import JSON
from ..metrics import render
from ..redis.keys import METRICS_KEY
from ..redis.readiness import write_refusal
from ..stock_levels import levels
from .deps import ServiceDep

router = APIRouter(tags=["operations"])


@router.get(
    "/v1/noop",
    summary="Does nothing: the baseline of the API benchmark",
    responses={200: {"content": {JSON: {"example": {"ok": True}}}}},
)
async def noop() -> Response:
    return Response(b'{"ok":true}', media_type=JSON)


@router.get(
    "/healthz", summary="The process is alive", responses={200: {"content": {JSON: {"example": {"alive": True}}}}}
)
async def healthz() -> Response:
    return Response(b'{"alive":true}', media_type=JSON)


@router.get(
    "/readyz",
    summary="Redis answers and takes writes, and the rules are loaded",
    responses={
        200: {
            "content": {
                JSON: {
                    "example": {
                        "ready": True,
                        "redis": True,
                        "rules_version": "dairy-gala@a534c9bded50",
                        "reason": None,
                    }
                }
            }
        },
        503: {
            "content": {
                JSON: {
                    "example": {
                        "ready": False,
                        "redis": False,
                        "rules_version": "dairy-gala@a534c9bded50",
                        "reason": "Redis refuses writes: OutOfMemoryError: command not allowed when used "
                        "memory > 'maxmemory'.",
                    }
                }
            }
        },
    },
)
async def readyz(service: ServiceDep) -> Response:
    """Ready when Redis answers within RIGHTS_REDIS_TIMEOUT_MS and takes a write on
    every primary (a Redis over its `maxmemory`, failing its saves or a read-only
    replica refuses writes while it still answers PING), and a rule table is loaded.
    `reason` says what is wrong."""
    redis_reason = None
    if service.health is not None and not service.health.answering:
        redis_reason = f"Redis does not answer within {service.settings.redis_timeout_ms} ms"
    else:
        try:  # a busy worker waits for the probe's answer as any call does
            redis_reason = await asyncio.wait_for(write_refusal(service.redis, service.cluster), service.patience)
        except Exception as exc:
            redis_reason = f"Redis does not answer: {type(exc).__name__}"
    brand_problem = next(
        (f"brand {b}: {s.rules_problem}" for b, s in sorted(service.brands.items()) if s.rules_problem), None
    ) or next((f"brand {b}: {why}" for b, why in sorted(service.unserved.items())), None)
    reason = (
        redis_reason
        or service.rules_problem
        or brand_problem
        or (None if service.table is not None else "no rule table loaded")
    )
    body = {
        "ready": reason is None,
        "redis": redis_reason is None,
        "rules_version": service.table.version if service.table else None,
        "reason": reason,
    }
    return Response(orjson.dumps(body), 200 if reason is None else 503, media_type=JSON)


@router.get(
    "/metrics",
    summary="Prometheus metrics, summed over every worker",
    responses={200: {"content": {"text/plain": {"example": "rights_requests_total{...} 12\n"}}}},
)
async def metrics(service: ServiceDep) -> Response:
    snapshots = []
    with contextlib.suppress(Exception):
        await service.publish_snapshot()
        raw = await asyncio.wait_for(service.redis.hgetall(METRICS_KEY), service.timeout)
        snapshots = [orjson.loads(v) for v in raw.values()]
    if not snapshots:
        snapshots = [orjson.loads(service.metrics.snapshot())]
    now = int(time.time())

    async def brand_stock(brand: str, redemptions: list) -> list:
        enter(service.scope(brand))  # this task's keys are the brand's
        return [(brand, item, n) for item, n in await levels(service.redis, service.scripts, redemptions, now)]

    served = [(brand, service.served(brand)) for brand in [service.home, *sorted(service.brands)]]
    reads = [brand_stock(brand, s.table.model.redemptions) for brand, s in served if s is not None and s.table]
    stock: list = []  # (brand, item, units left) of every brand served, read together within one timeout
    with contextlib.suppress(Exception):  # a scrape still answers without Redis
        for found in await asyncio.wait_for(asyncio.gather(*reads), service.timeout):
            stock += found
    return Response(render(snapshots, service.metrics, stock), media_type="text/plain; version=0.0.4")
