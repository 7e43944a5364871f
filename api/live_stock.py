"""Quotes that know the coupons' total stock as Redis has it.

A coupon with a total `stock` is counted down in Redis by every order that uses it
(`stock:{c:<coupon>}`, api/reservations.py). A quote that applied a coupon which has run
out would show a price the order cannot keep, so checkout and settlement both quote
through `quote_with_live_stock`: when the quote applies coupons with a stock, their
counts are read (from the worker's tracked cache when it has them, else one pipeline),
and if one has run out the cart is quoted again with the counts known. A quote that
applies no stocked coupon costs nothing more.
"""
from __future__ import annotations

from engine.model import Stock

from .reservations import COUPONS, stock_key
from .store import MISS

MAX_ROUNDS = 8  # each round learns at least one more count; a cart has few stocked coupons


class StockChanging(RuntimeError):
    """The counts kept moving while the cart was quoted again and again."""


def starting_stocks(table) -> dict:
    """Coupon position -> the rules' total stock, for the coupons that have one (kept on the
    compiled table: it is immutable)."""
    stocks = getattr(table, "_coupon_stocks", None)
    if stocks is None:
        stocks = {k: c.stock for k, c in enumerate(table.model.coupons) if c.stock is not None}
        table._coupon_stocks = stocks
    return stocks


async def coupon_counts(redis, cache, wanted: dict) -> dict:
    """coupon id -> units left, for `wanted` (coupon id -> the rules' starting stock)."""
    counts, missing = {}, []
    for coupon_id, starting in wanted.items():
        key = stock_key(COUPONS, coupon_id)
        value = cache.get(key) if cache is not None else MISS
        if value is MISS:
            missing.append((coupon_id, starting, key, cache.begin(key) if cache is not None else None))
        else:
            counts[coupon_id] = starting if value is None else value
    if missing:
        pipe = redis.pipeline(transaction=False)
        for _, _, key, _ in missing:
            pipe.get(key)
        for (coupon_id, starting, key, token), raw in zip(missing, await pipe.execute()):
            value = None if raw is None else int(raw)
            if cache is not None:
                cache.finish(key, token, value)
            counts[coupon_id] = starting if value is None else value
    return counts


async def quote_with_live_stock(evaluator, table, member, room, now: int, lines, fulfillment: str, *, redis,
                                cache, call=None):
    """evaluator.quote with the stocked coupons' live counts; `call` wraps each Redis read
    (the service's bounded call)."""
    stocks = starting_stocks(table)
    known: dict = {}
    coupons = table.model.coupons
    for _ in range(MAX_ROUNDS):
        quote = evaluator.quote(table, member, room, now, lines, fulfillment, Stock(coupons=known) if known else None)
        wanted = {coupons[k].id: stocks[k] for k in quote.applied_coupons() if k in stocks and coupons[k].id not in known}
        if not wanted:
            return quote
        read = coupon_counts(redis, cache, wanted)
        known.update(await (call(read) if call is not None else read))
    raise StockChanging("the coupons' stock kept changing while the cart was quoted")
