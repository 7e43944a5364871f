"""POST /v1/orders, its refund, and the leaders' feeds (the flow is api/orders.py)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import orjson
from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from engine import codes
from engine.model import MAX_ORDER_FEN, MAX_POINTS, Member, Progression
from engine.quote import yuan

from .. import orders, progression, schemas
from ..checkout.request import pricing
from ..errors import JSON, answer, error, refusal
from ..leader_office import join_group, leader_known
from ..leaders import FEED_KEEP, LeaderBook
from ..ledger import earned_expiry
from ..live_stock import MAX_ROUNDS, StockChanging, quote_with_cached_stock, quote_with_live_stock
from ..redis.keys import COUPONS, ORDER_RECORD, feed_key, group_key, member_key, order_key
from ..redis.steps import Steps
from ..reservations import begun as reservations_begun
from ..reservations import body_hash, give_back, reservation_id, reserve_call
from ..service import Service
from ..store import MEMBER_ID, MemberRecord, record_from_hash
from .deps import ServiceDep

router = APIRouter(tags=["orders"])
_SETTLED = {
    "order_id": "O-20261111-000001",
    "member_id": "M00001",
    "rules_version": "dairy-gala@4f1c2a9b3e7d",
    "subtotal": 2580,
    "discount": 0,
    "payable": 2322,
    "points": 510,
    "balance": 2360,
    "coupons": [],
    "leader_id": "L001",
    "new_neighbour": True,
    "at": 1794405600,
}
_REFUNDED = {
    "order_id": "O-20261111-000001",
    "member_id": "M00001",
    "points_reversed": 510,
    "points_not_recovered": 0,
    "points_lapsed": 0,
    "points_owed": 0,
    "points_debt": 0,
    "balance": 1850,
    "coupons_restored": [],
    "coupon_grants_restored": [],
    "coupon_grants_expired": [],
    "at": 1794409200,
}
_FEED = {
    "leader_id": "L001",
    "entries": [{"kind": "new_neighbour", "member_id": "M00001", "order_id": "O-20261111-000001", "at": 1794405600}],
}
_ERRORS: dict[int | str, dict[str, Any]] = {
    400: refusal("Malformed JSON"),
    403: refusal("The member is frozen"),
    404: refusal("No such member or order"),
    422: refusal("A field is wrong; the error names it"),
    503: refusal(schemas.UNAVAILABLE),
}


def assign_leader(leaders: LeaderBook, record: MemberRecord, body: schemas.OrderRequest) -> tuple:
    """(leader id or None, newly bound?): the member's own active leader, else the nearest
    active one to the given location."""
    if record.leader and leaders.active(record.leader):
        return record.leader, False
    if body.location is not None:
        found = leaders.index.nearest(body.location.lat, body.location.lon)
        if found is not None:
            return found[0], True
    return None, False


async def _on_screen(service, body: schemas.OrderRequest, stored: str) -> None:
    """A settled order (its stored answer) onto its room's big screen: its payable in the GMV of
    this minute, and, picked up, its leader's count."""
    if body.room is None:
        return
    parts = stored.split(" ")
    payable, leader = int(parts[4]), parts[7]
    pickup = leader if body.fulfillment == "pickup" and leader != "-" else ""
    minute = int(time.time() // 60)  # the clock of the screen's other per-minute figures
    await service.redis_call(
        orders.count_on_screen(
            service.scripts, "settle", body.room, body.member_id, body.order_id, payable, minute, pickup
        )
    )


@router.post(
    "/v1/orders",
    response_model=schemas.OrderResult,
    summary="Settle an order: points credited, coupon use and stock taken, pickup leader assigned",
    responses={
        200: answer("Settled (or the first answer, for an order id settled before)", _SETTLED),
        409: refusal(
            "`rules_changed` (the quote's rules are no longer active), "
            "`quote_changed` (a coupon's stock or a member limit moved since the "
            "quote), `line_not_eligible`, or `in_progress`"
        ),
        422: refusal(
            "A field is wrong (the error names it), the order id was used with "
            "another body (`order_id_reused`), or the order is past a limit: "
            "`order_over_limit` (it charges more than 100,000,000.00 yuan), "
            "`points_over_limit` (it earns more than 1,000,000,000 points, or "
            "the balance would hold more)"
        ),
        **{k: v for k, v in _ERRORS.items() if k != 422},
    },
)
async def post_order(body: schemas.OrderRequest, request: Request) -> Response:
    """Re-quotes the cart with the active rules, then atomically for the member credits
    the order's points, counts the coupons' and products' per-member use and binds a
    new neighbour to a leader; each applied coupon's total stock is taken, and each
    applied `issue: granted` coupon uses one of the member's valid grants. An order id
    settles once for a member: a replay returns the first answer, byte for byte. A
    refused order leaves nothing behind, so it may be quoted again and retried with
    the same id."""
    service: Service = request.app.state.service  # no dependency to solve on this hot route
    now = service.now(request.scope)
    table = service.enter_brand(body.brand, body.room).table
    assert table is not None
    payload = body.model_dump(mode="json")
    try:
        if service.one_node:  # one server: a new order in two round trips (docs/ARCHITECTURE.md)
            pipe = service.redis.pipeline(transaction=False)
            pipe.hgetall(member_key(body.member_id))
            pipe.hmget(order_key(body.member_id, body.order_id), "state", "hash", "answer")
            raw, (state, hashed, first) = await service.redis_call(pipe.execute())
            if state is None or state in (b"abandoned", "abandoned"):
                return await _settle_on_one_node(service, body, table, now, payload, raw)
            if state in (b"done", "done") and _text(hashed) == body_hash(payload):  # a replay, as begin answers it
                return await _replayed(service, body, table, now, _text(first))
        status, value = await service.redis_call(orders.begin(service.scripts, body.member_id, body.order_id, payload))
    except orders.Refused as exc:
        return error(exc.status, exc.code, exc.reason, exc.field)
    if status == "done":
        return await _replayed(service, body, table, now, value)
    nonce, stocked = value, []
    try:
        raw = await service.redis_call(service.redis.hgetall(member_key(body.member_id)))
        ready = await _prepare(service, body, table, now, raw)
        stocked = ready.stocked
        sold_out = await service.redis_call(
            orders.reserve_coupons(service.scripts, stocked, body.member_id, body.order_id, nonce)
        )
        if sold_out is not None:
            stocked = []
            raise orders.Refused(409, "quote_changed", f"coupon {sold_out} has run out: quote again", "lines")
        if ready.newly:  # into the leader's group before the binding: a bound member is never missing from it
            await service.redis_call(join_group(service.redis, ready.leader, body.member_id))
        outcome, stored = await service.redis_call(
            orders.settle(service.scripts, body.member_id, body.order_id, nonce, **ready.settling(body, now))
        )
        if outcome != "ok":
            raise _settle_refusal(stored or "")
    except orders.Refused as exc:
        await service.redis_call(
            orders.finish_coupons(
                service.redis, service.scripts, stocked, body.member_id, body.order_id, nonce, settled=False
            )
        )
        await service.redis_call(orders.drop(service.scripts, body.member_id, body.order_id, nonce))
        return error(exc.status, exc.code, exc.reason, exc.field)
    await service.redis_call(
        orders.finish_coupons(
            service.redis, service.scripts, stocked, body.member_id, body.order_id, nonce, settled=True
        )
    )
    assert stored is not None
    service.dashboard.order(body.room, ready.member.tier or "visitor", ready.points, ready.applied)
    await _on_screen(service, body, stored)
    content = orders.render_settled(stored, body.order_id, body.member_id)
    progressing = table.model.progression
    if progressing is not None:  # tier progression: the order's spend, growth and tasks count now
        made = await service.redis_call(
            progression.run(
                service.scripts,
                table.model,
                body.member_id,
                now,
                mode="count",
                **_order_counts(progressing, f"ord:{body.order_id}", ready.payable),
            )
        )
        if isinstance(made, dict):
            service.dashboard.tier_change(body.room, made)
        content = _with_tier(content, made if isinstance(made, dict) else None)
    if ready.newly:
        pipe = service.redis.pipeline(transaction=False)
        pipe.zadd(feed_key(ready.leader), {f"new_neighbour|{body.member_id}|{body.order_id}": now})
        pipe.zremrangebyrank(feed_key(ready.leader), 0, -FEED_KEEP - 1)
        await service.redis_call(pipe.execute())
    return Response(content, media_type=JSON)


async def _replayed(service, body: schemas.OrderRequest, table, now: int, value: str) -> Response:
    """A settled order's first answer; counted on the screen again: once only, and after a
    crash between the two, at last."""
    if await service.redis_call(orders.may_count_again(service.redis, body.member_id, body.order_id)):
        await _on_screen(service, body, value)
    content = orders.render_settled(value, body.order_id, body.member_id)
    if table.model.progression is not None:
        change = await service.redis_call(
            progression.replayed(
                service.scripts,
                service.redis,
                table.model,
                body.member_id,
                now,
                **_order_counts(table.model.progression, f"ord:{body.order_id}", int(value.split(" ")[4])),
            )
        )
        content = _with_tier(content, change)
    return Response(content, media_type=JSON)


@dataclass
class _Ready:
    """An order priced and checked, ready to settle."""

    member: Member
    points: int
    payable: int
    applied: list
    stocked: list  # (coupon id, its rules' stock) of the applied coupons with a total stock
    limited_coupons: dict
    limited_skus: dict
    leader: Any
    newly: bool
    expires: int
    granted: tuple
    answer: str

    def settling(self, body: schemas.OrderRequest, now: int) -> dict:
        """orders.settle_call's keyword arguments."""
        return {
            "now": now,
            "points": self.points,
            "expires": self.expires,
            "coupons": self.applied,
            "limited_coupons": self.limited_coupons,
            "limited_skus": self.limited_skus,
            "bind_leader": self.leader if self.newly else "",
            "answer": self.answer,
            "room": body.room or "",
            "granted": self.granted,
        }


async def _prepare(
    service, body: schemas.OrderRequest, table, now: int, raw: dict, sold_out: dict | None = None
) -> _Ready:
    """Everything decided before the writes: the rules and room, the member (`raw`, its
    hash), the quote with live stock, the limits and the leader; Refused otherwise. With
    `sold_out` (one Redis server) the quote reads no stock: the settlement's script takes
    the units (api/live_stock.py: quote_with_cached_stock)."""
    if body.rules_version != table.version:
        raise orders.Refused(
            409,
            "rules_changed",
            f"the rules changed since the quote (active: {table.version}): quote again",
            "rules_version",
        )
    if body.room is not None and body.room not in table.room_index:
        raise orders.Refused(422, "invalid_request", f"unknown room {body.room!r}", "room")
    record = record_from_hash(body.member_id, raw)
    if record is None:
        raise orders.Refused(404, "unknown_member", f"no member {body.member_id!r}", "member_id")
    if record.frozen:
        raise orders.Refused(
            403,
            "member_frozen",
            "the member is frozen for review: it earns and spends nothing until unfrozen",
            "member_id",
        )
    record = await service.reviewed_member(record, now, table)  # a tier review due runs before pricing
    assert record is not None
    _, member = pricing(record, now, model=table.model)
    cart = (service.evaluator, table, member, body.room, now, [(line.sku, line.qty) for line in body.lines])
    try:
        if sold_out is not None:
            quote = quote_with_cached_stock(*cart, body.fulfillment, cache=service.cache, sold_out=sold_out)
        else:
            quote = await quote_with_live_stock(
                *cart,
                body.fulfillment,
                redis=service.redis,
                cache=service.cache,
                scripts=service.scripts,
                call=service.redis_call,
            )
    except StockChanging:
        raise orders.Refused(409, "quote_changed", "the coupons' stock keeps changing: quote again", "lines") from None
    raw_quote = quote.to_raw()
    model = table.model
    coupons = [model.coupons[k] for k in quote.applied_coupons()]  # by position: no look-up over the whole table
    applied = [c.id for c in coupons]
    for index, line in enumerate(raw_quote.lines):
        if line.status != codes.OK:
            raise orders.Refused(
                409, "line_not_eligible", f"{line.sku}: {codes.REASONS[line.status]}", f"lines[{index}]"
            )
    stocked = [(c.id, c.stock) for c in coupons if c.stock is not None]
    limited_coupons = {c.id: c.member_limit for c in coupons if c.member_limit is not None}
    limited_skus: dict = {}
    for line in body.lines:
        product = model.products[table.sku_row[line.sku]]
        if product.member_limit is not None:
            qty, _ = limited_skus.get(line.sku, (0, 0))
            limited_skus[line.sku] = (qty + line.qty, product.member_limit)
    if not service.leaders.loaded:  # a worker's first orders: never judge a leader before knowing them
        await service.redis_call(service.leaders.reload(service.redis))
    leader, newly = assign_leader(service.leaders, record, body)
    points = quote.points
    if quote.payable > MAX_ORDER_FEN:
        raise orders.Refused(
            422,
            "order_over_limit",
            f"the order charges {yuan(quote.payable, True)} yuan; "
            f"one order may charge at most "
            f"{yuan(MAX_ORDER_FEN, True)} yuan",
            "lines",
        )
    if points > MAX_POINTS:
        raise orders.Refused(
            422,
            "points_over_limit",
            f"the order would earn {points:,} points; one order may earn at most {MAX_POINTS:,}",
            "lines",
        )
    answer = (
        f"200 {table.version} {quote.subtotal} {quote.discount} {quote.payable} {points} "
        f"{','.join(applied) or '-'} {leader or '-'} {int(newly)} {now}"
    )
    return _Ready(
        member=member,
        points=points,
        payable=quote.payable,
        applied=applied,
        stocked=stocked,
        limited_coupons=limited_coupons,
        limited_skus=limited_skus,
        leader=leader,
        newly=newly,
        expires=earned_expiry(model.points, model.utc_offset_seconds, now) if points else 0,
        granted=tuple(c.id for c in coupons if c.issue == "granted"),
        answer=answer,
    )


def _settle_refusal(stored: str) -> orders.Refused:
    """The member's script's refusal as the answer's."""
    if stored.startswith("balance_limit:"):
        return orders.Refused(
            422,
            "points_over_limit",
            f"the member's balance would be {int(stored.split(':')[1]):,} points; a balance "
            f"holds at most {MAX_POINTS:,}",
            "member_id",
        )
    reason = {"member_frozen": (403, "member_frozen", "the member is frozen for review")}.get(
        stored,
        (409, "quote_changed", f"a per-member limit was reached since the quote ({stored}): quote again"),
    )
    if stored.startswith("not_owned:"):
        reason = (
            409,
            "quote_changed",
            f"the member no longer holds a valid grant of coupon {stored.split(':', 1)[1]}: quote again",
        )
    return orders.Refused(*reason, "member_id" if stored == "member_frozen" else "lines")


async def _settle_on_one_node(
    service, body: schemas.OrderRequest, table, now: int, payload: dict, raw: dict
) -> Response:
    """A new order on one Redis server: priced from the member hash read with its record,
    then every write in one script (lua/order_node.lua), the steps of the Cluster's path.
    A stocked coupon the script finds sold out (it took nothing) is quoted away and the
    order settled again, as a quote that read the count would have."""
    sold_out: dict = {}
    for _ in range(MAX_ROUNDS):
        done = await _settle_once(service, body, table, now, payload, raw, sold_out)
        if done is not None:
            return done
    raise orders.Refused(409, "quote_changed", "the coupons' stock keeps changing: quote again", "lines")


async def _settle_once(
    service, body: schemas.OrderRequest, table, now: int, payload: dict, raw: dict, sold_out: dict
) -> Response | None:
    """One try of _settle_on_one_node; None when a coupon ran out (now in `sold_out`)."""
    ready = await _prepare(service, body, table, now, raw, sold_out)
    nonce, keys, args = orders.begin_call(body.member_id, body.order_id, payload)
    steps = Steps().add("begin", keys, args, "attempt_begin")
    reservation = reservation_id(ORDER_RECORD, body.member_id, body.order_id, nonce)
    for coupon_id, stock in ready.stocked:
        steps.add("reserve", *reserve_call(COUPONS, coupon_id, stock, reservation), "stock_reserve")
    if ready.newly:  # into the leader's group before the binding, as on a Cluster
        steps.add("join", [group_key(ready.leader)], [body.member_id])
    steps.add(
        "settle", *orders.settle_call(body.member_id, body.order_id, nonce, **ready.settling(body, now)), "order_settle"
    )
    steps.add("drop", [order_key(body.member_id, body.order_id)], [nonce], "order_drop")
    if body.room is not None:
        pickup = ready.leader if body.fulfillment == "pickup" and ready.leader else ""
        minute = int(time.time() // 60)  # the clock of the screen's other per-minute figures
        screen = orders.screen_call("settle", body.room, body.member_id, body.order_id, ready.payable, minute, pickup)
        steps.add("screen", *screen, "dashboard_order")
    progressing = table.model.progression
    if progressing is not None:
        counts = _order_counts(progressing, f"ord:{body.order_id}", ready.payable)
        steps.add(
            "tier", *progression.run_call(table.model, body.member_id, now, mode="count", **counts), "tier_progress"
        )
    if ready.newly:
        steps.add("feed", [feed_key(ready.leader)], [f"new_neighbour|{body.member_id}|{body.order_id}", now, FEED_KEEP])
    done = await service.redis_call(steps.run(service.scripts, "order_node"))
    outcome = done[0].decode() if isinstance(done[0], bytes) else done[0]
    if outcome == "sold_out":
        sold_out[ready.stocked[int(done[1]) - 1][0]] = 0
        return None
    if outcome != "ok":
        if outcome in ("refused", "fenced"):
            raise _settle_refusal(orders.settled(done)[1] or "")
        status, value = orders.started(reservations_begun(done, nonce), body.member_id)
        return await _replayed(service, body, table, now, value)  # settled by another request meanwhile
    stored = orders.settled(done)[1]
    assert stored is not None
    service.dashboard.order(body.room, ready.member.tier or "visitor", ready.points, ready.applied)
    content = orders.render_settled(stored, body.order_id, body.member_id)
    if progressing is not None:
        made = progression.change_of(done[2])
        if isinstance(made, dict):
            service.dashboard.tier_change(body.room, made)
        content = _with_tier(content, made if isinstance(made, dict) else None)
    return Response(content, media_type=JSON)


def _order_counts(rules: Progression, ref: str, payable: int) -> dict:
    """What a settled order counts toward tier progression: its payable as spend, its growth
    and the tasks that count orders."""
    return {
        "ref": ref,
        "spend": payable,
        "growth": payable // 100 * rules.growth_per_yuan,
        "tasks": tuple(t.name for t in rules.tasks.values() if t.orders),
    }


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _with_tier(content: bytes, change: dict | None) -> bytes:
    """A settled order's answer with `tier`: the change it made (tables with progression)."""
    return content[:-1] + b',"tier":' + orjson.dumps(change) + b"}"


@router.post(
    "/v1/orders/{order_id}/refund",
    response_model=schemas.RefundResult,
    summary="Refund a settled order: its points and coupon use reversed, once",
    responses={200: answer("Refunded (or the first answer, for an order refunded before)", _REFUNDED), **_ERRORS},
)
async def refund_order(order_id: str, body: schemas.RefundRequest, request: Request, service: ServiceDep) -> Response:
    """Takes back the order's points, from the order's own lot first; those that lapsed
    unspent are gone already (`points_lapsed`: neither taken again nor owed), and those
    the member has spent already are reported
    in `points_not_recovered` and, under the rules' `points.refund: debt` (the
    default), owed: the next credits pay them first and redemptions with points are
    refused (`points_debt`) until they are paid; under `forgive` they are let go. Gives
    back the coupons' per-member use and total stock and the products' per-member
    quantities. The coupon grants the order used come back while they hold
    (`coupon_grants_restored`); one that lapsed since stays used (`coupon_grants_expired`).
    A second refund returns the first answer and changes nothing."""
    if not MEMBER_ID.match(order_id):
        return error(422, "invalid_request", "not an order id", "order_id")
    table = service.enter_brand(body.brand).table
    assert table is not None
    done = await service.redis_call(
        orders.refund(service.scripts, body.member_id, order_id, service.now(request.scope), table.model.points.refund)
    )
    if done[0] == "unknown_order":
        return error(404, "unknown_order", f"member {body.member_id} has no settled order {order_id!r}", "order_id")
    if done[0] == "other_brand":  # an alliance shares its orders' keys; its coupons and stock are the brand's own
        return error(422, "invalid_request", f"order {order_id!r} was settled in brand {done[1]}", "brand")
    # what follows is asked again by a replay and done once: a refund cut short (a 503 after the
    # member's script ran) is completed by sending it again
    coupons, position = table.model.coupons, table.coupon_index
    stock_once = len(done) > 4 and done[4] == "1"  # a refund recorded before the marks gave its units then
    for coupon_id in done[2].split(",") if stock_once else ():
        k = position.get(coupon_id)
        if k is not None and coupons[k].stock is not None:
            await service.redis_call(give_back(service.scripts, COUPONS, coupon_id, body.member_id, order_id))
    room = await service.redis_call(orders.room_of(service.redis, body.member_id, order_id))
    if room is not None:  # off the room's screen; a replay takes nothing twice
        await service.redis_call(orders.count_on_screen(service.scripts, "refund", room, body.member_id, order_id))
    progressing = table.model.progression
    if progressing is not None:  # the order's spend and growth no longer count (a replay takes nothing twice)
        settled = await service.redis_call(service.redis.hget(order_key(body.member_id, order_id), "answer"))
        if settled:
            fields = (settled.decode() if isinstance(settled, bytes) else settled).split(" ")
            counts = _order_counts(progressing, f"ord:{order_id}", int(fields[4]))
            await service.redis_call(
                progression.run(
                    service.scripts,
                    table.model,
                    body.member_id,
                    service.now(request.scope),
                    mode="refund",
                    ref=counts["ref"],
                    spend=counts["spend"],
                    growth=counts["growth"],
                    counted_at=int(fields[9]),
                )
            )
    grants = done[3] if len(done) > 3 else ""
    return Response(orders.render_refund(done[1], order_id, body.member_id, done[2], grants), media_type=JSON)


@router.get(
    "/v1/leaders/{leader_id}/feed",
    summary="A pickup leader's feed, newest first",
    responses={
        200: answer("The feed", _FEED),
        **_ERRORS,
        403: refusal("`forbidden_scope`: the API key does not act for this leader"),
        404: refusal("`unknown_leader`: no leader with this id was imported"),
    },
)
async def leader_feed(service: ServiceDep, leader_id: str, limit: int = Query(50, ge=1, le=500)) -> Response:
    """New neighbours bound to this leader by their first order."""
    if not MEMBER_ID.match(leader_id):
        return error(422, "invalid_request", "not a leader id", "leader_id")
    raw = await service.redis_call(service.redis.zrevrange(feed_key(leader_id), 0, limit - 1, withscores=True))
    if not raw and not await service.redis_call(leader_known(service.redis, leader_id)):  # as the other leader reads
        return error(404, "unknown_leader", f"no leader {leader_id!r}", "leader_id")
    entries = []
    for member, score in raw:
        kind, member_id, order_id = (member.decode() if isinstance(member, bytes) else member).split("|")
        entries.append({"kind": kind, "member_id": member_id, "order_id": order_id, "at": int(score)})
    return Response(orjson.dumps({"leader_id": leader_id, "entries": entries}), media_type=JSON)
