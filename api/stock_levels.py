"""The stock left of the redemption items, as Redis has it, and the low-stock alerts.

An item with a `stock` (or a scheduled `release`) counts down in Redis (`stock:{r:<item>}`,
api/reservations.py); until its first redemption it has its table stock. An item released
on a schedule is read through `stock_read` (api/redis/lua), which applies the release of a
period that has begun, so the figures never show last week's stock in a new week.

An item with `low_stock: N` is in alert when N or fewer are left: `low`, or `sold_out`
at 0. The alerts are read where they are shown (GET /v1/stock/alerts, the dashboard's
data, `rights_stock_low` / `rights_stock_left` in /metrics at scrape time): one
pipeline of GETs, plus one script call per released item; no scan, nothing on a
request's hot path.
"""

from __future__ import annotations

import asyncio

from .live_stock import release_args
from .redis.keys import REDEMPTIONS, stock_key, stock_period_key

REDEMPTION = "redemption"  # the kind of stock an alert is about


async def levels(redis, scripts, items, now: int) -> list:
    """The units left of each stocked item of `items` (in order), at `now` (the period
    of a released item)."""
    stocked = [item for item in items if item.stock is not None]
    plain = [item for item in stocked if item.release is None]
    released = [item for item in stocked if item.release is not None]
    pipe = redis.pipeline(transaction=False)
    for item in plain:
        pipe.get(stock_key(REDEMPTIONS, item.id))
    reads = [
        scripts.stock_read(
            keys=[stock_key(REDEMPTIONS, item.id), stock_period_key(REDEMPTIONS, item.id)],
            args=release_args(item.release, now),
        )
        for item in released
    ]
    answers = await asyncio.gather(pipe.execute() if plain else _nothing(), *reads)
    left = {item.id: (item.stock if raw is None else int(raw)) for item, raw in zip(plain, answers[0])}
    left.update({item.id: int(raw) for item, raw in zip(released, answers[1:])})
    return [(item, left[item.id]) for item in stocked]


def alert(item, left: int) -> dict | None:
    """The alert of an item with `left` units, or None when it is not low."""
    if item.low_stock is None or left > item.low_stock:
        return None
    return {
        "item": item.id,
        "kind": REDEMPTION,
        "name": item.name,
        "left": max(left, 0),
        "threshold": item.low_stock,
        "state": "sold_out" if left <= 0 else "low",
    }


async def alerts(redis, scripts, items, now: int) -> list:
    """The alerts of `items` that set `low_stock`, in the table's order."""
    watched = [item for item in items if item.low_stock is not None]
    found = [alert(item, left) for item, left in await levels(redis, scripts, watched, now)]
    return [a for a in found if a is not None]


async def _nothing() -> list:
    return []
