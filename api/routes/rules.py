"""Admin routes for rule tables: push (now or at an instant), look, fetch, roll back.

Every route here needs `Authorization: Bearer <RIGHTS_ADMIN_TOKEN>`: none given is 401,
a wrong one 403; the token is compared in constant time and never logged. Without a
configured token the admin routes are off (403).
"""

from __future__ import annotations

import asyncio
import time
from typing import Annotated

import orjson
from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from engine.rules.checks.common import ID_RE, MAX_ID_LENGTH
from engine.rules.diff import describe, diff_tables
from engine.rules.load import RulesInvalid, check_source, compile_source

from ..access import check_admin
from ..brands import BRAND_ID, BRAND_ID_HELP, MAX_BRANDS, register
from ..errors import JSON, error, not_json_typed
from ..rules_store import RulesStore
from ..rules_sync import RulesSync
from ..service import Service
from .admin import ADMIN_ERRORS, instant_or_none, json_answer
from .deps import ServiceDep

router = APIRouter(tags=["rules"])
# documents `?brand=` in OpenAPI; each route reads and checks it itself (_brand), after the token
BrandParam = Annotated[
    str | None,
    Query(
        description="The brand whose rule tables (docs/BRANDS.md); the home brand by default. A new brand's "
        "first push adds it to the deployment."
    ),
]
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


class NoSuchBrand(Exception):
    """A rule-table route named a brand that is not one, or not served here."""

    def __init__(self, response: Response):
        self.response = response


def _brand(request: Request, service: Service, new: bool = False) -> str:
    """The brand a rule-table route acts on (`?brand=`; the home brand by default), after
    its admin token is checked for it; with `new`, a brand not served yet (a first push)."""
    brand = request.query_params.get("brand")
    brand = service.home if brand is None else brand
    if not BRAND_ID.match(brand):
        raise NoSuchBrand(error(422, "invalid_request", f"must be {BRAND_ID_HELP}", "brand"))
    check_admin(request, brand)
    if not new and service.served(brand) is None:
        raise NoSuchBrand(error(404, "not_found", f"no brand {brand!r} on this deployment", "brand"))
    return brand


def _sync(service: Service, brand: str) -> RulesSync | None:
    if brand == service.home:
        assert service.rules is not None, "the service is not started"
        return service.rules
    return service.brand_rules.get(brand)


def _store(service: Service, brand: str) -> RulesStore:
    sync = _sync(service, brand)
    return sync.store if sync is not None else RulesStore(service.redis, "" if brand == service.home else brand)


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
            {
                "name": "label",
                "in": "query",
                "required": False,
                "schema": {"type": "string", "maxLength": 64, "pattern": "^[A-Za-z0-9][A-Za-z0-9_.:-]*$"},
                "example": "gala-v2",
                "description": "the version's label in place of the table's name",
            },
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
async def push(request: Request, service: ServiceDep, brand: BrandParam = None) -> Response:
    try:
        brand = _brand(request, service, new=True)
    except NoSuchBrand as exc:
        return exc.response
    author = request.query_params.get("author", "").strip()
    if not author or len(author) > 64 or any(c < " " or c == "\x7f" for c in author):
        return error(422, "invalid_request", "who is pushing: 1 to 64 characters, no control characters", "author")
    label = request.query_params.get("label", "").strip()
    if label and (len(label) > MAX_ID_LENGTH or not ID_RE.match(label)):  # it names the version, in URLs and logs
        return error(
            422,
            "invalid_request",
            f"the version's label: 1 to {MAX_ID_LENGTH} letters, digits and _ . : -, starting with a letter or digit",
            "label",
        )
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
    taken = sorted({room.id for room in table.model.rooms if service.rooms.get(room.id, brand) != brand})
    if taken:
        owner = service.rooms[taken[0]]
        return error(409, "room_taken", f"room {taken[0]} is brand {owner}'s: a room belongs to one brand", "rooms")
    for other in (service.home, *service.brands):
        holder = service.served(other)
        if other == brand or holder is None or holder.table is None:
            continue
        clash = sorted({d.id for d in table.model.draws} & {d.id for d in holder.table.model.draws})
        if clash:
            return error(
                409, "draw_taken", f"draw {clash[0]} is brand {other}'s: a draw id belongs to one brand", "draws"
            )
    now = int(time.time())
    if brand != service.home and service.served(brand) is None and activate_at is not None and activate_at > now:
        return error(
            422,
            "invalid_request",
            f"brand {brand}'s first table is active at once: push it without activate_at",
            "activate_at",
        )
    if brand != service.home and service.served(brand) is None:
        added = await service.redis_call(register(service.scripts, brand, author, now))
        if added < 0:
            return error(409, "too_many_brands", f"this deployment serves at most {MAX_BRANDS} brands", "brand")
    record, seq = await service.redis_call(
        _store(service, brand).push(table.version, source, author, table.version.split("@")[0], activate_at, now)
    )
    activated = "activated_at" in record
    served, sync = service.served(brand), _sync(service, brand)
    if served is None or sync is None:  # a new brand: served from here on (every worker within a second)
        await service.redis_call(service.follow_brands())
    elif activated:
        served.swap(table, seq)
    else:
        sync.prepared[table.version] = table
    return json_answer({**record, "brand": brand, "activated": activated}, 201)


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
        404: {"description": "No such brand (`brand`) on this deployment"},
        **ADMIN_ERRORS,
    },
)
async def status(request: Request, service: ServiceDep, brand: BrandParam = None) -> Response:
    try:
        brand = _brand(request, service)
    except NoSuchBrand as exc:
        return exc.response
    st = _store(service, brand)
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
        "this_worker": {"worker": service.metrics.worker, "version": _served_version(service, brand)},
        "brand": brand,
        "brands": [service.home, *sorted(service.brands)],
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
async def diff(request: Request, service: ServiceDep, brand: BrandParam = None) -> Response:
    try:
        brand = _brand(request, service)
    except NoSuchBrand as exc:
        return exc.response
    st = _store(service, brand)
    new = request.query_params.get("to") or await service.redis_call(st.active())
    old = request.query_params.get("from") or await service.redis_call(st.previous())
    models = []
    for field, version in (("from", old), ("to", new)):
        if not version:  # neither named nor in the history: one version only, or none yet
            what = "earlier version to compare with" if field == "from" else "active version"
            return error(
                404, "not_found", f"there is no {what}; name one (?{field}=, rights rules diff --{field})", field
            )
        raw = await service.redis_call(st.source(version))
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
async def source(version: str, request: Request, service: ServiceDep, brand: BrandParam = None) -> Response:
    try:
        brand = _brand(request, service)
    except NoSuchBrand as exc:
        return exc.response
    raw = await service.redis_call(_store(service, brand).source(version))
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
async def cancel(version: str, request: Request, service: ServiceDep, brand: BrandParam = None) -> Response:
    """Every worker drops its timer for the version; it stays in the history, with
    `cancelled_at` in its record, and may be pushed again."""
    try:
        brand = _brand(request, service)
    except NoSuchBrand as exc:
        return exc.response
    if not await service.redis_call(_store(service, brand).cancel(version, int(time.time()))):
        return error(404, "not_found", f"rule table version {version!r} is not scheduled", "version")
    sync = _sync(service, brand)
    if sync is not None:
        await service.redis_call(sync.refresh())
    return json_answer({"version": version, "cancelled": True})


@router.post(
    "/v1/rules/rollback",
    summary="Back to the previous version, or a named one",
    responses={
        200: {"content": {JSON: {"example": {"version": "dairy-gala@a534c9bded50", "activated": True}}}},
        400: {"description": "The body is not a JSON object (`malformed_json`)"},
        404: {"description": "No such version, or nothing to roll back to"},
        422: {"description": "A field other than `to`, or `to` not a non-empty string (`invalid_request`)"},
        **ADMIN_ERRORS,
    },
    openapi_extra={
        "requestBody": {
            "required": False,
            "content": {
                JSON: {
                    "schema": {
                        "type": "object",
                        "properties": {"to": {"type": "string", "minLength": 1}},
                        "additionalProperties": False,
                    },
                    "example": {"to": "dairy-gala@a534c9bded50"},
                }
            },
        }
    },
)
async def rollback(request: Request, service: ServiceDep, brand: BrandParam = None) -> Response:
    try:
        brand = _brand(request, service)
    except NoSuchBrand as exc:
        return exc.response
    body = await request.body()
    refused = not_json_typed(request) if body.strip() else None
    if refused is not None:
        return refused
    try:
        given = orjson.loads(body) if body.strip() else {}
    except orjson.JSONDecodeError:
        given = None
    if not isinstance(given, dict):
        return error(400, "malformed_json", 'the body must be {"to": version} or empty')
    unknown = sorted(key for key in given if key != "to")
    if unknown:  # a misspelt `to` would otherwise roll back to the previous version
        return error(422, "invalid_request", 'unknown field; the body is {"to": version} or empty', unknown[0])
    wanted = given.get("to")
    if "to" in given and (not isinstance(wanted, str) or not wanted):
        return error(
            422, "invalid_request", "a version, as a non-empty string (leave `to` out for the previous one)", "to"
        )
    st = _store(service, brand)
    target = wanted or await service.redis_call(st.previous())
    if target is None:
        return error(404, "not_found", "there is no earlier version to roll back to", "to")
    if await service.redis_call(st.source(target)) is None:
        return error(404, "not_found", f"no rule table version {target!r}", "to")
    holder, sync = service.served(brand), _sync(service, brand)
    assert holder is not None and sync is not None, "a brand served here has its table and its sync"
    served = holder.table
    table = served if served is not None and served.version == target else await sync.compile(target)
    holder.swap(table, await service.redis_call(st.activate(target, int(time.time()))))
    return json_answer({"version": target, "brand": brand, "activated": True})


def _served_version(service: Service, brand: str) -> str | None:
    holder = service.served(brand)
    return holder.table.version if holder is not None and holder.table is not None else None
