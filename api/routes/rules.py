"""Admin routes for rule tables: push (now or at an instant), look, fetch, roll back.

Every route here needs `Authorization: Bearer <RIGHTS_ADMIN_TOKEN>`: none given is 401,
a wrong one 403; the token is compared in constant time and never logged. Without a
configured token the admin routes are off (403).
"""

from __future__ import annotations

import asyncio
import time

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response

from engine.rules.diff import describe, diff_tables
from engine.rules.load import RulesInvalid, check_source, compile_source

from ..access import check_admin
from ..errors import JSON, error
from ..rules_store import RulesStore
from ..rules_sync import RulesSync
from ..service import Service
from .admin import ADMIN_ERRORS, instant_or_none, json_answer
from .deps import ServiceDep

router = APIRouter(tags=["rules"])
MAX_SCHEDULE_DAYS = 366  # how far ahead a push may be scheduled
_PUSH_EXAMPLE = {
    "version": "gala-v2@9c1d2e3f4a5b",
    "author": "ops-li",
    "label": "gala-v2",
    "pushed_at": 1794398400,
    "activated_at": 1794398400,
    "format": "yaml",
    "activated": True,
}


def _sync(service: Service) -> RulesSync:
    assert service.rules is not None, "the service is not started"
    return service.rules


def _store(service: Service) -> RulesStore:
    return _sync(service).store


@router.post(
    "/v1/rules",
    status_code=201,
    summary="Push a rule table: validated and compiled before anything changes",
    responses={
        201: {"content": {JSON: {"example": _PUSH_EXAMPLE}}},
        422: {
            "description": "The table has errors; all of them, with places and lines",
            "content": {
                JSON: {
                    "example": {
                        "error": {"code": "invalid_rules", "field": None, "reason": "1 error"},
                        "problems": [
                            {"place": "coupons[3].window.to", "line": 88, "message": "must end after it starts"}
                        ],
                    }
                }
            },
        },
        **ADMIN_ERRORS,
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/yaml": {
                    "schema": {"type": "string"},
                    "example": "tiers:\n  - {id: gold}\nproducts:\n  - {sku: MILK-1L, price: 1590}\n",
                },
                JSON: {"schema": {"type": "object"}},
            },
        },
        "parameters": [
            {"name": "author", "in": "query", "required": True, "schema": {"type": "string"}, "example": "ops-li"},
            {"name": "label", "in": "query", "required": False, "schema": {"type": "string"}, "example": "gala-v2"},
            {
                "name": "activate_at",
                "in": "query",
                "required": False,
                "schema": {"type": "string"},
                "example": "2026-11-11T20:00:00+08:00",
                "description": "Unix seconds or ISO 8601, at most 366 days ahead; without it, or in the "
                "past, the table is active at once",
            },
        ],
    },
)
async def push(request: Request, service: ServiceDep) -> Response:
    check_admin(request)
    author = request.query_params.get("author", "").strip()
    if not author or len(author) > 64:
        return error(422, "invalid_request", "who is pushing: 1 to 64 characters", "author")
    label = request.query_params.get("label", "").strip()
    try:
        activate_at = instant_or_none(request.query_params.get("activate_at"))
    except (ValueError, OverflowError):
        return error(422, "invalid_request", "Unix seconds or an ISO 8601 time", "activate_at")
    if activate_at is not None and not 0 <= activate_at <= time.time() + MAX_SCHEDULE_DAYS * 86400:
        return error(
            422,
            "invalid_request",
            f"at most {MAX_SCHEDULE_DAYS} days from now (an instant in the past activates at once)",
            "activate_at",
        )
    source = await request.body()
    try:
        table = await asyncio.to_thread(compile_source, source, label)
    except RulesInvalid as exc:
        problems = [p.as_dict() for p in exc.problems]
        return json_answer(
            {
                "error": {
                    "code": "invalid_rules",
                    "field": None,
                    "reason": f"{len(problems)} error{'s' if len(problems) != 1 else ''}",
                },
                "problems": problems,
            },
            422,
        )
    now = int(time.time())
    record, seq = await service.redis_call(
        _store(service).push(table.version, source, author, table.version.split("@")[0], activate_at, now)
    )
    activated = "activated_at" in record
    if activated:
        service.swap(table, seq)
    else:
        _sync(service).prepared[table.version] = table
    return json_answer({**record, "activated": activated}, 201)


@router.get(
    "/v1/rules",
    summary="The active version, the scheduled ones, and who serves which",
    responses={
        200: {
            "content": {
                JSON: {
                    "example": {
                        "active": {"version": "gala-v2@9c1d2e3f4a5b", "author": "ops-li", "activated_at": 1794398400},
                        "scheduled": [],
                        "workers": {"host:1234": {"version": "gala-v2@9c1d2e3f4a5b", "swapped_at": 1794398400.12}},
                        "history": ["gala-v2@9c1d2e3f4a5b", "dairy-gala@a534c9bded50"],
                    }
                }
            }
        },
        **ADMIN_ERRORS,
    },
)
async def status(request: Request, service: ServiceDep) -> Response:
    check_admin(request)
    st = _store(service)
    active = await service.redis_call(st.active())
    scheduled = [
        {**(await st.meta(v) or {"version": v}), "activate_at": at}
        for v, at in await service.redis_call(st.scheduled())
    ]
    body = {
        "active": await st.meta(active) if active else None,
        "scheduled": scheduled,
        "workers": await service.redis_call(st.workers()),
        "history": await st.history(),
        "this_worker": {"worker": service.metrics.worker, "version": service.table.version if service.table else None},
    }
    return json_answer(body)


@router.get(
    "/v1/rules/diff",
    summary="What changed between two versions, in a rule author's words",
    responses={
        200: {
            "content": {
                JSON: {
                    "example": {
                        "from": "dairy-gala@a534c9bded50",
                        "to": "cheaper-milk@9c1d2e3f4a5b",
                        "summary": {"products_changed": 1},
                        "changes": [
                            {
                                "item": "product",
                                "id": "MILK-1L",
                                "change": "changed",
                                "field": "price",
                                "from": 1590,
                                "to": 1490,
                                "text": "product MILK-1L price: 15.90 yuan -> 14.90 yuan",
                            }
                        ],
                    }
                }
            }
        },
        404: {"description": "No such version"},
        **ADMIN_ERRORS,
    },
    openapi_extra={
        "parameters": [
            {
                "name": "from",
                "in": "query",
                "required": False,
                "schema": {"type": "string"},
                "description": "default: the version active before the current one",
            },
            {
                "name": "to",
                "in": "query",
                "required": False,
                "schema": {"type": "string"},
                "description": "default: the active version",
            },
        ]
    },
)
async def diff(request: Request, service: ServiceDep) -> Response:
    check_admin(request)
    st = _store(service)
    new = request.query_params.get("to") or await service.redis_call(st.active())
    old = request.query_params.get("from") or await service.redis_call(st.previous())
    models = []
    for field, version in (("from", old), ("to", new)):
        raw = await service.redis_call(st.source(version)) if version else None
        if raw is None:
            return error(404, "not_found", f"no rule table version {version!r}", field)
        models.append(await asyncio.to_thread(check_source, raw))
    return json_answer(describe(old, new, diff_tables(*models)))


@router.get(
    "/v1/rules/{version}",
    summary="A version's source, as it was pushed",
    responses={
        200: {"content": {"application/yaml": {"example": "tiers:\n  - {id: gold}\n"}}},
        404: {"description": "No such version"},
        **ADMIN_ERRORS,
    },
)
async def source(version: str, request: Request, service: ServiceDep) -> Response:
    check_admin(request)
    raw = await service.redis_call(_store(service).source(version))
    if raw is None:
        return error(404, "not_found", f"no rule table version {version!r}", "version")
    media = JSON if raw.lstrip()[:1] in (b"{", b"[") else "application/yaml"
    return Response(raw, media_type=media)


@router.delete(
    "/v1/rules/scheduled/{version}",
    summary="Cancel a scheduled version before it goes live",
    responses={
        200: {"content": {JSON: {"example": {"version": "gala-v2@9c1d2e3f4a5b", "cancelled": True}}}},
        404: {
            "description": "The version is not scheduled (never was, was cancelled, or is "
            "live already: roll back instead)"
        },
        **ADMIN_ERRORS,
    },
)
async def cancel(version: str, request: Request, service: ServiceDep) -> Response:
    """Every worker drops its timer for the version; it stays in the history, with
    `cancelled_at` in its record, and may be pushed again."""
    check_admin(request)
    if not await service.redis_call(_store(service).cancel(version, int(time.time()))):
        return error(404, "not_found", f"rule table version {version!r} is not scheduled", "version")
    await service.redis_call(_sync(service).refresh())
    return json_answer({"version": version, "cancelled": True})


@router.post(
    "/v1/rules/rollback",
    summary="Back to the previous version, or a named one",
    responses={
        200: {"content": {JSON: {"example": {"version": "dairy-gala@a534c9bded50", "activated": True}}}},
        404: {"description": "No such version, or nothing to roll back to"},
        **ADMIN_ERRORS,
    },
    openapi_extra={
        "requestBody": {
            "required": False,
            "content": {
                JSON: {
                    "schema": {"type": "object", "properties": {"to": {"type": "string"}}},
                    "example": {"to": "dairy-gala@a534c9bded50"},
                }
            },
        }
    },
)
async def rollback(request: Request, service: ServiceDep) -> Response:
    check_admin(request)
    body = await request.body()
    try:
        wanted = orjson.loads(body).get("to") if body.strip() else None
    except (orjson.JSONDecodeError, AttributeError):
        return error(400, "malformed_json", 'the body must be {"to": version} or empty')
    st = _store(service)
    target = wanted or await service.redis_call(st.previous())
    if target is None:
        return error(404, "not_found", "there is no earlier version to roll back to", "to")
    if await service.redis_call(st.source(target)) is None:
        return error(404, "not_found", f"no rule table version {target!r}", "to")
    served = service.table
    table = served if served is not None and served.version == target else await _sync(service).compile(target)
    service.swap(table, await service.redis_call(st.activate(target, int(time.time()))))
    return json_answer({"version": target, "activated": True})
