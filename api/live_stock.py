"""Quotes that know the shared stock as Redis has it.

A coupon with a total `stock` is counted down in Redis by every order that uses it
(`stock:{c:<coupon>}`), a redemption item by every redemption (`stock:{r:<item>}`,
api/reservations.py). A quote that applied a coupon which has run out would show a
price the order cannot keep, and one that offers a sold-out item would be wrong too, so
checkout and settlement quote through `quote_with_live_stock`: when the quote applies
coupons or offers items that have a stock, their counts are read (from the worker's
tracked cache when it has them, else one pipeline), and if one has run out the cart is
quoted again with the counts known. A quote that touches nothing stocked costs nothing
more.
"""
from __future__ import annotations

from engine.model import Stock

from .reservations import COUPONS, REDEMPTIONS, stock_key
from .store import MISS

MAX_ROUNDS = 8  # each round learns at least one more count; a cart has few stocked coupons


class StockChanging(RuntimeError):
    """The counts kept moving while the cart was quoted again and again."""


def starting_stocks(table) -> tuple:
    """(coupon position -> the rules' total stock, item position -> its stock), for those
    that have one (kept on the compiled table: it is immutable)."""
    stocks = getattr(table, "_starting_stocks", None)
    if stocks is None:
        stocks = ({k: c.stock for k, c in enumerate(table.model.coupons) if c.stock is not None},
                  {k: r.stock for k, r in enumerate(table.model.redemptions) if r.stock is not None})
        table._starting_stocks = stocks
    return stocks


def touches_stock(table, quote) -> bool:
    """Whether the quote applies a stocked coupon or offers a stocked item."""
    coupons, items = starting_stocks(table)
    return (bool(coupons) and any(k in coupons for k in quote.applied_coupons())) or (
        bool(items) and any(k in items for k in quote.available_redemptions()))


async def counts(redis, cache, pool: str, wanted: dict) -> dict:
    """id -> units left, for `wanted` (id -> the rules' starting stock) of one pool."""
    counts, missing = {}, []
    for coupon_id, starting in wanted.items():
        key = stock_key(pool, coupon_id)
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
    """evaluator.quote with the live counts of the stocked coupons it applies and the
    stocked items it offers; `call` wraps each Redis read (the service's bounded call)."""
    coupon_stocks, item_stocks = starting_stocks(table)
    known_coupons: dict = {}
    known_items: dict = {}
    coupons, items = table.model.coupons, table.model.redemptions
    for _ in range(MAX_ROUNDS):
        stock = Stock(coupons=known_coupons, redemptions=known_items) if known_coupons or known_items else None
        quote = evaluator.quote(table, member, room, now, lines, fulfillment, stock)
        want_coupons = {coupons[k].id: coupon_stocks[k] for k in quote.applied_coupons()
                        if k in coupon_stocks and coupons[k].id not in known_coupons}
        want_items = {items[k].id: item_stocks[k] for k in quote.available_redemptions()
                      if k in item_stocks and items[k].id not in known_items}
        if not want_coupons and not want_items:
            return quote
        for pool, wanted, known in ((COUPONS, want_coupons, known_coupons), (REDEMPTIONS, want_items, known_items)):
            if wanted:
                read = counts(redis, cache, pool, wanted)
                known.update(await (call(read) if call is not None else read))
    raise StockChanging("the stock kept changing while the cart was quoted")
