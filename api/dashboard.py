"""The head-office big screen of a live session: `/dashboard`, fed by `/dashboard/data`.

Each worker counts what its requests did, per room, in memory (no I/O on the request
path), and adds it to Redis once a second in one pipeline, so every worker and replica
adds to the same picture:

    dash:{room:<id>}                  hash   quotes, quotes:<tier>, orders:<tier>, points, points_redeemed,
                                             coupon:<coupon>:<tier>, redeemed:<item>, new_members and
                                             tier_upgrades (tier progression raising a member's tier
                                             by an event or an order in the room)
    dash:{room:<id>}:active:<tier>:<minute>   HyperLogLog of the members quoting (kept 10 min)

An order with a room is counted on its screen by the settlement itself and taken off by
its refund (api/orders.py, lua/dashboard_order.lua), each once per order and exact:

    dash:{room:<id>}                  hash   gmv (fen), orders: settled less refunded
    dash:{room:<id>}:orders           hash   each order counted (2 days past the last)
    dash:{room:<id>}:minutes          hash   g:<minute> GMV, q:<minute> quotes (360 minutes)
    dash:{room:<id>}:leaders          zset   pickup leader -> orders

Active members are those quoting in the last five minutes; conversion is orders over
them. Stock left comes from the redemption items' live counts (an item released on a
schedule with the release of the current period applied), and `stock_alerts` lists the
items at or below their `low_stock` (api/stock_levels.py); latency from the metrics
every worker publishes. The data is aggregates only (no member ids leave Redis).
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from pathlib import Path

import orjson

from .draws import board
from .metrics import BUCKETS, STALE_AFTER_S
from .redis.keys import (
    DASHBOARD_MINUTES,
    DASHBOARD_SESSION_SECONDS,
    LEADERS_KEY,
    METRICS_KEY,
    dashboard_active_key,
    dashboard_key,
    dashboard_leaders_key,
    dashboard_minutes_key,
)
from .stock_levels import alert, levels

ACTIVE_MINUTES = 5
TOP_LEADERS = 5
PAGE = Path(__file__).resolve().parent / "static" / "dashboard.html"


class DashboardCounters:
    """This worker's counts since its last flush."""

    def __init__(self) -> None:
        self.counts: dict = defaultdict(lambda: defaultdict(int))  # room -> field -> n
        self.active: dict = defaultdict(set)  # (room, tier) -> member ids

    def quote(self, room: str | None, tier: str, member_id: str | None) -> None:
        if room is None:
            return
        fields = self.counts[room]
        fields["quotes"] += 1
        fields[f"quotes:{tier}"] += 1
        if member_id:
            self.active[(room, tier)].add(member_id)

    def order(self, room: str | None, tier: str, points: int, coupons: list) -> None:
        if room is None:
            return
        fields = self.counts[room]
        fields[f"orders:{tier}"] += 1
        fields["points"] += points
        for coupon in coupons:
            fields[f"coupon:{coupon}:{tier}"] += 1

    def points(self, room: str | None, points: int) -> None:
        if room is not None and points:
            self.counts[room]["points"] += points

    def tier_change(self, room: str | None, change: dict) -> None:
        """A tier raised by progression (api/progression.py): a visitor into a tier is a new
        member, every other rise a tier upgrade; a downgrade at review counts in neither."""
        if room is None:
            return
        if change["from"] == "visitor" and change["to"] != "visitor":
            self.counts[room]["new_members"] += 1
        elif change["reason"] != "review":
            self.counts[room]["tier_upgrades"] += 1

    def redeemed(self, room: str | None, item: str, points: int = 0) -> None:
        if room is not None:
            self.counts[room][f"redeemed:{item}"] += 1
            if points:
                self.counts[room]["points_redeemed"] += points

    async def flush(self, redis) -> None:
        counts, active = self.counts, self.active
        if not counts and not active:
            return
        self.counts, self.active = defaultdict(lambda: defaultdict(int)), defaultdict(set)
        minute = int(time.time() // 60)
        pipe = redis.pipeline(transaction=False)
        rooms_sized = []
        for room, fields in counts.items():
            for field, n in fields.items():
                pipe.hincrby(dashboard_key(room), field, n)
            if fields.get("quotes"):
                pipe.hincrby(dashboard_minutes_key(room), f"q:{minute}", fields["quotes"])
                pipe.expire(dashboard_minutes_key(room), DASHBOARD_SESSION_SECONDS)
                pipe.hlen(dashboard_minutes_key(room))
                rooms_sized.append((room, len(pipe)))
        for (room, tier), members in active.items():
            key = dashboard_active_key(room, tier, minute)
            pipe.pfadd(key, *members)
            pipe.expire(key, 600)
        replies = await pipe.execute()
        for room, position in rooms_sized:
            if replies[position - 1] > 2 * DASHBOARD_MINUTES:
                await trim_minutes(redis, room, minute)


async def trim_minutes(redis, room: str, minute: int) -> None:
    """Drop a room's per-minute buckets older than the window, once the hash holds more
    than the window's worth of both kinds (a minute with no quote or order later leaves
    its bucket behind, and a session with gaps would otherwise grow it)."""
    key = dashboard_minutes_key(room)
    oldest = minute - DASHBOARD_MINUTES
    names = [_text(name) for name in await redis.hkeys(key)]
    stale = [name for name in names if name[2:].isdigit() and int(name[2:]) <= oldest]
    if stale:
        await redis.hdel(key, *stale)


async def data(service, room: str, now: int | None = None) -> dict:
    """Everything the screen shows for `room`, as one JSON object; `now` is the instant
    the stock is read for (the period of an item released on a schedule)."""
    table = service.table_of(service.rooms.get(room, service.home))
    model = table.model
    tiers = ["visitor"] + [t.id for t in model.tiers]
    raw = {
        k.decode() if isinstance(k, bytes) else k: int(v)
        for k, v in (await service.redis.hgetall(dashboard_key(room))).items()
    }
    minute = int(time.time() // 60)
    # PFCOUNT is not pipelined: a Redis Cluster client refuses it in a pipeline (each call's keys share a slot)
    counting = asyncio.gather(
        *[
            service.redis.pfcount(*[dashboard_active_key(room, tier, minute - k) for k in range(ACTIVE_MINUTES)])
            for tier in tiers
        ]
    )
    items = [r for r in model.redemptions if r.room in (None, room)]
    counts, stocked, metrics, minutes, top = await asyncio.gather(
        counting,
        levels(service.redis, service.scripts, items, int(time.time()) if now is None else now),
        service.redis.hgetall(METRICS_KEY),
        service.redis.hgetall(dashboard_minutes_key(room)),
        service.redis.zrevrange(dashboard_leaders_key(room), 0, TOP_LEADERS - 1, withscores=True),
    )
    leaders = [(_text(leader), int(n)) for leader, n in top]
    names = await service.redis.hmget(LEADERS_KEY, [leader for leader, _ in leaders]) if leaders else []
    left = {item.id: n for item, n in stocked}
    active = dict(zip(tiers, counts))
    snapshots = [orjson.loads(v) for v in metrics.values()]
    orders = {tier: raw.get(f"orders:{tier}", 0) for tier in tiers}
    coupons: dict = defaultdict(dict)
    for field, n in raw.items():
        if field.startswith("coupon:"):
            _, coupon, tier = field.split(":", 2)
            coupons[coupon][tier] = n
    scheduled = await service.rules.store.scheduled() if service.rules is not None else []
    return {
        "room": room,
        "rooms": [r.id for r in model.rooms],
        "tiers": tiers,
        "at": int(time.time()),
        "rules_version": table.version,
        "next_rules": ({"version": scheduled[0][0], "at": int(scheduled[0][1])} if scheduled else None),
        "quotes": raw.get("quotes", 0),
        "quotes_by_tier": {t: raw.get(f"quotes:{t}", 0) for t in tiers},
        "active_by_tier": active,
        "orders_by_tier": orders,
        "conversion_by_tier": {t: round(orders[t] / active[t], 4) if active[t] else 0.0 for t in tiers},
        "points_issued": raw.get("points", 0),
        "points_redeemed": raw.get("points_redeemed", 0),
        "gmv_fen": raw.get("gmv", 0),
        "new_members": raw.get("new_members", 0),
        "tier_upgrades": raw.get("tier_upgrades", 0),
        "orders": raw.get("orders", 0),
        "top_leaders": [
            {"id": leader, "name": _leader_name(name, leader), "orders": n} for (leader, n), name in zip(leaders, names)
        ],
        "per_minute": _per_minute(minutes),
        "coupon_uses": dict(coupons),
        "redemptions": [
            {
                "id": item.id,
                "name": item.name,
                "redeemed": raw.get(f"redeemed:{item.id}", 0),
                "stock_left": left.get(item.id),
            }
            for item in items
        ],
        "stock_alerts": [a for item, n in stocked if (a := alert(item, n)) is not None],
        "latency": _latency(snapshots),
        "draws": [await board(service.redis, d) for d in model.draws if d.room == room],
    }


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _leader_name(stored, leader: str) -> str:
    """The name in the leaders' hash (api/leaders.py), else the id."""
    if not stored:
        return leader
    try:
        return str(orjson.loads(stored).get("name") or leader)
    except (orjson.JSONDecodeError, AttributeError):
        return _text(stored)


def _per_minute(stored: dict) -> dict:
    """GMV (fen) and quotes of each minute from the session's first kept bucket to its last
    (minutes with nothing in them as 0): `minutes` are Unix minutes, the lists run alongside."""
    gmv: dict = {}
    quotes: dict = {}
    for field, n in stored.items():
        kind, _, minute = _text(field).partition(":")
        (gmv if kind == "g" else quotes)[int(minute)] = int(n)
    if not gmv and not quotes:
        return {"minutes": [], "gmv_fen": [], "quotes": []}
    kept = gmv.keys() | quotes.keys()
    last = max(kept)
    first = max(min(kept), last - DASHBOARD_MINUTES + 1)
    minutes = list(range(first, last + 1))
    return {
        "minutes": minutes,
        "gmv_fen": [gmv.get(m, 0) for m in minutes],
        "quotes": [quotes.get(m, 0) for m in minutes],
    }


def _latency(snapshots: list) -> dict:
    """Eligibility requests in all and their p99 (the upper bound of the bucket that holds
    it), summed over the workers heard from lately."""
    now = time.time()
    counts = [0] * (len(BUCKETS) + 1)
    for snap in snapshots:
        if now - snap.get("at", 0) > STALE_AFTER_S:
            continue
        hist = snap.get("latency", {}).get("/v1/eligibility")
        if hist:
            counts = [a + b for a, b in zip(counts, hist["counts"])]
    total = sum(counts)
    p99 = None
    if total:
        running = 0
        for bound, n in zip(list(BUCKETS) + [None], counts):
            running += n
            if running >= 0.99 * total:
                p99 = None if bound is None else round(bound * 1000, 2)
                break
    return {"eligibility_requests": total, "eligibility_p99_ms_at_most": p99}
