"""The eligibility answer, from the request's bytes to the answer's: POST /v1/eligibility
decided without FastAPI's dependency solving or pydantic validation. api/front.py hands it
the body; `api/routes/checkout.py` documents the route in OpenAPI from the models in
`api/schemas/checkout.py`.
"""

from __future__ import annotations

import time
from typing import Any

import orjson
from fastapi.responses import Response

from engine.inputs import QuoteInputError

from ..errors import BrandRefused, error
from ..live_stock import StockChanging, quote_with_live_stock, stands
from ..member_cache import MISS
from ..service import Service
from .request import RequestInvalid, encoded, join_offer, member_info, plain_reader, pricing, read_request

SAMPLES_PER_SECOND = 200  # eligibility requests a worker keeps each second for simulate's replay


async def decide(service: Service, body: bytes, now: int) -> bytes | Response:
    """The eligibility answer for one request body at the instant `now`: the member, the
    quote of the served table with live stock, and what joining would save a visitor.
    The answer's JSON when it is a quote (200); a refusal, a Response."""
    try:
        req = read_request(body, plain_reader(service.evaluator))
    except orjson.JSONDecodeError as exc:
        return error(400, "malformed_json", f"the body is not valid JSON: {exc}")
    except RequestInvalid as exc:
        return error(422, exc.code, exc.reason, exc.field)
    try:
        holder = service.enter_brand(req.brand, req.room)  # this request's keys are its brand's
    except QuoteInputError as exc:
        return error(422, "invalid_request", exc.reason, exc.field)
    except BrandRefused as exc:
        return error(403, "forbidden_scope", exc.reason, "brand")
    table = holder.table
    record = service.known_member(req)  # the tracked cache's, without a coroutine
    if record is MISS:
        record = await service.fetch_member(req)
    # points due to lapse: sweep them first. current_member checks the same, but the test here
    # spares almost every quote a coroutine call on the hot path
    if record is not None and 0 < record.lapse_at <= now:
        record = await service.current_member(record, now)
    if record is not None and 0 < record.review_at <= now:  # a tier review is due (api/progression.py)
        record = await service.reviewed_member(record, now, table)
    assert table is not None, "a started worker always serves a table"
    status, member = pricing(record, now, table.model)
    started = time.perf_counter()
    try:
        quote = service.evaluator.quote(table, member, req.room, now, req.lines, req.fulfillment)
    except QuoteInputError as exc:
        return error(422, "invalid_request", exc.reason, exc.field)
    service.metrics.engine.observe(time.perf_counter() - started)
    if not stands(table, quote, service.cache, now):  # what is left, per Redis
        try:
            quote = await quote_with_live_stock(
                service.evaluator,
                table,
                member,
                req.room,
                now,
                req.lines,
                req.fulfillment,
                redis=service.redis,
                cache=service.cache,
                scripts=service.scripts,
                call=service.redis_call,
                first=quote,
            )
        except StockChanging as exc:
            return error(503, "stock_changing", f"{exc}; retry")
    if len(holder.samples) < SAMPLES_PER_SECOND:  # for shadow runs of candidate tables
        holder.samples.append((encoded(req), now))
    offer = join_offer(service.evaluator, table, req, now, quote.payable) if status != "member" else None
    tier = "visitor" if status != "member" else ((record.tier if record else None) or "visitor")
    service.dashboard.quote(req.room, tier, record.id if record is not None else None)
    head = orjson.dumps(
        {
            "rules_version": table.version,
            "at": now,
            "member": member_info(record, status, tier, now, table.model.utc_offset_seconds),
            "join_offer": offer,
        }
    )
    return _with_quote(head, quote)


def _with_quote(head: bytes, quote: Any) -> bytes:
    """The answer: the head's members, then the quote's own JSON (the compiled Quote writes
    it after the head in one buffer)."""
    to_json = getattr(quote, "to_json", None)
    if to_json is not None:
        return to_json(head=head)
    return head[:-1] + b"," + orjson.dumps(quote.to_dict())[1:-1] + b"}"
