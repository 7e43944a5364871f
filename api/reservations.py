"""Shared stock across Redis Cluster slots: reserve, then commit or give back.

A unit of shared stock (a redemption item's, a coupon's total) lives in its own slot,
a member's points and counters in the member's: no transaction may span the two. So an
operation reserves the unit first, runs the member's script, and then drops the
reservation (commit) or gives the unit back. Each attempt has a record in the member's
slot (`state`: running / done / abandoned, `nonce`, `answer`, where a done answer
beginning with `200` means the member's side happened); the reservation names it:
`<record kind>|<member>|<name>|<nonce>`.

`begin()` opens an attempt: it refuses the same name with another body, returns the
first answer of a finished one, and takes over one silent for STALE_SECONDS.

A crash between the steps leaves a reservation behind; `recover()` (every worker runs
it every few seconds) settles those older than STALE_SECONDS: it fences the attempt (a
`running` record with that nonce becomes `abandoned`, so a late member script refuses),
then keeps the unit if the record says the member's side happened and gives it back
otherwise. Giving back is idempotent: only the caller that removes the reservation adds
the unit, so a sweep and a slow request never both return one.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Awaitable, Callable

import orjson

from .access import RATE_KEY_TTL_SECONDS, RateLimit
from .live_stock import release_args
from .redis.keys import (
    ORDER_RETENTION_DAYS,
    member_key,
    record_key,
    reservations_index_key,
    reservations_key,
    stock_key,
    stock_period_key,
    stock_returned_key,
)
from .redis.scripts import Scripts

STALE_SECONDS = 30
INDEX_DAYS = 1


def reservation_id(kind: str, member_id: str, name: str, nonce: str) -> str:
    return f"{kind}|{member_id}|{name}|{nonce}"


def body_hash(body: dict) -> str:
    """What tells a replay from a reused key. A body naming no brand hashes as one written
    before brands existed, so its replay is still a replay."""
    if body.get("brand", "") is None:
        body = {k: v for k, v in body.items() if k != "brand"}
    return hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()[:32]


def begin_call(
    kind: str, member_id: str, name: str, body: dict, ttl: int = 0, rate: RateLimit | None = None
) -> tuple[str, list, list]:
    """(nonce, KEYS, ARGV) of attempt_begin for an attempt: what `begin` calls, and a step
    of a one-node script (api/redis/steps.py)."""
    nonce = secrets.token_hex(8)
    keys = [member_key(member_id), record_key(kind, member_id, name)]
    args: list[str | int] = [body_hash(body), nonce, int(time.time()), STALE_SECONDS, ttl]
    if rate is not None:
        keys.append(rate.key)
        args += [rate.limit, RATE_KEY_TTL_SECONDS]
    return nonce, keys, args


def begun(answer: list, nonce: str) -> tuple:
    """attempt_begin's answer as `begin` returns it."""
    state = _text(answer[0])
    if state == "begun":
        return state, nonce
    if state == "done":
        return state, _text(answer[1])
    if state == "rate_limited":
        return state, int(answer[1])
    return (state,)


async def begin(
    scripts: Scripts, kind: str, member_id: str, name: str, body: dict, ttl: int = 0, rate: RateLimit | None = None
) -> tuple:
    """Start an attempt (its record: `running`, the body's hash, a fresh nonce), or learn
    why not: ('begun', nonce), ('done', answer), ('mismatch',), ('running',),
    ('unknown_member',) or, past `rate`, ('rate_limited', seconds to wait). An attempt silent for
    STALE_SECONDS is taken over."""
    nonce, keys, args = begin_call(kind, member_id, name, body, ttl, rate)
    return begun(await scripts.attempt_begin(keys=keys, args=args), nonce)


def reserve_call(
    pool: str, item_id: str, starting: int, reservation: str, release=None, at: int = 0
) -> tuple[list, list]:
    """(KEYS, ARGV) of stock_reserve: one unit of `item_id` held for `reservation`."""
    keys = [stock_key(pool, item_id), reservations_key(pool, item_id)]
    args: list = [starting, reservation, int(time.time())]
    if release is not None:
        keys.append(stock_period_key(pool, item_id))
        args += release_args(release, at)
    return keys, args


async def reserve(
    scripts: Scripts, pool: str, item_id: str, starting: int, reservation: str, release=None, at: int = 0
) -> bool:
    """One unit off the pool, held for `reservation`. Stamped with the wall clock (not a
    request's business instant): staleness is about how long an attempt has been silent.
    An item's scheduled `release` (engine.model.Release) is applied first for the period
    of `at`, the request's business instant."""
    keys, args = reserve_call(pool, item_id, starting, reservation, release, at)
    # indexed before the reservation exists, so recover() always finds it
    await scripts.client.zadd(reservations_index_key(pool), {item_id: args[2]})
    return bool(await scripts.stock_reserve(keys=keys, args=args))


async def release(scripts: Scripts, pool: str, item_id: str, reservation: str) -> int:
    return await scripts.stock_release(
        keys=[stock_key(pool, item_id), reservations_key(pool, item_id)], args=[reservation]
    )


async def give_back(scripts: Scripts, pool: str, item_id: str, member_id: str, order_id: str) -> int:
    """One unit back to the pool after the order that used it is refunded: once for that
    order, however often it is asked (a refund cut short is completed by its replay)."""
    mark = stock_returned_key(pool, item_id, member_id, order_id)
    return await scripts.stock_give_back(keys=[stock_key(pool, item_id), mark], args=[ORDER_RETENTION_DAYS * 86400])


async def commit(redis, pool: str, item_id: str, reservation: str) -> int:
    return await redis.hdel(reservations_key(pool, item_id), reservation)


async def recover(
    redis,
    scripts: Scripts,
    pool: str,
    now: int | None = None,
    on_done: Callable[[str, str, str], Awaitable[None]] | None = None,
) -> dict:
    """Settle the pool's reservations older than STALE_SECONDS, on the items reserved in
    the last day (a sweep runs every few seconds: none is older). `on_done(member, name,
    answer)` finishes what a kept unit's operation still owes (e.g. the pickup list)."""
    now = int(time.time()) if now is None else now
    settled = {"committed": 0, "released": 0}
    await redis.zremrangebyscore(reservations_index_key(pool), "-inf", now - INDEX_DAYS * 86400)
    for raw_id in await redis.zrangebyscore(reservations_index_key(pool), now - INDEX_DAYS * 86400, "+inf"):
        item_id = _text(raw_id)
        for field, since in (await redis.hgetall(reservations_key(pool, item_id))).items():
            reservation = field.decode() if isinstance(field, bytes) else field
            if int(since) + STALE_SECONDS > now:
                continue
            kind, member_id, name, nonce = reservation.split("|")
            verdict = await scripts.attempt_fence(keys=[record_key(kind, member_id, name)], args=[nonce])
            if _text(verdict[0]) == "done":
                if on_done is not None:
                    await on_done(member_id, name, _text(verdict[1]))
                settled["committed"] += await commit(redis, pool, item_id, reservation)
            else:
                settled["released"] += await release(scripts, pool, item_id, reservation)
    return settled


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else value
