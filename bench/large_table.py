"""A large, realistic, deterministic rule table for benchmarks and load tests.

`generate()` builds a table in the author's format (plain dicts and lists, as parsed from
JSON) that passes validation: by default 100,000 products in ~400 categories, 3 tiers,
20 live rooms (one of them the `gala` night, 2026-11-11 20:00-23:00 +08:00, with a few
thousand live prices), 10% pickup discount, 20,000 coupons of all four kinds, the demo's
points rules and ~100 redemptions. Coupons are mostly scoped to a few skus, some to a few
categories and only ~20 storewide, so the candidates of one cart stay few, as in a real
catalogue.

`ensure_large_table()` writes it as compact JSON (examples/rules/large.json by default,
git-ignored) unless a file with the same generator stamp is there already. The stamp is
the table's `name`, e.g. `large-100000x20000-s1-v1`, written first in the file. Both take
an optional `progress(stage, items)`, told as every 1,000 products and coupons are built
and when the writing starts (what `rights rules generate-large` draws its bar from).

Everything depends only on the parameters: one `random.Random(seed)`, no sets iterated,
so the same parameters give the same bytes.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import random
import re
import tempfile
from collections.abc import Callable
from pathlib import Path

import orjson

GENERATOR_VERSION = 3  # bump when the output of generate() changes for the same parameters
DEFAULT_SKUS = 100_000
DEFAULT_COUPONS = 20_000
DEFAULT_SEED = 1
DEFAULT_PATH = Path(__file__).resolve().parent.parent / "examples" / "rules" / "large.json"

TIERS = ("silver", "gold", "black_gold")
_TZ = dt.timezone(dt.timedelta(hours=8))

_DEPARTMENTS = (
    ("milk", "鲜牛奶 fresh milk"),
    ("yogurt", "酸奶 yogurt"),
    ("cheese", "奶酪 cheese"),
    ("butter", "黄油 butter"),
    ("powder", "奶粉 milk powder"),
    ("cream", "奶油 cream"),
    ("tea", "茶 tea"),
    ("coffee", "咖啡 coffee"),
    ("snacks", "零食 snacks"),
    ("cereal", "燕麦 cereal"),
    ("oil", "食用油 oil"),
    ("rice", "大米 rice"),
    ("noodles", "面条 noodles"),
    ("eggs", "鸡蛋 eggs"),
    ("fruit", "水果 fruit"),
    ("vegetables", "蔬菜 vegetables"),
    ("meat", "肉类 meat"),
    ("seafood", "海鲜 seafood"),
    ("frozen", "冷冻 frozen"),
    ("bakery", "烘焙 bakery"),
)
_LINES = 20  # product lines per department: 20 x 20 = 400 categories
_SIZES = ("250g", "500g", "1kg", "1L", "6 pack", "12 pack", "gift box", "family pack", "trial size", "case")

_STAMP = re.compile(rb'"name"\s*:\s*"([^"]*)"')

Progress = Callable[[str, int], object]
"""Told (stage, items built since it was last told): ("products", 1000), ..., ("coupons", 1000),
..., ("writing", 0). The items of a table are its products and coupons."""
_EVERY = 1000  # items between two calls of a Progress


def _tick(progress: Progress | None, stage: str, done: int, total: int) -> None:
    """Tell `progress` every _EVERY items, and at the last one."""
    if progress is not None and (done % _EVERY == 0 or done == total):
        progress(stage, done % _EVERY or min(_EVERY, total))


def stamp(skus: int = DEFAULT_SKUS, coupons: int = DEFAULT_COUPONS, seed: int = DEFAULT_SEED) -> str:
    """The table name that records the generator's parameters and version."""
    return f"large-{skus}x{coupons}-s{seed}-v{GENERATOR_VERSION}"


def _iso(moment: dt.datetime) -> str:
    return moment.isoformat()


def _floor10(value: float) -> int:
    return int(value) // 10 * 10


def _price(rng: random.Random) -> int:
    """A shelf price in fen between 5 and 500 yuan, log-uniform, ending in .90 or .00 mostly."""
    yuan = math.exp(rng.uniform(math.log(5), math.log(500)))
    if yuan < 20:
        fen = int(yuan * 10) * 10  # 12.30
    else:
        fen = int(yuan) * 100 - rng.choice((10, 10, 10, 0, 100))  # 129.90, 130.00, 129.00
    return max(500, min(50_000, fen))


def _products(rng: random.Random, n: int, progress: Progress | None = None) -> list[dict]:
    categories = [f"{dept}-{line:02d}" for dept, _ in _DEPARTMENTS for line in range(1, _LINES + 1)]
    labels = {f"{dept}-{line:02d}": f"{label} {line}" for dept, label in _DEPARTMENTS for line in range(1, _LINES + 1)}
    # Popular categories hold more products: weights fall off gently.
    weights = [1.0 / (1 + k % 50) ** 0.5 for k in range(len(categories))]
    chosen = rng.choices(categories, weights=weights, k=n)
    products = []
    for i in range(n):
        sku = f"SKU-{i + 1:06d}"
        category = chosen[i]
        price = _price(rng)
        item = {
            "sku": sku,
            "name": f"{labels[category]} {rng.choice(_SIZES)} #{i + 1}",
            "category": category,
            "price": price,
        }
        if rng.random() < 0.30:
            # Tier prices fall with the tier: silver 2-6% off, gold 6-15% off, black-gold 10% below gold.
            silver = _floor10(price * (1 - rng.uniform(0.02, 0.06)))
            gold = min(silver - 10, _floor10(price * (1 - rng.uniform(0.06, 0.15))))
            black = min(gold - 10, _floor10(gold * 0.9))
            ladder = {"silver": silver, "gold": gold, "black_gold": black}
            picked = [t for t in TIERS if rng.random() < 0.6] or [rng.choice(TIERS)]
            item["tier_prices"] = {t: ladder[t] for t in picked}
        roll = rng.random()
        if roll < 0.02:
            item["min_tier"] = "black_gold" if roll < 0.012 else "gold"
        if rng.random() < 0.05:
            item["member_limit"] = rng.choice((1, 1, 2, 2, 3, 5, 10))
        products.append(item)
        _tick(progress, "products", i + 1, n)
    return products


def _rooms(rng: random.Random, products: list, n_rooms: int = 20) -> tuple:
    """The rooms, and their (start, end) datetimes by id, for coupon windows."""
    n = len(products)
    rooms, spans = [], {}
    gala_start = dt.datetime(2026, 11, 11, 20, 0, tzinfo=_TZ)
    gala_end = dt.datetime(2026, 11, 11, 23, 0, tzinfo=_TZ)
    # Other sessions: evenings from September to December 2026, 1-3 hours, members-only on member days.
    sessions = [("gala", "双11会员盛典 gala night", gala_start, gala_end, False, 3_000)]
    day = dt.datetime(2026, 9, 5, tzinfo=_TZ)
    for k in range(1, n_rooms):
        day += dt.timedelta(days=rng.randint(3, 7))
        if day.date() == gala_start.date():
            day += dt.timedelta(days=1)
        hour = rng.choice((19, 19, 20, 20, 20, 21))
        start = day.replace(hour=hour, minute=rng.choice((0, 0, 30)))
        end = start + dt.timedelta(minutes=rng.choice((60, 90, 120, 150, 180)))
        members_only = k % 4 == 0
        ident = f"member-day-{k:02d}" if members_only else f"live-{k:02d}"
        name = f"会员日 member day {k}" if members_only else f"直播间 live session {k}"
        sessions.append((ident, name, start, end, members_only, rng.choice((50, 100, 200, 300, 500))))
    for ident, name, start, end, members_only, n_live in sessions:
        n_live = max(1, min(n, n_live * n // DEFAULT_SKUS)) if n < DEFAULT_SKUS else n_live
        rows = sorted(rng.sample(range(n), min(n, n_live)))
        live = {}
        for row in rows:
            price = products[row]["price"]
            live[products[row]["sku"]] = max(0, min(price, _floor10(price * rng.uniform(0.6, 0.95))))
        room: dict[str, object] = {"id": ident, "name": name, "start": _iso(start), "end": _iso(end)}
        if members_only:
            room["members_only"] = True
        room["live_prices"] = live
        room["points_multiplier"] = 2 if ident == "gala" else rng.choice((1, 1, 1.5, 2))
        room["order_bonus"] = 50 if ident == "gala" else rng.choice((0, 20, 30, 50))
        rooms.append(room)
        spans[ident] = (start, end)
    return rooms, spans


def _minutes(m: int) -> str:
    return f"{m // 60}h{m % 60}m" if m >= 60 and m % 60 else (f"{m // 60}h" if m >= 60 else f"{m}m")


def _room_window(rng: random.Random, start: dt.datetime, end: dt.datetime) -> dict | None:
    """A window inside a room, written relative to it ("room_end - 5m"), or None: while live."""
    length = int((end - start).total_seconds() // 60)
    roll = rng.random()
    if roll < 0.3:
        return None
    if roll < 0.4:
        return {"from": "room_start", "to": "room_end"}
    if roll < 0.55:
        last = rng.choice((5, 10, 15, 30))  # the closing flash
        return {"from": f"room_end - {_minutes(last)}", "to": "room_end"}
    if roll < 0.7:
        first = rng.choice((10, 15, 30, 60))  # the opening rush
        return {"from": "room_start", "to": f"room_start + {_minutes(min(first, length))}"}
    if roll < 0.8:
        return {"to": f"room_end - {_minutes(rng.choice((5, 10, 30)))}"}
    if roll < 0.9:
        # Warm-up: valid from a day before the room until it ends.
        return {"from": "room_start - 1d", "to": "room_end"}
    a = rng.randrange(0, length - 5, 5)
    b = rng.randrange(a + 5, length + 1, 5)
    return {
        "from": f"room_start + {_minutes(a)}" if a else "room_start",
        "to": f"room_end - {_minutes(length - b)}" if b < length else "room_end",
    }


def _absolute_window(rng: random.Random) -> dict:
    start = dt.datetime(2026, 9, 1, tzinfo=_TZ) + dt.timedelta(
        days=rng.randint(0, 110), hours=rng.choice((0, 0, 10, 20))
    )
    end = start + dt.timedelta(days=rng.choice((1, 3, 7, 14, 30)))
    roll = rng.random()
    if roll < 0.15:
        return {"from": _iso(start)}
    if roll < 0.3:
        return {"to": _iso(end)}
    return {"from": _iso(start), "to": _iso(end)}


def _who(rng: random.Random, obj: dict, visitor_share: float = 0.0) -> None:
    """Tiers or min_tier of a coupon; about 40% for everyone."""
    roll = rng.random()
    if roll < visitor_share:
        obj["tiers"] = ["visitor"]
    elif roll < 0.40:
        return
    elif roll < 0.70:
        obj["min_tier"] = rng.choice(("silver", "silver", "gold", "gold", "black_gold"))
    else:
        picked = [t for t in TIERS if rng.random() < 0.4] or [rng.choice(TIERS)]
        obj["tiers"] = picked


def _coupon_values(rng: random.Random, kind: str, obj: dict, base: int | None) -> str:
    """Fill the kind's fields; return a short description for the name."""
    if kind == "percent_off":
        pct = rng.choice((5, 5, 8, 10, 10, 12, 15, 15, 20, 25, 30, 50))
        obj["percent_off"] = pct
        if rng.random() < 0.4:
            obj["max_discount"] = rng.choice((500, 1000, 2000, 3000, 5000, 10000))
        return f"{100 - pct}折 {pct}% off"
    if kind == "amount_off":
        amount = rng.choice((100, 200, 300, 500, 500, 800, 1000, 1500, 2000, 3000, 5000))
        if base is not None:
            amount = min(amount, max(100, base // 200 * 100))  # no more than about half the cheapest price
        obj["amount"] = amount
        return f"立减{amount // 100}元 {amount // 100} yuan off"
    if kind == "threshold_off":
        threshold = rng.choice((4900, 9900, 9900, 19900, 19900, 29900, 49900, 99900))
        amount = max(100, min(threshold, threshold * rng.choice((5, 8, 10, 15, 20, 25)) // 100 // 100 * 100))
        obj["threshold"] = threshold
        obj["amount"] = amount
        return f"满{threshold // 100}减{amount // 100} spend {threshold // 100} save {amount // 100}"
    # fixed_price: a flash price, sometimes zero, below the cheapest scoped sku
    if rng.random() < 0.06:
        price = 0
    else:
        price = _floor10((base or 1000) * rng.uniform(0.3, 0.8))
    obj["price"] = price
    if rng.random() < 0.5:
        obj["units"] = rng.choice((1, 1, 1, 2, 3))
    return f"{price / 100:.2f}元秒杀 flash price {price / 100:.2f}"


def _coupons(rng: random.Random, n: int, products: list, spans: dict, progress: Progress | None = None) -> list:
    n_products = len(products)
    categories = sorted({p["category"] for p in products})
    room_ids = list(spans)
    n_groups = max(1, min(200, n // 100))
    groups = [f"grp-{g:03d}" for g in range(1, n_groups + 1)]
    n_storewide = max(1, min(20, n // 100))
    storewide = set(rng.sample(range(n), min(n, n_storewide)))
    coupons = []
    for k in range(n):
        obj: dict = {"id": f"CPN-{k + 1:06d}"}
        if k in storewide:
            scope: str | dict[str, list[str]] = "all"
            kind = rng.choice(("percent_off", "percent_off", "threshold_off", "threshold_off", "amount_off"))
            base = None
        elif rng.random() < 0.02:  # ~400 category coupons: one or two per category, as brands run them
            scope = {"categories": rng.sample(categories, min(len(categories), rng.choice((1, 1, 1, 2, 3))))}
            kind = rng.choice(("percent_off", "amount_off", "threshold_off", "threshold_off"))
            base = None
        else:
            kind = rng.choices(("percent_off", "amount_off", "threshold_off", "fixed_price"), weights=(30, 25, 25, 20))[
                0
            ]
            count = rng.choice((1, 1, 2, 3, 5)) if kind == "fixed_price" else min(20, int(rng.paretovariate(1.2)))
            rows = sorted(rng.sample(range(n_products), min(n_products, max(1, count))))
            scope = {"skus": [products[r]["sku"] for r in rows]}
            base = min(products[r]["price"] for r in rows)
        obj["kind"] = kind
        what = _coupon_values(rng, kind, obj, base)
        obj["scope"] = scope
        _who(rng, obj, visitor_share=0.05 if scope == "all" else 0.01)
        if rng.random() < 0.45:
            room = "gala" if rng.random() < 0.4 else rng.choice(room_ids)
            obj["room"] = room
            window = _room_window(rng, *spans[room])
            if window is not None:
                obj["window"] = window
        elif rng.random() < 0.5:
            obj["window"] = _absolute_window(rng)
        if kind == "fixed_price" or rng.random() < 0.25:
            obj["member_limit"] = (
                rng.choice((1, 1, 1, 2, 3, 5)) if kind == "fixed_price" else rng.choice((1, 2, 3, 5, 10))
            )
        if kind == "fixed_price" or rng.random() < 0.4:
            obj["stock"] = rng.choice((50, 100, 200, 500, 1000, 5000, 20000, 100000))
        if scope == "all":
            # platform-wide coupons compete in two groups, as a store coupon and a
            # cross-store discount do; they never pile up ten deep on one order
            obj["stack_group"] = "storewide-" + ("threshold" if kind == "threshold_off" else "discount")
        elif "categories" in scope:
            obj["stack_group"] = "category"
        elif rng.random() < 0.75:
            obj["stack_group"] = rng.choice(groups)
        if rng.random() < 0.005:
            obj["exclusive"] = True
        roll = rng.random()
        if roll < 0.5:
            pass  # priority 0
        elif roll < 0.95:
            obj["priority"] = rng.randint(1, 20)
        else:
            obj["priority"] = rng.choice((50, 100, -10))
        where = obj.get("room", "全场" if scope == "all" else "")
        obj["name"] = f"{where} {what}".strip()
        # keep a readable field order: id, name, kind, values, scope, who, when, limits, stacking
        coupons.append({"id": obj.pop("id"), "name": obj.pop("name"), **obj})
        _tick(progress, "coupons", k + 1, n)
    return coupons


def _points() -> dict:
    return {
        "per_yuan": 10,
        "birthday_multiplier": 2,
        "order_bonus": 0,
        "events": {
            "watch": {"min_seconds": 600, "points": 20, "cap_per_session": 20},
            "share": {"points": 5, "cap_per_day": 15},
            "invite_order": {"points": 100},
            "photo_review": {"points": 30, "cap_per_day": 30},
        },
    }


def _redemptions(rng: random.Random, spans: dict, n: int = 100) -> list:
    room_ids = list(spans)
    gifts = (
        "低GI燕麦 low-GI oatmeal",
        "橄榄油 olive oil",
        "鸡蛋 eggs",
        "体验装 trial pack",
        "茶具 tea set",
        "保温杯 thermos",
        "酸奶机 yogurt maker",
        "购物袋 tote bag",
        "奶酪棒 cheese sticks",
        "礼盒 gift box",
    )
    out = []
    for k in range(n):
        obj: dict = {"id": f"RDM-{k + 1:04d}", "name": f"{rng.choice(gifts)} #{k + 1}"}
        style = k % 10
        if style in (0, 1, 2, 3):  # pure points
            obj["points"] = rng.choice((300, 500, 800, 1000, 1800, 2500, 5000, 10000))
        elif style in (4, 5):  # points + cash
            obj["points"] = rng.choice((500, 1000, 2000))
            obj["cash"] = rng.choice((990, 1990, 2990, 4990))
        elif style in (6, 7):  # flash redemption in a room's last minutes
            room = "gala" if style == 6 else rng.choice(room_ids)
            obj["points"] = rng.choice((388, 588, 888, 1288))
            obj["room"] = room
            obj["window"] = {"from": f"room_end - {rng.choice((5, 5, 10))}m", "to": "room_end"}
            obj["member_limit"] = 1
        elif style == 8:  # task unlock
            obj["points"] = 0
            obj["unlock"] = {"sessions_watched": rng.choice((3, 3, 5, 10))}
            obj["member_limit"] = 1
        else:  # tier-only
            obj["points"] = rng.choice((3000, 5000, 8000))
            if rng.random() < 0.5:
                obj["min_tier"] = rng.choice(("gold", "black_gold"))
            else:
                obj["tiers"] = [rng.choice(TIERS)]
        if rng.random() < 0.8:
            obj["stock"] = rng.choice((50, 100, 300, 500, 1000))
        if "member_limit" not in obj and rng.random() < 0.5:
            obj["member_limit"] = rng.choice((1, 2, 3))
        out.append(obj)
    return out


def generate(
    skus: int = DEFAULT_SKUS, coupons: int = DEFAULT_COUPONS, seed: int = DEFAULT_SEED, progress: Progress | None = None
) -> dict:
    """The rule table, as the plain data a JSON file of it parses to."""
    if skus < 1 or coupons < 0:
        raise ValueError("need at least one sku and no negative number of coupons")
    rng = random.Random(seed)
    products = _products(rng, skus, progress)
    rooms, spans = _rooms(rng, products)
    return {
        "format": 1,
        "name": stamp(skus, coupons, seed),
        "timezone": "+08:00",
        "tiers": [
            {"id": "silver", "name": "银卡 silver", "points_multiplier": 1},
            {"id": "gold", "name": "金卡 gold", "points_multiplier": 1.5},
            {"id": "black_gold", "name": "黑金卡 black-gold", "points_multiplier": 2},
        ],
        "products": products,
        "rooms": rooms,
        "fulfillment": {"pickup_discount_percent": 10},
        "coupons": _coupons(rng, coupons, products, spans, progress),
        "points": _points(),
        "redemptions": _redemptions(rng, spans),
    }


def dumps(table: dict) -> bytes:
    """Compact JSON of a table, field order as generated."""
    return orjson.dumps(table)


def write(path: str | Path, table: dict) -> Path:
    """Write atomically (temporary file, then rename) so a reader never sees half a table."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(dumps(table))
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes it private; give it the usual mode
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return path


def read_stamp(path: str | Path) -> str | None:
    """The `name` of a generated table, read from the file's first bytes; None if unreadable."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(512)
    except OSError:
        return None
    match = _STAMP.search(head)
    return match.group(1).decode("utf-8", "replace") if match else None


def ensure_large_table(
    path: str | Path | None = None,
    skus: int = DEFAULT_SKUS,
    coupons: int = DEFAULT_COUPONS,
    seed: int = DEFAULT_SEED,
    progress: Progress | None = None,
) -> Path:
    """The path of the generated table, generating it only when missing or of other parameters."""
    path = Path(path) if path is not None else DEFAULT_PATH
    if read_stamp(path) != stamp(skus, coupons, seed):
        table = generate(skus, coupons, seed, progress)
        if progress is not None:
            progress("writing", 0)
        write(path, table)
    return path
