"""Quotes that know the shared stock as Redis has it.

A coupon with a total `stock` is counted down in Redis by every order that uses it
(`stock:{c:<coupon>}`), a redemption item by every redemption (`stock:{r:<item>}`,
api/reservations.py). A quote that applied a coupon which has run out would show a
price the order cannot keep, and one that offers a sold-out item would be wrong too, so
checkout and settlement quote through `quote_with_live_stock`: when the quote applies
coupons or offers items that have a stock, their counts are read (from the worker's
tracked cache when it has them, else one pipeline), and if one has run out the cart is
quoted again with the counts known. A quote that touches nothing stocked costs nothing
more, and one whose counts the cache knows, none run out, costs a few look-ups (`stands`).

An item with a scheduled `release` is read through `stock_read` (api/redis/lua), which
applies the release first when a new period has begun, so a quote in a new week sees the
new stock; the tracked cache keeps its count with the period it was read in, and a count
of an older period is read again. A table without released items reads as before.
"""

from __future__ import annotations

import asyncio

from engine.model import Stock

from .member_cache import MISS
from .redis.keys import COUPONS, REDEMPTIONS, SCOPE, stock_key, stock_period_key

MAX_ROUNDS = 8  # each round learns at least one more count; a cart has few stocked coupons


class StockChanging(RuntimeError):
    """The counts kept moving while the cart was quoted again and again."""


def starting_stocks(table) -> tuple:
    """(coupon position -> the rules' total stock, item position -> its stock), for those
    that have one (kept on the compiled table: it is immutable)."""
    stocks = getattr(table, "_starting_stocks", None)
    if stocks is None:
        stocks = (
            {k: c.stock for k, c in enumerate(table.model.coupons) if c.stock is not None},
            {k: r.stock for k, r in enumerate(table.model.redemptions) if r.stock is not None},
        )
        table._starting_stocks = stocks
    return stocks


def releases(table) -> dict:
    """item id -> its Release, for the items released on a schedule (kept on the table)."""
    found = getattr(table, "_releases", None)
    if found is None:
        found = {r.id: r.release for r in table.model.redemptions if r.release is not None}
        table._releases = found
    return found


def release_args(release, now: int) -> list:
    """ARGV of stock_period's release for `release` at `now`: the period's start, amount,
    roll_over, the period's length."""
    start = release.starts + release.period(now) * release.every_seconds
    return [start, release.amount, 1 if release.roll_over else 0, release.every_seconds]


def stands(table, quote, cache, now: int) -> bool:
    """Whether `quote` stands as it is, known without a read or a coroutine: it applies no
    stocked coupon and offers no stocked item, or the tracked cache knows the count of each
    it does (of the current period, for a released item) and none has run out. Otherwise
    `quote_with_live_stock` reads and quotes again. (`cached_count`'s reading of the
    cache, inline: this runs on every quote.)"""
    coupons, items = _stocked(table)
    if not coupons and not items:
        return True
    entries = cache.entries if cache is not None and cache.active else None
    for stocked, touched in (
        (coupons, quote.applied_coupons() if coupons else ()),
        (items, quote.available_redemptions() if items else ()),
    ):
        for k in touched:
            found = stocked.get(k)
            if found is None:
                continue
            if entries is None:
                return False
            key, starting, release = found
            value = entries.get(key, MISS)
            if release is not None:
                if type(value) is not tuple or value[0] != release.period(now) or value[1] <= 0:
                    return False
            elif value is MISS or type(value) is tuple or (starting if value is None else value) <= 0:
                return False
            cache.hits += 1
    return True


def _stocked(table) -> tuple:
    """(coupon position -> (its stock key, starting stock, None), item position -> (its
    stock key, starting stock, its Release or None)) for the stocked ids of `table`, with
    the keys of the current brand's scope (kept on the table, per scope)."""
    scope = SCOPE.get()
    kept = getattr(table, "_stocked", None)
    if kept is None:
        kept = table._stocked = {}
    found = kept.get(scope)
    if found is None:
        coupon_stocks, item_stocks = starting_stocks(table)
        coupons, items, released = table.model.coupons, table.model.redemptions, releases(table)
        found = kept[scope] = (
            {k: (stock_key(COUPONS, coupons[k].id), stock, None) for k, stock in coupon_stocks.items()},
            {
                k: (stock_key(REDEMPTIONS, items[k].id), stock, released.get(items[k].id))
                for k, stock in item_stocks.items()
            },
        )
    return found


def cached_count(cache, pool: str, item_id: str, starting: int, release=None, now: int = 0):
    """Units left of one stocked id as the worker's tracked cache knows them, or MISS. A
    released item's count is known only if it was read in the current period."""
    value = cache.get(stock_key(pool, item_id)) if cache is not None else MISS
    if release is not None:
        return value[1] if isinstance(value, tuple) and value[0] == release.period(now) else MISS
    if value is MISS or isinstance(value, tuple):
        return MISS
    return starting if value is None else value


def cached_counts(cache, pool: str, wanted: dict, released: dict | None = None, now: int = 0) -> tuple:
    """(id -> units left for what the worker's tracked cache knows, what it does not)."""
    known, missing = {}, {}
    for item_id, starting in wanted.items():
        left = cached_count(cache, pool, item_id, starting, released.get(item_id) if released else None, now)
        if left is MISS:
            missing[item_id] = starting
        else:
            known[item_id] = left
    return known, missing


async def counts(
    redis, cache, pool: str, wanted: dict, released: dict | None = None, now: int = 0, scripts=None
) -> dict:
    """id -> units left, read from Redis in one pipeline (and kept in the tracked cache),
    for `wanted` (id -> the rules' starting stock) of one pool; the items of `released`
    (id -> Release) through stock_read, their release applied for `now`."""
    released = {k: v for k, v in (released or {}).items() if k in wanted}
    keys = [
        (item_id, starting, stock_key(pool, item_id)) for item_id, starting in wanted.items() if item_id not in released
    ]
    tokens = [cache.begin(key) if cache is not None else None for _, _, key in keys]
    out = {}
    reads = []
    if released:
        assert scripts is not None, "a released item's count is read through its script"
        for item_id, release in released.items():
            key = stock_key(pool, item_id)
            token = cache.begin(key) if cache is not None else None
            reads.append((item_id, release, key, token))
    pipe = redis.pipeline(transaction=False)
    for _, _, key in keys:
        pipe.get(key)
    pending = [
        scripts.stock_read(keys=[key, stock_period_key(pool, item_id)], args=release_args(release, now))
        for item_id, release, key, _ in reads
    ]
    answers = await asyncio.gather(pipe.execute() if keys else _nothing(), *pending)
    for (item_id, starting, key), token, raw in zip(keys, tokens, answers[0]):
        value = None if raw is None else int(raw)
        if cache is not None:
            cache.finish(key, token, value)
        out[item_id] = starting if value is None else value
    for (item_id, release, key, token), left in zip(reads, answers[1:]):
        if cache is not None:
            cache.finish(key, token, (release.period(now), int(left)))
        out[item_id] = int(left)
    return out


async def _nothing() -> list:
    return []


async def quote_with_live_stock(
    evaluator,
    table,
    member,
    room,
    now: int,
    lines,
    fulfillment: str,
    *,
    redis,
    cache,
    call=None,
    first=None,
    scripts=None,
):
    """evaluator.quote with the live counts of the stocked coupons it applies and the
    stocked items it offers; `call` wraps each Redis read (the service's bounded call);
    `first` is the quote already made without live counts, if any; `scripts` reads the
    items released on a schedule."""
    coupon_stocks, item_stocks = starting_stocks(table)
    released = releases(table)
    known_coupons: dict = {}
    known_items: dict = {}
    coupons, items = table.model.coupons, table.model.redemptions
    for _ in range(MAX_ROUNDS):
        stock = Stock(coupons=known_coupons, redemptions=known_items) if known_coupons or known_items else None
        quote = (
            first
            if first is not None and stock is None
            else evaluator.quote(table, member, room, now, lines, fulfillment, stock)
        )
        want_coupons = {
            coupons[k].id: coupon_stocks[k]
            for k in quote.applied_coupons()
            if k in coupon_stocks and coupons[k].id not in known_coupons
        }
        want_items = {
            items[k].id: item_stocks[k]
            for k in quote.available_redemptions()
            if k in item_stocks and items[k].id not in known_items
        }
        if not want_coupons and not want_items:
            return quote
        learned = {}
        for pool, wanted, known in ((COUPONS, want_coupons, known_coupons), (REDEMPTIONS, want_items, known_items)):
            if not wanted:
                continue
            on_schedule = released if pool == REDEMPTIONS else None
            found, missing = cached_counts(cache, pool, wanted, on_schedule, now)  # no I/O, no await: the usual case
            if missing:
                read = counts(redis, cache, pool, missing, on_schedule, now, scripts)
                found.update(await (call(read) if call is not None else read))
            known.update(found)
            learned.update(found)
        if all(left > 0 for left in learned.values()):
            return quote  # everything it used is still there: the quote stands as it is
    raise StockChanging("the stock kept changing while the cart was quoted")


def quote_with_cached_stock(evaluator, table, member, room, now: int, lines, fulfillment: str, *, cache, sold_out):
    """evaluator.quote for a settlement on one Redis server: the stocked coupons it applies
    counted as the worker's tracked cache knows them (no I/O) and `sold_out` (id -> 0) says,
    any other as the rules' stock. Its script takes each unit itself and says which one
    ran out; the order is then quoted again with that one known (api/routes/orders.py).
    The items it offers play no part in an order: their counts are not looked at."""
    coupon_stocks, _ = starting_stocks(table)
    coupons = table.model.coupons
    known: dict = dict(sold_out)
    stock = Stock(coupons=known) if known else None
    for _ in range(MAX_ROUNDS):
        quote = evaluator.quote(table, member, room, now, lines, fulfillment, stock)
        wanted = {
            coupons[k].id: coupon_stocks[k]
            for k in quote.applied_coupons()
            if k in coupon_stocks and coupons[k].id not in known
        }
        if not wanted:
            return quote
        found, _ = cached_counts(cache, COUPONS, wanted)
        known.update(found)
        if all(left > 0 for left in found.values()):
            return quote
        stock = Stock(coupons=known)
    raise StockChanging("the stock kept changing while the cart was quoted")
