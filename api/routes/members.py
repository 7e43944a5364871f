"""A member's own routes: the points ledger page by page, the points about to lapse,
freezing a member for review (admin), and checking the ledger's hash chain (admin)."""

from __future__ import annotations

import asyncio
import re

import orjson
from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from .. import schemas
from ..access import check_admin
from ..errors import JSON, MEMBER_ERRORS, answer, error, refusal
from ..ledger import HELD_NAMES, expiring_by_day, freeze, held_entry, parse_entry, sweep, with_held
from ..redis.keys import ledger_key, lots_key, member_key
from ..store import MEMBER_ID
from .deps import BrandDep, ServiceDep

router = APIRouter(tags=["points"])
_STREAM_ID = re.compile(r"^([0-9]{1,20})-([0-9]{1,20})\Z")
_STREAM_PART_MAX = 2**64 - 1
_LEDGER_EXAMPLE = {
    "member_id": "M00001",
    "balance": 1870,
    "points_debt": 0,
    "entries": [
        {
            "id": "1794405600000-0",
            "delta": 20,
            "reason": "event:watch",
            "ref": "watch-M00001-gala-1",
            "at": 1794405600,
            "expires": None,
            "balance": 1870,
        },
        {
            "id": "1794398400000-0",
            "delta": 1850,
            "reason": "opening",
            "ref": "",
            "at": 1794398400,
            "expires": None,
            "balance": 1850,
        },
    ],
    "next": None,
}


def _stream_id(text: str | bytes) -> tuple[int, int]:
    """A stream id "<ms>-<seq>" as a pair that orders as Redis orders ids."""
    ms, _, seq = (text.decode() if isinstance(text, bytes) else text).partition("-")
    return int(ms), int(seq or 0)


def _ledger_position(text: str) -> bool:
    """A stream id Redis can start an exclusive range after: both parts fit 64 bits, and
    it is after 0-0 (nothing comes before that)."""
    found = _STREAM_ID.match(text)
    if found is None:
        return False
    ms, seq = int(found.group(1)), int(found.group(2))
    return ms <= _STREAM_PART_MAX and seq <= _STREAM_PART_MAX and (ms, seq) != (0, 0)


@router.get(
    "/v1/members/{member_id}/ledger",
    response_model=schemas.LedgerPage,
    summary="A member's points ledger, newest first, page by page",
    responses={200: answer("One page of entries", _LEDGER_EXAMPLE), **MEMBER_ERRORS},
)
async def get_ledger(
    request: Request,
    member_id: str,
    service: ServiceDep,
    brand: BrandDep,
    limit: int = Query(50, ge=1, le=500, description="Entries per page."),
    before: str | None = Query(None, description="The `next` of the previous page."),
) -> Response:
    """Every change of the balance, with its reason and reference. Reading the ledger
    first lapses the member's expired points, so the balance shown is the one a quote
    would use now."""
    if not MEMBER_ID.match(member_id):
        return error(422, "invalid_request", "not a member id", "member_id")
    if before is not None and not _ledger_position(before):
        return error(422, "invalid_request", "not a ledger position: pass the `next` of the previous page", "before")
    balance = await service.redis_call(sweep(service.scripts, member_id, service.now(request.scope)))
    if balance < 0:
        return error(404, "unknown_member", f"no member {member_id!r}", "member_id")
    debt, *held_values = await service.redis_call(service.redis.hmget(member_key(member_id), "debt", *HELD_NAMES))
    held = held_entry(held_values)  # read before the stream: see api/ledger.py with_held
    raw = await service.redis_call(
        service.redis.xrevrange(ledger_key(member_id), max=f"({before}" if before else "+", min="-", count=limit + 1)
    )
    if held is not None and len(raw) <= limit and (before is None or _stream_id(held[0]) < _stream_id(before)):
        raw = with_held(held, raw[::-1])[::-1]  # the oldest entry, held in the member hash, ends the last page
    entries = [parse_entry(entry_id, fields) for entry_id, fields in raw[:limit]]
    page = {
        "member_id": member_id,
        "balance": balance,
        "points_debt": int(debt or 0),
        "entries": entries,
        "next": entries[-1]["id"] if len(raw) > limit else None,
    }
    return Response(orjson.dumps(page), media_type=JSON)


_EXPIRING_EXAMPLE = {
    "member_id": "M00001",
    "within_days": 30,
    "total": 300,
    "by_day": [{"date": "2027-01-31", "at": 1801411200, "points": 300}],
}


@router.get(
    "/v1/members/{member_id}/expiring",
    response_model=schemas.ExpiringPoints,
    summary="A member's points that lapse within the next days, by day",
    responses={200: answer("The points that lapse within the window", _EXPIRING_EXAMPLE), **MEMBER_ERRORS},
)
async def get_expiring(
    request: Request,
    member_id: str,
    service: ServiceDep,
    brand: BrandDep,
    within_days: int = Query(30, ge=1, le=366, description="The window, in days from now."),
) -> Response:
    """The member's points that lapse within `within_days` days, grouped by the last day
    (in the rule table's timezone) they may be used, soonest first. Like the ledger, it
    first lapses the member's points already due, so none of those is listed."""
    if not MEMBER_ID.match(member_id):
        return error(422, "invalid_request", "not a member id", "member_id")
    now = service.now(request.scope)
    balance = await service.redis_call(sweep(service.scripts, member_id, now))
    if balance < 0:
        return error(404, "unknown_member", f"no member {member_id!r}", "member_id")
    raw = await service.redis_call(service.redis.hgetall(lots_key(member_id)))
    table = brand.table
    assert table is not None
    days = expiring_by_day(raw, now, within_days, table.model.utc_offset_seconds)
    page = {
        "member_id": member_id,
        "within_days": within_days,
        "total": sum(day["points"] for day in days),
        "by_day": days,
    }
    return Response(orjson.dumps(page), media_type=JSON)


def _freeze_doc(frozen: bool) -> dict:
    """The OpenAPI words of freeze and unfreeze (their operation ids are kept as first published)."""
    return dict(
        response_model=schemas.FreezeResult,
        summary=(
            "Freeze a member for review: it earns and spends nothing until unfrozen (admin)"
            if frozen
            else "Unfreeze a member (admin)"
        ),
        responses={
            200: answer("Done (also when it was so already)", {"member_id": "M00001", "frozen": frozen}),
            401: refusal("No admin token"),
            403: refusal("A wrong admin token, or admin off"),
            **MEMBER_ERRORS,
        },
    )


async def _set_frozen(
    service: ServiceDep, request: Request, member_id: str, frozen: bool, body: schemas.FreezeRequest | None
) -> Response:
    check_admin(request)
    if not MEMBER_ID.match(member_id):
        return error(422, "invalid_request", "not a member id", "member_id")
    reason = (body.reason if body else "") or "admin"
    done = await service.redis_call(freeze(service.scripts, member_id, frozen, service.now(request.scope), reason))
    if done < 0:
        return error(404, "unknown_member", f"no member {member_id!r}", "member_id")
    return Response(orjson.dumps({"member_id": member_id, "frozen": frozen}), media_type=JSON)


@router.post(
    "/v1/members/{member_id}/freeze", operation_id="change_v1_members__member_id__freeze_post", **_freeze_doc(True)
)
async def freeze_member(
    member_id: str, request: Request, service: ServiceDep, brand: BrandDep, body: schemas.FreezeRequest | None = None
) -> Response:
    return await _set_frozen(service, request, member_id, True, body)


@router.post(
    "/v1/members/{member_id}/unfreeze", operation_id="change_v1_members__member_id__unfreeze_post", **_freeze_doc(False)
)
async def unfreeze_member(
    member_id: str, request: Request, service: ServiceDep, brand: BrandDep, body: schemas.FreezeRequest | None = None
) -> Response:
    return await _set_frozen(service, request, member_id, False, body)


_VERIFY_EXAMPLE = {
    "member_id": "M00001",
    "verified": False,
    "entries": 41,
    "n": 6,
    "h": "3f786850e387550fdab836ed7e6dc881de23001b",
    "finding": {
        "entry_id": "1794405600000-0",
        "n": 7,
        "what": "edited: its h does not match its fields and the h of the entry before",
    },
}


@router.get(
    "/v1/members/{member_id}/ledger/verify",
    response_model=schemas.LedgerVerification,
    summary="Check a member's ledger hash chain (admin)",
    responses={
        200: answer("The chain checked, or the first entry that does not", _VERIFY_EXAMPLE),
        401: refusal("No admin token"),
        403: refusal("A wrong admin token, or admin off"),
        **MEMBER_ERRORS,
    },
)
async def verify_ledger(member_id: str, request: Request, service: ServiceDep, brand: BrandDep) -> Response:
    """Recompute the member's hash chain from its first entry to the head kept in the
    member hash, as `rights ledger verify --member` does (docs/API.md, Verifying the
    ledger). Reads the whole ledger, 1,000 entries at a time, off the event loop."""
    check_admin(request)
    if not MEMBER_ID.match(member_id):
        return error(422, "invalid_request", "not a member id", "member_id")
    url = service.settings.redis_url
    assert url
    try:
        report = await asyncio.wait_for(asyncio.to_thread(_verify_one, url, member_id), VERIFY_TIMEOUT_SECONDS)
    except TimeoutError:
        return error(503, "ledger_too_long", "the ledger takes too long to check here: `rights ledger verify --member`")
    if report is None:
        return error(404, "unknown_member", f"no member {member_id!r}", "member_id")
    finding = report.finding
    body = {
        "member_id": member_id,
        "verified": finding is None,
        "entries": report.entries,
        "n": report.last_n,
        "h": report.last_h,
        "finding": None if finding is None else {"entry_id": finding.entry_id, "n": finding.n, "what": finding.what},
    }
    return Response(orjson.dumps(body), media_type=JSON)


VERIFY_TIMEOUT_SECONDS = 60.0  # a ledger that takes longer is for `rights ledger verify`


def _verify_one(url: str, member_id: str):
    from ..ledger_chain import member_ref, verify_member
    from ..redis.connect import sync_client

    client = sync_client(url, socket_timeout=10)
    try:
        if not client.exists(member_key(member_id)):  # the request's brand's member (the scope is copied here)
            return None
        return verify_member(client, member_ref(member_id))
    finally:
        client.close()
