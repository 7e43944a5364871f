"""Settling an order and refunding it: points credited, coupon usage and stock consumed,
a pickup leader assigned, each exactly once.

The order record `ord:{<member>}:<order id>` (member slot) follows the pattern of
api/reservations.py: `running` with a nonce while the order settles, `done` with the
answer once the member's script has run. A settled order's record is kept for
ORDER_RETENTION_DAYS from its first attempt (its replays and its refund need it); a
refused attempt leaves no record, so the checkout may quote again
and retry with the same order id. Coupon stock is a shared pool (`stock:{c:<coupon>}`),
reserved before the member's script and committed or given back after it. On one Redis
server api/routes/orders.py runs these scripts as the steps of one (lua/order_node.lua).
"""

from __future__ import annotations

import time

import orjson

from .redis.keys import (
    COUPONS,
    DASHBOARD_SESSION_SECONDS,
    ORDER_RECORD,
    ORDER_RETENTION_DAYS,
    dashboard_key,
    dashboard_leaders_key,
    dashboard_minutes_key,
    dashboard_orders_key,
    grants_key,
    ledger_key,
    lots_key,
    member_key,
    order_key,
)
from .redis.scripts import Scripts
from .reservations import begin as begin_attempt
from .reservations import begin_call as attempt_call
from .reservations import commit, release, reservation_id, reserve


class Refused(Exception):
    def __init__(self, status: int, code: str, reason: str, field: str | None = None):
        self.status, self.code, self.reason, self.field = status, code, reason, field


def render_settled(answer: str, order_id: str, member_id: str) -> bytes:
    """A settled order's answer from its record: the same bytes for every replay.

    Stored as `200 <version> <subtotal> <discount> <payable> <points> <coupons or -> <leader
    or -> <new neighbour 0/1> <at> <balance>`."""
    (_, version, subtotal, discount, payable, points, coupons, leader, neighbour, at, balance) = answer.split(" ")
    return orjson.dumps(
        {
            "order_id": order_id,
            "member_id": member_id,
            "rules_version": version,
            "subtotal": int(subtotal),
            "discount": int(discount),
            "payable": int(payable),
            "points": int(points),
            "balance": int(balance),
            "coupons": coupons.split(",") if coupons != "-" else [],
            "leader_id": None if leader == "-" else leader,
            "new_neighbour": neighbour == "1",
            "at": int(at),
        }
    )


def render_refund(answer: str, order_id: str, member_id: str, coupons: str, grants: str = "") -> bytes:
    """Stored as `<taken> <not recovered> <balance> <at> <owed by this refund> <debt after>
    <lapsed>` (refunds recorded before debts existed have the first four, before lapsed
    order lots were remembered the first six)."""
    taken, short, balance, at, *more = answer.split(" ")
    owed, debt_after = (int(more[0]), int(more[1])) if more else (0, 0)
    lapsed = int(more[2]) if len(more) > 2 else 0
    return orjson.dumps(
        {
            "order_id": order_id,
            "member_id": member_id,
            "points_reversed": int(taken),
            "points_not_recovered": int(short),
            "points_lapsed": lapsed,
            "points_owed": owed,
            "points_debt": debt_after,
            "balance": int(balance),
            "coupons_restored": [c for c in coupons.split(",") if c],
            **grants_back(grants),
            "at": int(at),
        }
    )


def grants_back(stored: str) -> dict:
    """What a refund did with the coupon grants its order used (`<grant>=<outcome>,...`):
    given back while they hold; one that lapsed since stays used."""
    outcomes = dict(part.split("=", 1) for part in stored.split(",") if "=" in part)
    return {
        "coupon_grants_restored": [g for g, o in outcomes.items() if o == "restored"],
        "coupon_grants_expired": [g for g, o in outcomes.items() if o != "restored"],
    }


async def begin(scripts: Scripts, member_id: str, order_id: str, body: dict):
    """('new', nonce) to go on, ('done', answer) for a replay; Refused otherwise."""
    begun = await begin_attempt(scripts, ORDER_RECORD, member_id, order_id, body, ORDER_RETENTION_DAYS * 86400)
    return started(begun, member_id)


def begin_call(member_id: str, order_id: str, body: dict) -> tuple[str, list, list]:
    """(nonce, KEYS, ARGV) of the attempt_begin `begin` calls."""
    return attempt_call(ORDER_RECORD, member_id, order_id, body, ORDER_RETENTION_DAYS * 86400)


def started(begun: tuple, member_id: str) -> tuple:
    """attempt_begin's answer (as api/reservations.py reads it) as `begin` returns it."""
    if begun[0] == "unknown_member":
        raise Refused(404, "unknown_member", f"no member {member_id!r}", "member_id")
    if begun[0] == "mismatch":
        raise Refused(422, "order_id_reused", "this order id was settled with another body", "order_id")
    if begun[0] == "running":
        raise Refused(409, "in_progress", "this order is being settled by another request", "order_id")
    return ("done", begun[1]) if begun[0] == "done" else ("new", begun[1])


async def drop(scripts: Scripts, member_id: str, order_id: str, nonce: str) -> None:
    await scripts.order_drop(keys=[order_key(member_id, order_id)], args=[nonce])


async def reserve_coupons(scripts: Scripts, coupons: list, member_id: str, order_id: str, nonce: str) -> str | None:
    """Reserve one unit of each coupon's total stock ((id, stock) pairs); the id of the
    first one sold out (having given back what was reserved), or None."""
    reservation = reservation_id(ORDER_RECORD, member_id, order_id, nonce)
    taken: list[str] = []
    for coupon_id, stock in coupons:
        if not await reserve(scripts, COUPONS, coupon_id, stock, reservation):
            for done in taken:
                await release(scripts, COUPONS, done, reservation)
            return coupon_id
        taken.append(coupon_id)
    return None


async def finish_coupons(
    redis, scripts: Scripts, coupons: list, member_id: str, order_id: str, nonce: str, settled: bool
) -> None:
    reservation = reservation_id(ORDER_RECORD, member_id, order_id, nonce)
    for coupon_id, _ in coupons:
        if settled:
            await commit(redis, COUPONS, coupon_id, reservation)
        else:
            await release(scripts, COUPONS, coupon_id, reservation)


def settle_call(
    member_id: str,
    order_id: str,
    nonce: str,
    *,
    now: int,
    points: int,
    expires: int,
    coupons: list,
    limited_coupons: dict,
    limited_skus: dict,
    bind_leader: str,
    answer: str,
    room: str = "",
    granted: tuple = (),
) -> tuple[list, list]:
    """(KEYS, ARGV) of order_settle (its brand put last by its caller)."""
    keys = [
        member_key(member_id),
        lots_key(member_id),
        ledger_key(member_id),
        order_key(member_id, order_id),
        grants_key(member_id),
    ]
    args = [
        nonce,
        now,
        order_id,
        points,
        expires,
        ",".join(coupons),
        ";".join(f"{c}={limit}" for c, limit in limited_coupons.items()),
        ";".join(f"{s}={qty}={limit}" for s, (qty, limit) in limited_skus.items()),
        bind_leader,
        answer,
        room,
        ",".join(granted),
    ]
    return keys, args


async def settle(scripts: Scripts, member_id: str, order_id: str, nonce: str, **settling) -> tuple:
    """The member's side (lua/order_settle.lua) with settle_call's arguments: ('ok', the
    stored answer) or why not. `granted`: the applied coupons with issue: granted, each
    using one of the member's grants."""
    keys, args = settle_call(member_id, order_id, nonce, **settling)
    return settled(await scripts.order_settle(keys=keys, args=args))


def settled(done: list) -> tuple:
    """order_settle's answer: (outcome, the stored answer or the refusal, or None)."""
    return _text(done[0]), _text(done[1]) if len(done) > 1 else None


async def refund(scripts: Scripts, member_id: str, order_id: str, now: int, policy: str = "debt") -> tuple:
    """Reverse a settled order once; `policy` is the rules' points.refund for points the
    member has spent already."""
    done = await scripts.order_refund(
        keys=[
            member_key(member_id),
            lots_key(member_id),
            ledger_key(member_id),
            order_key(member_id, order_id),
            grants_key(member_id),
        ],
        args=[now, order_id, policy],
    )
    return tuple(_text(part) if part is not None else "" for part in done)


def screen_call(
    how: str, room: str, member_id: str, order_id: str, payable: int = 0, minute: int = 0, leader: str = ""
) -> tuple[list, list]:
    """(KEYS, ARGV) of dashboard_order for count_on_screen's arguments."""
    keys = [dashboard_key(room), dashboard_orders_key(room), dashboard_minutes_key(room), dashboard_leaders_key(room)]
    return keys, [how, f"{member_id}|{order_id}", payable, minute, leader]


async def count_on_screen(
    scripts: Scripts,
    how: str,
    room: str,
    member_id: str,
    order_id: str,
    payable: int = 0,
    minute: int = 0,
    leader: str = "",
) -> None:
    """`how` 'settle': the order onto the room's big screen (its payable in the GMV of `minute`,
    its pickup leader's count); 'refund': taken back off it. Each once per order."""
    keys, args = screen_call(how, room, member_id, order_id, payable, minute, leader)
    await scripts.dashboard_order(keys=keys, args=args)


async def may_count_again(redis, member_id: str, order_id: str) -> bool:
    """Whether a replayed settlement may be counted on the screen (at most once, by the
    screen's own record): not once it was refunded, nor once the screen's record of the
    orders it counted may have expired (DASHBOARD_SESSION_SECONDS after settling)."""
    refund, started = await redis.hmget(order_key(member_id, order_id), ["refund", "started"])
    if refund is not None or started is None:
        return False
    return time.time() - float(_text(started)) < DASHBOARD_SESSION_SECONDS


async def room_of(redis, member_id: str, order_id: str) -> str | None:
    """The room a settled order was placed in (None: none, or settled before rooms were kept)."""
    room = await redis.hget(order_key(member_id, order_id), "room")
    return _text(room) if room else None


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else value
