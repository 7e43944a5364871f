"""Generated rule tables, members, stock and carts for the differential tests.

One generator, two sources of choices: Hypothesis draws (tests/test_differential.py, which
shrinks a failure to a small case) and a seeded `random.Random` (`Seeded`, for the bulk
comparison in tests/test_differential_bulk.py, which replays a case from its seed). A
source answers `integer`, `choice`, `boolean`, `subset`, `counts` and `cart`.
"""

from __future__ import annotations

import datetime as dt
import random

from engine.model import Member, Stock

T0 = 1_800_000_000  # the generated rooms and windows live around this instant
TIERS = ["t1", "t2", "t3", "t4"]
KINDS = ["percent_off", "amount_off", "threshold_off", "fixed_price"]
CST = dt.timezone(dt.timedelta(hours=8))
TAGS = ["family-0-3", "family-3-6", "fitness", "office", "vip"]
WIDE_TAGS = [f"t{k:02d}" for k in range(64)]  # the most a table may name: the last is bit 63
SEGMENT_KEYS = ["any_of", "all_of", "none_of"]


class Seeded:
    """Choices from a `random.Random` seeded with `seed` (any int or str). Uniform draws from
    `random()` rather than `randint`, which costs several times as much."""

    def __init__(self, seed):
        self.rng = random.Random(seed)
        self.uniform = self.rng.random

    def integer(self, low: int, high: int) -> int:
        return low + int(self.uniform() * (high - low + 1))

    def choice(self, options):
        return options[int(self.uniform() * len(options))]

    def boolean(self) -> bool:
        return self.uniform() < 0.5

    def subset(self, options) -> list:
        """At least one of `options` (distinct values), each at most once, in some order."""
        distinct = list(dict.fromkeys(options))
        return self.rng.sample(distinct, self.integer(1, len(distinct)))

    def counts(self, keys, low: int, high: int) -> dict:
        """Some of `keys`, each with a count in [low, high]."""
        return {self.choice(keys): self.integer(low, high) for _ in range(self.integer(0, len(keys)))}

    def cart(self, skus, most: int) -> list:
        """Up to `most` lines of (a sku of `skus`, 1 to 5)."""
        return [(self.choice(skus), self.integer(1, 5)) for _ in range(self.integer(0, most))]


def iso(seconds: int) -> str:
    return dt.datetime.fromtimestamp(seconds, CST).isoformat()


def table_data(pick) -> dict:
    """The source of a rule table: 1-4 tiers, 1-8 products, 0-2 rooms, 0-10 coupons of every
    kind and scope, 0-4 redemption items, pickup and points settings; some of the products,
    coupons and items for a segment of a few tags (now and then of 64)."""
    tag_pool = WIDE_TAGS if pick.integer(0, 7) == 0 else TAGS
    n_tiers = pick.integer(1, 4)
    tiers = [{"id": TIERS[k], "points_multiplier": pick.choice([1, 1.25, 1.5, 2, 3])} for k in range(n_tiers)]
    tier_ids = ["visitor"] + TIERS[:n_tiers]
    categories = ["c0", "c1", "c2"]
    products = []
    for k in range(pick.integer(1, 8)):
        price = pick.integer(0, 50_000)
        product = {"sku": f"S{k}", "price": price, "category": pick.choice(categories)}
        prices = {}
        for tier in TIERS[:n_tiers]:
            if pick.boolean():
                prices[tier] = pick.integer(0, price)
        if prices:
            product["tier_prices"] = prices
        who = pick.choice(["all", "min", "list"])
        if who == "min":
            product["min_tier"] = pick.choice(tier_ids)
        elif who == "list":
            product["tiers"] = pick.subset(tier_ids)
        if pick.integer(0, 3) == 0:
            product["member_limit"] = pick.integer(1, 4)
        if pick.integer(0, 3) == 0:
            product["segments"] = segment(pick, tag_pool)
        products.append(product)
    used_categories = sorted({p["category"] for p in products})
    rooms = []
    for k in range(pick.integer(0, 2)):
        start = T0 + pick.integer(-3000, 3000)
        room = {
            "id": f"R{k}",
            "start": start,
            "end": start + pick.integer(600, 6000),
            "members_only": pick.boolean(),
            "points_multiplier": pick.choice([1, 2, 1.5]),
            "order_bonus": pick.integer(0, 100),
        }
        live = {}
        for product in products:
            if pick.boolean():
                live[product["sku"]] = pick.integer(0, product["price"])
        room["live_prices"] = live
        rooms.append(room)
    for room in rooms:  # the loader takes ISO times; generate them from the integers
        room["start"] = iso(room["start"])
        room["end"] = iso(room["end"])
    coupons = []
    for k in range(pick.integer(0, 10)):
        kind = pick.choice(KINDS)
        coupon = {"id": f"C{k}", "kind": kind}
        if kind == "percent_off":
            coupon["percent_off"] = pick.integer(1, 100)
            if pick.boolean():
                coupon["max_discount"] = pick.integer(1, 5000)
        elif kind == "amount_off":
            coupon["amount"] = pick.integer(1, 20_000)
        elif kind == "threshold_off":
            threshold = pick.integer(1, 60_000)
            coupon["threshold"] = threshold
            coupon["amount"] = pick.integer(1, threshold)
        else:
            coupon["price"] = pick.integer(0, 20_000)
            coupon["units"] = pick.integer(1, 4)
        scope = pick.choice(["all", "skus", "categories", "both"])
        if scope == "all":
            coupon["scope"] = "all"
        else:
            chosen = {}
            if scope in ("skus", "both"):
                chosen["skus"] = pick.subset([p["sku"] for p in products])
            if scope in ("categories", "both"):
                chosen["categories"] = pick.subset(used_categories)
            coupon["scope"] = chosen
        who = pick.choice(["all", "all", "all", "min", "list"])
        if who == "min":
            coupon["min_tier"] = pick.choice(tier_ids)
        elif who == "list":
            coupon["tiers"] = pick.subset(tier_ids)
        if rooms and pick.integer(0, 2) == 0:
            coupon["room"] = pick.choice([r["id"] for r in rooms])
            if pick.boolean():
                coupon["window"] = {"from": "room_start", "to": pick.choice(["room_end", "room_end - 5m"])}
        elif pick.integer(0, 3) == 0:
            start = T0 + pick.integer(-4000, 4000)
            coupon["window"] = {"from": iso(start), "to": iso(start + pick.integer(1, 5000))}
        if pick.integer(0, 3) == 0:
            coupon["member_limit"] = pick.integer(1, 3)
        if pick.integer(0, 3) == 0:
            coupon["stock"] = pick.integer(0, 5)
        group = pick.choice([None, "g1", "g2", "g3"])
        if group:
            coupon["stack_group"] = group
        coupon["exclusive"] = pick.integer(0, 5) == 0
        coupon["priority"] = pick.integer(-2, 3)
        if pick.integer(0, 2) == 0:
            coupon["segments"] = segment(pick, tag_pool)
        if pick.integer(0, 2) == 0:  # owned only: bought with points through a redemption
            coupon["issue"] = "granted"
            coupon["valid_days"] = pick.integer(1, 30)
        coupons.append(coupon)
    redemptions = []
    for k in range(pick.integer(0, 4)):
        item = {
            "id": f"X{k}",
            "points": pick.integer(0, 3000),
            "cash": pick.integer(0, 3000),
            "unlock": {"sessions_watched": pick.integer(1, 4)},
        }
        if pick.boolean():
            item["min_tier"] = pick.choice(tier_ids[1:])
        if rooms and pick.boolean():
            item["room"] = pick.choice([r["id"] for r in rooms])
            item["window"] = {"from": "room_end - 5m", "to": "room_end"}
        if pick.boolean():
            item["stock"] = pick.integer(0, 3)
        if pick.boolean():
            item["member_limit"] = pick.integer(1, 3)
        if pick.integer(0, 2) == 0:
            item["segments"] = segment(pick, tag_pool)
        granted = [c["id"] for c in coupons if c.get("issue") == "granted"]
        if granted and pick.boolean():
            item["grants_coupon"] = pick.choice(granted)
        redemptions.append(item)
    if tag_pool is WIDE_TAGS:  # one item names all 64 tags, so the last has bit 63
        redemptions.append({"id": "XW", "points": pick.integer(1, 3000), "segments": {"any_of": WIDE_TAGS}})
    data = {
        "tiers": tiers,
        "products": products,
        "rooms": rooms,
        "coupons": coupons,
        "redemptions": redemptions,
        "fulfillment": {"pickup_discount_percent": pick.integer(0, 20)},
        "points": {
            "per_yuan": pick.integer(0, 20),
            "birthday_multiplier": pick.choice([1, 2, 1.5]),
            "order_bonus": pick.integer(0, 50),
        },
    }
    if pick.integer(0, 2) > 0:
        data["progression"] = progression(pick, tiers)
    return data


def progression(pick, tiers: list) -> dict:
    """0-3 tasks (streaks and counts) and a `reach` on some tiers: tasks, spend, growth."""
    tasks = {}
    for k in range(pick.integer(0, 3)):
        if pick.boolean():
            tasks[f"task{k}"] = {"streak_days": pick.integer(1, 5), "hint": "do {task}: {left} more"}
        else:
            tasks[f"task{k}"] = {"count": pick.integer(1, 5), "within_days": pick.integer(1, 30)}
    for tier in tiers:
        if pick.integer(0, 3) == 0:
            continue
        reach: dict = {}
        if tasks and pick.boolean():
            reach["tasks"] = pick.subset(sorted(tasks))
        if pick.boolean():
            reach["spend"] = pick.integer(1, 20_000)
        if not reach or pick.boolean():
            reach["growth"] = pick.integer(1, 500)
        tier["reach"] = reach
    return {"tasks": tasks, "growth_per_yuan": pick.integer(0, 5), "review_months": pick.integer(1, 24)}


def segment(pick, tags: list) -> dict:
    """A segment of some of `tags`, each in one of any_of, all_of, none_of (so never a
    contradiction)."""
    lists: dict = {}
    for tag in pick.subset(tags)[:6]:
        lists.setdefault(pick.choice(SEGMENT_KEYS), []).append(tag)
    return lists


def member_tags(pick, table) -> frozenset:
    """None, or some of the tags the table's segments name, with one now and then that none does."""
    if pick.integer(0, 3) == 0:
        return frozenset()
    named = sorted(table.tag_bit) or TAGS
    return frozenset(pick.subset(named + ["unnamed"])[:8] + ([named[-1]] if pick.boolean() else []))


def make_situation(pick, table) -> tuple:
    """A member with a cart in the compiled `table` at some instant, with the live stock:
    the arguments of `quote` (table, member, room, now, lines, fulfillment, stock)."""
    model = table.model
    skus = [p.sku for p in model.products] + ["UNKNOWN"]
    coupon_ids = [c.id for c in model.coupons]
    item_ids = [r.id for r in model.redemptions]
    member = Member(
        tier=pick.choice([None] + [t.id for t in model.tiers] * 2),
        points=pick.integer(0, 5000),
        birthday_month=pick.integer(0, 12),
        sessions_watched=pick.integer(0, 5),
        points_debt=pick.choice([0, 0, 0, 1, 250]),
        tags=member_tags(pick, table),
        coupon_uses=pick.counts(coupon_ids, 0, 3) if coupon_ids else {},
        redemption_uses=pick.counts(item_ids, 0, 3) if item_ids else {},
        sku_bought=pick.counts(skus, 0, 3),
        owned_coupons=pick.counts(coupon_ids + ["UNKNOWN"], 0, 2),
    )
    if model.progression is not None:
        member = member._replace(
            spend_12m=pick.integer(0, 20_000),
            growth=pick.integer(0, 500),
            tasks=pick.counts(list(model.progression.tasks) + ["unknown_task"], 0, 6),
        )
    stock = Stock(
        coupons=pick.counts(coupon_ids, 0, 2) if coupon_ids else {},
        redemptions=pick.counts(item_ids, 0, 2) if item_ids else {},
    )
    room = pick.choice([None] + [r.id for r in model.rooms] * 3)
    if room is not None and pick.integer(0, 3) > 0:  # mostly while the room is live
        live = model.rooms[table.room_index[room]]
        now = pick.integer(live.start, live.end - 1)
    else:
        now = T0 + pick.integer(-6000, 12000)
    lines = pick.cart(skus[:-1] * 4 + skus[-1:], 8)
    fulfillment = pick.choice(["delivery", "delivery", "pickup"])
    return table, member, room, now, lines, fulfillment, stock
