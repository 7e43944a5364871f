"""The compiled evaluator next to GoRules zen-engine, the open-source business rules engine
a team might otherwise pick, on the same decision for the same carts.

The rule table becomes a JDM decision graph of two decision tables: the unit price of
each line (one row per sku, tier and whether the room is live: the tier, live and base
price layers resolved into the row, and whether that tier may buy it), looped over the
cart's lines; then the coupons the cart may use (hit policy `collect`: one row per
coupon, its tiers, room and window as conditions, and for a threshold coupon the spend
its scope reaches). That is the tier-price and coupon decision only: no allocation to
lines, no choice of the best combination, no points, no redemptions, which the compiled
evaluator's whole quote does on top, so the ratio leans towards zen-engine.

Both are timed per cart from Python inputs to a Python answer, in turns, cart by cart.
The unit prices and the usable coupons zen-engine finds are checked against the compiled
quote's (applied or lost to a better combination).
"""

from __future__ import annotations

import json
import statistics

from bench.engine_bench import GALA_NIGHT, MEMBER, interleaved_us, paired_ratio, random_carts
from engine import codes, evaluators
from engine.model import VISITOR


def _node(node_id: str, kind: str, content: dict | None = None) -> dict:
    node = {"id": node_id, "name": node_id, "type": kind, "position": {"x": 0, "y": 0}}
    if content is not None:
        node["content"] = content
    return node


def _text(value: str) -> str:
    return json.dumps(value)


def decision_graph(table, room: str, now: int, tags: frozenset = frozenset()) -> str:
    """The JDM graph (JSON text) of the table's prices and coupons at `now` in `room`, for
    a member with `tags` and no coupon grants: a product or coupon whose segment the tags
    do not meet is not theirs, and an `issue: granted` coupon is nobody's until bought."""
    model = table.model
    tiers = [VISITOR] + [t.id for t in model.tiers]
    rooms = {r.id: r for r in model.rooms}
    live_prices = rooms[room].live_prices if room in rooms else {}
    price_rows = []
    for product in model.products:
        for tier in tiers:
            for live in (True, False):
                price = product.price
                tier_price = product.tier_prices.get(tier) if tier != VISITOR else None
                if tier_price is not None and tier_price < price:
                    price = tier_price
                if live and product.sku in live_prices and live_prices[product.sku] < price:
                    price = live_prices[product.sku]
                price_rows.append(
                    {
                        "_id": f"{product.sku}/{tier}/{live}",
                        "sku": _text(product.sku),
                        "tier": _text(tier),
                        "live": "true" if live else "false",
                        "unit": str(price),
                        "amount": f"{price} * qty",
                        "ok": "true" if tier in product.allowed_tiers and _admits(product, tags) else "false",
                        "category": _text(product.category),
                    }
                )
    prices = {
        "hitPolicy": "first",
        "inputField": "lines",
        "outputPath": "priced",
        "executionMode": "loop",
        "passThrough": True,
        "inputs": [
            {"id": "sku", "name": "sku", "field": "sku"},
            {"id": "tier", "name": "tier", "field": "tier"},
            {"id": "live", "name": "live", "field": "live"},
        ],
        "outputs": [
            {"id": "unit", "name": "unit", "field": "unit"},
            {"id": "amount", "name": "amount", "field": "amount"},
            {"id": "ok", "name": "ok", "field": "ok"},
            {"id": "category", "name": "category", "field": "category"},
            {"id": "sku_out", "name": "sku", "field": "sku"},
        ],
        "rules": [{**row, "sku_out": row["sku"]} for row in price_rows],
    }
    spend = {"id": "spend", "key": "spent", "value": "sum(map(filter(priced, #.ok), #.amount))"}
    coupon_rows = []
    for coupon in model.coupons:
        if coupon.issue == "granted" or not _admits(coupon, tags):
            continue
        scope = "spent"
        if not coupon.scope_all:
            skus = json.dumps(sorted(coupon.scope_skus))
            categories = json.dumps(sorted(coupon.scope_categories))
            scope = f"sum(map(filter(priced, #.ok and (#.sku in {skus} or #.category in {categories})), #.amount))"
        threshold = coupon.threshold if coupon.kind == "threshold_off" else 1
        start = coupon.window_from
        end = coupon.window_to
        if coupon.room is not None and start is None:
            start, end = rooms[coupon.room].start, rooms[coupon.room].end
        coupon_rows.append(
            {
                "_id": coupon.id,
                "tier": f"$ in {json.dumps(sorted(coupon.tiers))}",
                "room": "" if coupon.room is None else _text(coupon.room),
                "from": "" if start is None else f">= {start}",
                "to": "" if end is None else f"< {end}",
                "reach": f"{scope} >= {threshold}",
                "id": _text(coupon.id),
                "kind": _text(coupon.kind),
                "percent": str(coupon.percent_off or 0),
                "amount": str(coupon.amount or 0),
            }
        )
    coupons = {
        "hitPolicy": "collect",
        "outputPath": "coupons",
        "passThrough": True,
        "inputs": [
            {"id": "tier", "name": "tier", "field": "tier"},
            {"id": "room", "name": "room", "field": "room"},
            {"id": "from", "name": "from", "field": "now"},
            {"id": "to", "name": "to", "field": "now"},
            {"id": "reach", "name": "reach"},
        ],
        "outputs": [
            {"id": "id", "name": "id", "field": "id"},
            {"id": "kind", "name": "kind", "field": "kind"},
            {"id": "percent", "name": "percent", "field": "percent"},
            {"id": "amount", "name": "amount", "field": "amount"},
        ],
        "rules": coupon_rows,
    }
    nodes = [
        _node("in", "inputNode"),
        _node("prices", "decisionTableNode", prices),
        _node("spend", "expressionNode", {"expressions": [spend], "passThrough": True}),
        _node("coupons", "decisionTableNode", coupons),
        _node("out", "outputNode"),
    ]
    chain = ["in", "prices", "spend", "coupons", "out"]
    edges = [
        {"id": f"e{k}", "type": "edge", "sourceId": a, "targetId": b} for k, (a, b) in enumerate(zip(chain, chain[1:]))
    ]
    return json.dumps({"contentType": "application/vnd.gorules.decision", "nodes": nodes, "edges": edges})


def _admits(item, tags: frozenset) -> bool:
    return item.segment is None or item.segment.admits(tags)


class ZenQuote:
    """zen-engine's answer for one cart: the context in, the decision's result out."""

    def __init__(self, table, room: str, now: int):
        import zen

        self.engine = zen.ZenEngine()
        self.decision = self.engine.create_decision(decision_graph(table, room, now, MEMBER.tags))
        rooms = {r.id: r for r in table.model.rooms}
        self.live = room in rooms and rooms[room].start <= now < rooms[room].end
        self.room, self.now = room, now

    def __call__(self, tier: str, cart: list) -> dict:
        lines = [{"sku": sku, "qty": qty, "tier": tier, "live": self.live} for sku, qty in cart]
        return self.decision.evaluate({"lines": lines, "tier": tier, "room": self.room, "now": self.now})["result"]


def run(carts: int = 150, repeat: int = 20) -> dict:
    from engine.demo import DEMO_RULES
    from engine.rules.load import load_file

    compiled = evaluators.get("compiled")
    table = load_file(DEMO_RULES)
    zen_quote = ZenQuote(table, "gala", GALA_NIGHT)
    cart_list = random_carts(table, carts, 5, seed=7)
    tier = MEMBER.tier or VISITOR  # the graph's rows name a visitor's tier
    agree = 0
    usable = (codes.OK, codes.LOST_TO_BETTER_COMBINATION)
    for cart in cart_list:  # the same unit prices, and the same coupons usable
        ours = compiled.quote(table, MEMBER, "gala", GALA_NIGHT, cart).to_raw()
        theirs = zen_quote(tier, cart)
        prices = all(
            line.unit_price == row["unit"] for line, row in zip(ours.lines, theirs["priced"]) if line.unit_price
        )
        coupons = {table.model.coupons[c.index].id for c in ours.coupons if c.status in usable} == {
            c["id"] for c in theirs["coupons"]
        }
        agree += prices and coupons
    samples = interleaved_us(
        {
            "compiled": (lambda cart: compiled.quote(table, MEMBER, "gala", GALA_NIGHT, cart), cart_list, repeat * 10),
            "zen": (lambda cart: zen_quote(tier, cart), cart_list, repeat),
        }
    )
    return {
        "compiled_quote_us_p50": round(statistics.median(samples["compiled"]), 3),
        "zen_engine_decision_us_p50": round(statistics.median(samples["zen"]), 1),
        "zen_over_compiled": paired_ratio(samples["zen"], samples["compiled"]),
        "carts_with_the_same_prices_and_coupons": agree,
        "carts": len(cart_list),
    }


TARGETS = {"zen_over_compiled": (">=", 20.0)}
