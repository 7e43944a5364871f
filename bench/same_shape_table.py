"""The demo table inside a large one: what table size alone costs a quote.

`embedded_demo()` is the demo's rule table (engine/demo, DEMO_RULES) with the large
table's products, coupons and redemptions added beside it (bench/large_table.py), moved
where the demo's carts never meet them: their rooms are renamed (`bulk-gala`, ...), their
categories are the large table's own (`milk-01`, never the demo's `milk`), its storewide
coupons are scoped to one of those categories instead, its stacking groups are renamed,
and every added redemption belongs to one of the added rooms. A demo cart quoted in the
demo's `gala` room against both tables then meets the same coupons and redemptions,
so the time between the two is the price of the table's size and nothing else.

`ensure_same_shape_table()` writes it as compact JSON beside the large table
(examples/rules/large-same-shape.json, git-ignored) unless the file there was made from
the same demo and generator parameters (its `name` says so).
"""

from __future__ import annotations

import random
from pathlib import Path

import orjson

from bench.large_table import DEFAULT_COUPONS, DEFAULT_PATH, DEFAULT_SEED, DEFAULT_SKUS, generate, read_stamp, stamp
from bench.large_table import write as write_table
from engine.compiler import content_version
from engine.demo import DEMO_RULES
from engine.rules.source import parse, read_bytes

PREFIX = "bulk-"  # the added rooms' ids and stacking groups begin with it
SAME_SHAPE_PATH = DEFAULT_PATH.with_name("large-same-shape.json")


def _name(demo_raw: bytes, skus: int, coupons: int, seed: int) -> str:
    """The table's `name`: the demo's content hash and the large table's stamp."""
    return f"demo-{content_version(demo_raw)}-in-{stamp(skus, coupons, seed)}"


def ensure_same_shape_table(
    path: str | Path | None = None, skus: int = DEFAULT_SKUS, coupons: int = DEFAULT_COUPONS, seed: int = DEFAULT_SEED
) -> Path:
    """The path of the embedded table, generating it only when missing or made otherwise."""
    path = Path(path) if path is not None else SAME_SHAPE_PATH
    if read_stamp(path) != _name(read_bytes(DEMO_RULES), skus, coupons, seed):
        write_table(path, orjson.loads(embedded_demo(skus, coupons, seed)))
    return path


def embedded_demo(skus: int = DEFAULT_SKUS, coupons: int = DEFAULT_COUPONS, seed: int = DEFAULT_SEED) -> bytes:
    """The demo table with `skus` products, `coupons` coupons and ~100 redemptions added
    that its own carts never meet, as JSON source (for engine.rules.load.compile_source)."""
    demo_raw = read_bytes(DEMO_RULES)
    demo = parse(demo_raw)
    large = generate(skus, coupons, seed)
    rng = random.Random(seed)
    rooms = [{**room, "id": PREFIX + room["id"]} for room in large["rooms"]]
    room_ids = [room["id"] for room in rooms]
    categories = sorted({p["category"] for p in large["products"]})
    added_coupons = []
    for coupon in large["coupons"]:
        coupon = dict(coupon)
        if coupon["scope"] == "all":
            coupon["scope"] = {"categories": [rng.choice(categories)]}
        if "room" in coupon:
            coupon["room"] = PREFIX + coupon["room"]
        if "stack_group" in coupon:
            coupon["stack_group"] = PREFIX + coupon["stack_group"]
        added_coupons.append(coupon)
    added_redemptions = []
    for item in large["redemptions"]:
        item = dict(item)
        item["room"] = PREFIX + item["room"] if "room" in item else rng.choice(room_ids)
        added_redemptions.append(item)
    table = {
        "name": _name(demo_raw, skus, coupons, seed),  # first: read_stamp finds it there
        **{key: value for key, value in demo.items() if key != "name"},
        "products": demo["products"] + large["products"],
        "rooms": demo["rooms"] + rooms,
        "coupons": demo["coupons"] + added_coupons,
        "redemptions": demo["redemptions"] + added_redemptions,
    }
    return orjson.dumps(table)
