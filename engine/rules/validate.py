"""Turning an author's rule table (parsed YAML or JSON) into a checked RuleTable.

Every error is collected, with the path of the field it concerns, so an author fixes a
file in one pass. Messages say what is wrong in the author's terms, not Python's.
"""
from __future__ import annotations

import contextlib
import functools
import datetime as dt
import gc
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Optional

from ..model import (
    COUPON_KINDS,
    EVENT_KINDS,
    MAX_MULTIPLIER_PERCENT,
    MAX_PER_YUAN,
    MAX_POINTS,
    MAX_PRICE_FEN,
    MAX_TIERS,
    REFUND_POLICIES,
    VISITOR,
    Coupon,
    EventRule,
    PointsRules,
    Product,
    Redemption,
    Room,
    RuleTable,
    Tier,
)

FORMAT_VERSION = 1
MAX_ID_LENGTH = 64
MAX_EXPIRE_DAYS = 3650
MAX_INVITES_PER_HOUR = 10_000
DEFAULT_INVITES_PER_HOUR = 10  # invites that order, per member and clock hour, before a freeze for review
MAX_NAME_LENGTH = 200
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]*\Z")
_OFFSET = re.compile(r"^([+-])(0\d|1[0-4]):([0-5]\d)\Z")
_RELATIVE = re.compile(r"^(room_start|room_end)\s*(?:([+-])\s*((?:\d+[dhms])+))?\Z")
_DURATION_PART = re.compile(r"(\d+)([dhms])")
_UNIT_SECONDS = {"d": 86400, "h": 3600, "m": 60, "s": 1}


@dataclass(frozen=True)
class RuleError:
    path: tuple
    message: str

    @property
    def place(self) -> str:
        return format_path(self.path)

    def __str__(self) -> str:
        return f"{self.place}: {self.message}" if self.path else self.message


class RuleTableError(ValueError):
    """The table has errors; `errors` lists all of them."""

    def __init__(self, errors: list):
        self.errors = errors
        super().__init__("; ".join(str(e) for e in errors))


def format_path(path: tuple) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def build_table(data: Any) -> RuleTable:
    """Check `data` and return the RuleTable, or raise RuleTableError with every error."""
    checker = _Checker()
    with gc_paused():
        table = checker.table(data)
    if checker.errors:
        raise RuleTableError(list(dict.fromkeys(checker.errors)))
    return table


_MISSING = object()


@contextlib.contextmanager
def gc_paused():
    """Building a large table makes millions of objects that all live on: the cyclic
    collector would scan them again and again for nothing."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class _Checker:
    def __init__(self) -> None:
        self.errors: list = []
        self.utc_offset = 8 * 3600
        self.declared_skus: set = set()  # every sku written, valid product or not

    # -- reporting and scalar helpers -------------------------------------------------

    def error(self, path: tuple, message: str) -> None:
        self.errors.append(RuleError(tuple(path), message))

    def mapping(self, obj: Any, path: tuple, allowed: tuple, required: tuple = ()) -> Optional[dict]:
        if not isinstance(obj, dict):
            self.error(path, "must be a mapping of fields")
            return None
        for key in obj:
            if key not in allowed:
                self.error(path + (key,), f"unknown field; expected one of: {', '.join(allowed)}")
        for key in required:
            if key not in obj:
                self.error(path + (key,), "is required")
        return obj

    def integer(self, obj: dict, path: tuple, key: str, lo: int, hi: int, default: Any = _MISSING,
                what: str = "a whole number") -> Any:
        value = obj.get(key, _MISSING)
        if value is _MISSING:
            if default is _MISSING:
                self.error(path + (key,), "is required")
                return None
            return default
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and "fen" in what:
                self.error(path + (key,), f"must be {what}; money is written in fen (1990 for 19.90 yuan), not as a decimal")
            else:
                self.error(path + (key,), f"must be {what}, not {value!r}")
            return None
        if not lo <= value <= hi:
            self.error(path + (key,), f"must be between {lo} and {hi}, not {value}")
            return None
        return value

    def fen(self, obj: dict, path: tuple, key: str, default: Any = _MISSING, lo: int = 0) -> Any:
        return self.integer(obj, path, key, lo, MAX_PRICE_FEN, default, what="a whole number of fen")

    def text(self, obj: dict, path: tuple, key: str, default: Any = _MISSING, limit: int = MAX_NAME_LENGTH) -> Any:
        value = obj.get(key, _MISSING)
        if value is _MISSING:
            if default is _MISSING:
                self.error(path + (key,), "is required")
                return None
            return default
        if not isinstance(value, str):
            self.error(path + (key,), f"must be text, not {value!r}")
            return None
        if len(value) > limit:
            self.error(path + (key,), f"is longer than {limit} characters")
            return None
        return value

    def ident(self, obj: dict, path: tuple, key: str, default: Any = _MISSING) -> Any:
        value = obj.get(key, _MISSING)
        if value is _MISSING and default is not _MISSING:
            return default
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)  # sku 1001 written without quotes
            obj = {**obj, key: value}
        value = self.text(obj, path, key, limit=MAX_ID_LENGTH)
        if value is not None and not _ID.match(value):
            self.error(path + (key,), "must start with a letter or digit and use only letters, digits and _ . : -")
            return None
        return value

    def flag(self, obj: dict, path: tuple, key: str, default: bool) -> bool:
        value = obj.get(key, default)
        if not isinstance(value, bool):
            self.error(path + (key,), f"must be true or false, not {value!r}")
            return default
        return value

    def multiplier(self, obj: dict, path: tuple, key: str, default: int) -> int:
        value = obj.get(key, _MISSING)
        if value is _MISSING:
            return default
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            self.error(path + (key,), f"must be a number such as 1.5, not {value!r}")
            return default
        try:
            percent = Decimal(str(value)) * 100
        except InvalidOperation:
            self.error(path + (key,), f"must be a number such as 1.5, not {value!r}")
            return default
        if not percent.is_finite():
            self.error(path + (key,), f"must be a number such as 1.5, not {value!r}")
            return default
        if percent != percent.to_integral_value():
            self.error(path + (key,), "may have at most two decimal places")
            return default
        if not 1 <= percent <= MAX_MULTIPLIER_PERCENT:
            self.error(path + (key,), f"must be between 0.01 and {MAX_MULTIPLIER_PERCENT // 100}")
            return default
        return int(percent)

    def items(self, obj: Any, path: tuple, key: str, required: bool = False) -> list:
        value = obj.get(key, _MISSING) if isinstance(obj, dict) else _MISSING
        if value is _MISSING or value is None:
            if required:
                self.error(path + (key,), "is required")
            return []
        if not isinstance(value, list):
            self.error(path + (key,), "must be a list")
            return []
        return value

    def unique(self, ids: list, path: tuple, field: str) -> None:
        seen: dict = {}
        for index, ident in ids:
            if ident is None:
                continue
            if ident in seen:
                self.error(path + (index, field), f"{ident!r} is used twice (also at {format_path(path + (seen[ident],))})")
            else:
                seen[ident] = index

    # -- time ---------------------------------------------------------------------------

    def instant(self, value: Any, path: tuple) -> Optional[int]:
        """An absolute instant, as Unix seconds. Naive times are in the table's timezone."""
        if isinstance(value, dt.datetime):
            moment = value
        elif isinstance(value, str):
            try:
                moment = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
            except ValueError:
                self.error(path, f"{value!r} is not a time; write e.g. 2026-11-11T20:00:00+08:00, room_start or room_end - 5m")
                return None
        elif isinstance(value, dt.date):
            moment = dt.datetime(value.year, value.month, value.day)
        else:
            self.error(path, f"must be a time such as 2026-11-11T20:00:00+08:00, not {value!r}")
            return None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=dt.timezone(dt.timedelta(seconds=self.utc_offset)))
        return int(moment.timestamp())

    def window_end(self, value: Any, path: tuple, room: Optional[Room], has_room: bool) -> Optional[int]:
        if isinstance(value, str):
            match = _RELATIVE.match(value.strip())
            if match:
                if not has_room:
                    self.error(path, f"{value!r} is relative to a room; name the room in `room`")
                    return None
                if room is None:
                    return None  # the room's own error is reported already
                base = room.start if match.group(1) == "room_start" else room.end
                if match.group(3):
                    seconds = sum(int(n) * _UNIT_SECONDS[u] for n, u in _DURATION_PART.findall(match.group(3)))
                    base = base + seconds if match.group(2) == "+" else base - seconds
                return base
            if value.strip().startswith("room"):
                self.error(path, f"{value!r} is not understood; write room_start, room_end, or e.g. room_end - 5m")
                return None
        return self.instant(value, path)

    def window(self, obj: dict, path: tuple, rooms: dict) -> tuple:
        """(from, to) of an optional window; a room's coupon without one holds while the room is live."""
        room_id = obj.get("room")
        room = rooms.get(room_id) if type(room_id) is str else None
        has_room = room_id is not None
        value = obj.get("window", _MISSING)
        if value is _MISSING:
            return (room.start, room.end) if room else (None, None)
        win = self.mapping(value, path + ("window",), ("from", "to"))
        if win is None:
            return (None, None)
        start = self.window_end(win["from"], path + ("window", "from"), room, has_room) if "from" in win else None
        end = self.window_end(win["to"], path + ("window", "to"), room, has_room) if "to" in win else None
        if start is not None and end is not None and end <= start:
            self.error(path + ("window", "to"), "must end after it starts")
        return (start, end)

    # -- tiers --------------------------------------------------------------------------

    def tier_set(self, obj: dict, path: tuple, tier_ids: list, members_only: bool = False) -> frozenset:
        """Who a product, coupon or redemption is for: `tiers: [...]` or `min_tier: id`.

        Without either, everyone, visitors included; or every member tier when
        `members_only` (a redemption spends points, which only members have).
        """
        if "tiers" in obj and "min_tier" in obj:
            self.error(path + ("min_tier",), "give either tiers or min_tier, not both")
            return frozenset(tier_ids)
        if "min_tier" in obj:
            tier = obj["min_tier"]
            if type(tier) is not str or tier not in tier_ids:
                self.error(path + ("min_tier",), f"unknown tier {tier!r}; tiers are {', '.join(tier_ids)}")
                return frozenset(tier_ids)
            return frozenset(tier_ids[tier_ids.index(tier):])
        if "tiers" in obj:
            listed = obj["tiers"]
            if not isinstance(listed, list) or not listed:
                self.error(path + ("tiers",), "must be a non-empty list of tier ids")
                return frozenset(tier_ids)
            for index, tier in enumerate(listed):
                if type(tier) is not str or tier not in tier_ids:
                    self.error(path + ("tiers", index), f"unknown tier {tier!r}; tiers are {', '.join(tier_ids)}")
            return frozenset(t for t in listed if type(t) is str and t in tier_ids)
        return frozenset(tier_ids[1:] if members_only else tier_ids)

    # -- sections -----------------------------------------------------------------------

    def table(self, data: Any) -> Optional[RuleTable]:
        top = self.mapping(data, (), ("format", "name", "timezone", "tiers", "products", "rooms", "fulfillment",
                                      "coupons", "points", "redemptions"), required=("tiers",))
        if top is None:
            return None
        fmt = top.get("format", FORMAT_VERSION)
        if type(fmt) is not int or fmt != FORMAT_VERSION:
            self.error(("format",), f"this engine reads format {FORMAT_VERSION}, not {fmt!r}")
        name = self.text(top, (), "name", default="rules")
        zone = top.get("timezone", "+08:00")
        match = _OFFSET.match(zone) if isinstance(zone, str) else None
        if not match:
            self.error(("timezone",), f"must be a UTC offset such as +08:00, not {zone!r}")
        else:
            sign = 1 if match.group(1) == "+" else -1
            self.utc_offset = sign * (int(match.group(2)) * 3600 + int(match.group(3)) * 60)

        tiers = self.tiers(top)
        tier_ids = [VISITOR] + [t.id for t in tiers]
        products = self.products(top, tier_ids)
        skus = {p.sku: p for p in products}
        categories = {p.category for p in products}
        rooms = self.rooms(top, skus)
        room_map = {r.id: r for r in rooms}
        pickup = 0
        if "fulfillment" in top:
            ful = self.mapping(top["fulfillment"], ("fulfillment",), ("pickup_discount_percent",))
            if ful is not None:
                pickup = self.integer(ful, ("fulfillment",), "pickup_discount_percent", 0, 100, default=0) or 0
        coupons = self.coupons(top, tier_ids, skus, categories, room_map)
        points = self.points(top)
        redemptions = self.redemptions(top, tier_ids, room_map)
        return RuleTable(name=name or "rules", utc_offset_seconds=self.utc_offset, tiers=tiers, products=products,
                         rooms=rooms, pickup_discount_percent=pickup, coupons=coupons, points=points,
                         redemptions=redemptions)

    def tiers(self, top: dict) -> list:
        out, ids = [], []
        raw = self.items(top, (), "tiers", required=True)
        if not raw and "tiers" in top:
            self.error(("tiers",), "must list at least one tier, lowest first")
        if len(raw) > MAX_TIERS:
            self.error(("tiers",), f"at most {MAX_TIERS} tiers")
        for index, item in enumerate(raw):
            path = ("tiers", index)
            obj = self.mapping(item, path, ("id", "name", "points_multiplier"), required=("id",))
            if obj is None:
                continue
            ident = self.ident(obj, path, "id")
            if ident == VISITOR:
                self.error(path + ("id",), "visitor is the implicit tier of non-members; do not list it")
                ident = None
            ids.append((index, ident))
            mult = self.multiplier(obj, path, "points_multiplier", 100)
            if ident is not None:
                out.append(Tier(id=ident, name=self.text(obj, path, "name", default=ident) or ident,
                                points_multiplier=mult))
        self.unique(ids, ("tiers",), "id")
        return out

    def products(self, top: dict, tier_ids: list) -> list:
        out, ids = [], []
        everyone = frozenset(tier_ids)
        for index, item in enumerate(self.items(top, (), "products")):
            if isinstance(item, dict) and isinstance(item.get("sku"), (str, int)):
                self.declared_skus.add(str(item["sku"]))
            product = _plain_product(item, tier_ids, everyone)
            if product is not None:
                out.append(product)
                ids.append((index, product.sku))
                continue
            path = ("products", index)
            obj = self.mapping(item, path, ("sku", "name", "category", "price", "tier_prices", "tiers", "min_tier",
                                            "member_limit"), required=("sku", "price"))
            if obj is None:
                continue
            sku = self.ident(obj, path, "sku")
            ids.append((index, sku))
            price = self.fen(obj, path, "price")
            tier_prices = {}
            if "tier_prices" in obj:
                raw = obj["tier_prices"]
                if not isinstance(raw, dict):
                    self.error(path + ("tier_prices",), "must map tier id to price in fen")
                    raw = {}
                for tier in raw:
                    if tier not in tier_ids[1:]:
                        self.error(path + ("tier_prices", tier),
                                   f"unknown tier {tier!r}; tiers are {', '.join(tier_ids[1:])}")
                    if tier in tier_ids[1:]:
                        value = self.fen(raw, path + ("tier_prices",), tier)
                        if value is not None and price is not None and value > price:
                            self.error(path + ("tier_prices", tier), f"{value} is above the base price {price}; it would never apply")
                        elif value is not None:
                            tier_prices[tier] = value
            allowed = self.tier_set(obj, path, tier_ids)
            limit = self.integer(obj, path, "member_limit", 1, 1_000_000, default=None)
            if sku is not None and price is not None:
                out.append(Product(sku=sku, name=self.text(obj, path, "name", default=sku) or sku,
                                   category=self.text(obj, path, "category", default="", limit=MAX_ID_LENGTH) or "",
                                   price=price, tier_prices=tier_prices, allowed_tiers=allowed, member_limit=limit))
        self.unique(ids, ("products",), "sku")
        return out

    def rooms(self, top: dict, skus: dict) -> list:
        out, ids = [], []
        for index, item in enumerate(self.items(top, (), "rooms")):
            path = ("rooms", index)
            obj = self.mapping(item, path, ("id", "name", "start", "end", "members_only", "live_prices",
                                            "points_multiplier", "order_bonus"), required=("id", "start", "end"))
            if obj is None:
                continue
            ident = self.ident(obj, path, "id")
            ids.append((index, ident))
            start = self.instant(obj["start"], path + ("start",)) if "start" in obj else None
            end = self.instant(obj["end"], path + ("end",)) if "end" in obj else None
            if start is not None and end is not None and end <= start:
                self.error(path + ("end",), "must end after it starts")
            live = {}
            if "live_prices" in obj:
                raw = obj["live_prices"]
                if not isinstance(raw, dict):
                    self.error(path + ("live_prices",), "must map sku to price in fen")
                    raw = {}
                for sku in raw:
                    key = str(sku)
                    if key not in skus:
                        if key not in self.declared_skus:  # else the product's own error says it
                            self.error(path + ("live_prices", sku), f"unknown sku {key!r}")
                        continue
                    value = self.fen(raw, path + ("live_prices",), sku)
                    if value is not None and value > skus[key].price:
                        self.error(path + ("live_prices", sku), f"{value} is above the base price {skus[key].price}; it would never apply")
                    elif value is not None:
                        live[key] = value
            mult = self.multiplier(obj, path, "points_multiplier", 100)
            bonus = self.integer(obj, path, "order_bonus", 0, MAX_POINTS, default=0)
            if None not in (ident, start, end):
                out.append(Room(id=ident, name=self.text(obj, path, "name", default=ident) or ident, start=start,
                                end=end, members_only=self.flag(obj, path, "members_only", False), live_prices=live,
                                points_multiplier=mult, order_bonus=bonus or 0))
        self.unique(ids, ("rooms",), "id")
        return out

    def room_ref(self, obj: dict, path: tuple, rooms: dict) -> Optional[str]:
        room = obj.get("room")
        if room is None:
            return None
        if type(room) is not str or room not in rooms:
            self.error(path + ("room",), f"unknown room {room!r}")
            return None
        return room

    def coupons(self, top: dict, tier_ids: list, skus: dict, categories: set, rooms: dict) -> list:
        kind_fields = {"percent_off": ("percent_off", "max_discount"), "amount_off": ("amount",),
                       "threshold_off": ("threshold", "amount"), "fixed_price": ("price", "units")}
        every_kind_field = {f for fields in kind_fields.values() for f in fields}
        out, ids = [], []
        for index, item in enumerate(self.items(top, (), "coupons")):
            path = ("coupons", index)
            obj = self.mapping(item, path, ("id", "name", "kind", "percent_off", "max_discount", "amount", "threshold",
                                            "price", "units", "scope", "tiers", "min_tier", "room", "window",
                                            "member_limit", "stock", "stack_group", "exclusive", "priority"),
                               required=("id", "kind"))
            if obj is None:
                continue
            ident = self.ident(obj, path, "id")
            ids.append((index, ident))
            kind = obj.get("kind")
            if "kind" in obj and kind not in COUPON_KINDS:
                self.error(path + ("kind",), f"unknown kind {kind!r}; kinds are {', '.join(COUPON_KINDS)}")
                kind = None
            values = {"percent_off": 0, "max_discount": None, "amount": 0, "threshold": 0, "price": 0, "units": 1}
            if kind:
                for key in sorted(every_kind_field - set(kind_fields[kind])):
                    if key in obj:
                        self.error(path + (key,), f"does not belong to a {kind} coupon")
                if kind == "percent_off":
                    values["percent_off"] = self.integer(obj, path, "percent_off", 1, 100)
                    values["max_discount"] = self.fen(obj, path, "max_discount", default=None, lo=1)
                elif kind == "amount_off":
                    values["amount"] = self.fen(obj, path, "amount", lo=1)
                elif kind == "threshold_off":
                    values["threshold"] = self.fen(obj, path, "threshold", lo=1)
                    values["amount"] = self.fen(obj, path, "amount", lo=1)
                    if None not in (values["threshold"], values["amount"]) and values["amount"] > values["threshold"]:
                        self.error(path + ("amount",), "saves more than the threshold it asks to spend")
                else:
                    values["price"] = self.fen(obj, path, "price")
                    values["units"] = self.integer(obj, path, "units", 1, 9999, default=1)
            scope = self.scope(obj, path, skus, categories)
            tiers = self.tier_set(obj, path, tier_ids)
            room = self.room_ref(obj, path, rooms)
            start, end = self.window(obj, path, rooms)
            member_limit = self.integer(obj, path, "member_limit", 1, 1_000_000, default=None)
            stock = self.integer(obj, path, "stock", 0, 1_000_000_000, default=None)
            group = obj.get("stack_group")
            if group is not None and (not isinstance(group, str) or not group):
                self.error(path + ("stack_group",), "must be a non-empty name")
                group = None
            priority = self.integer(obj, path, "priority", -1_000_000, 1_000_000, default=0)
            exclusive = self.flag(obj, path, "exclusive", False)
            if None in (ident, kind, scope, priority):
                continue
            if any(values[k] is None for k in kind_fields[kind] if k != "max_discount"):
                continue
            out.append(Coupon(id=ident, name=self.text(obj, path, "name", default=ident) or ident, kind=kind,
                              percent_off=values["percent_off"], max_discount=values["max_discount"],
                              amount=values["amount"], threshold=values["threshold"], price=values["price"],
                              units=values["units"], scope_all=scope[0], scope_skus=scope[1],
                              scope_categories=scope[2], tiers=tiers, room=room, window_from=start, window_to=end,
                              member_limit=member_limit, stock=stock, stack_group=group, exclusive=exclusive,
                              priority=priority))
        self.unique(ids, ("coupons",), "id")
        return out

    def scope(self, obj: dict, path: tuple, skus: dict, categories: set) -> Optional[tuple]:
        value = obj.get("scope", "all")
        if value == "all":
            return (True, frozenset(), frozenset())
        raw = self.mapping(value, path + ("scope",), ("skus", "categories"))
        if raw is None:
            return None
        if not raw:
            self.error(path + ("scope",), "names no skus and no categories; write scope: all for everything")
            return None
        found = {}
        for key, known, what in (("skus", skus, "sku"), ("categories", categories, "category")):
            listed = raw.get(key, [])
            if not isinstance(listed, list):
                self.error(path + ("scope", key), f"must be a list of {key}")
                listed = []
            for index, name in enumerate(listed):
                if str(name) not in known:
                    self.error(path + ("scope", key, index),
                               f"unknown sku {name!r}" if what == "sku" else f"no product has category {name!r}")
            found[key] = frozenset(str(n) for n in listed if str(n) in known)
        if not raw.get("skus") and not raw.get("categories"):
            self.error(path + ("scope",), "names no skus and no categories; write scope: all for everything")
            return None
        return (False, found["skus"], found["categories"])

    def points(self, top: dict) -> PointsRules:
        path = ("points",)
        obj = self.mapping(top.get("points", {}), path,
                           ("per_yuan", "birthday_multiplier", "order_bonus", "events", "expire_after_days",
                            "refund"))
        if obj is None:
            obj = {}
        per_yuan = self.integer(obj, path, "per_yuan", 0, MAX_PER_YUAN, default=1)
        birthday = self.multiplier(obj, path, "birthday_multiplier", 100)
        bonus = self.integer(obj, path, "order_bonus", 0, MAX_POINTS, default=0)
        events = {}
        raw_events = obj.get("events", {})
        if not isinstance(raw_events, dict):
            self.error(path + ("events",), "must map an event kind to its rule")
            raw_events = {}
        for kind, rule in raw_events.items():
            epath = path + ("events", kind)
            if kind not in EVENT_KINDS:
                self.error(epath, f"unknown event kind; kinds are {', '.join(EVENT_KINDS)}")
                continue
            allowed = (("points", "cap_per_session", "cap_per_day", "session_only")
                       + (("min_seconds",) if kind == "watch" else ())
                       + (("freeze_above_per_hour",) if kind == "invite_order" else ()))
            erule = self.mapping(rule, epath, allowed, required=("points",))
            if erule is None:
                continue
            pts = self.integer(erule, epath, "points", 1, MAX_POINTS)
            events[kind] = EventRule(kind=kind, points=pts or 0,
                                     min_seconds=self.integer(erule, epath, "min_seconds", 1, 86400, default=600) or 600,
                                     cap_per_session=self.integer(erule, epath, "cap_per_session", 1, MAX_POINTS, default=None),
                                     cap_per_day=self.integer(erule, epath, "cap_per_day", 1, MAX_POINTS, default=None),
                                     session_only=self.flag(erule, epath, "session_only", False),
                                     freeze_above_per_hour=self.integer(erule, epath, "freeze_above_per_hour", 1,
                                                                        MAX_INVITES_PER_HOUR,
                                                                        default=DEFAULT_INVITES_PER_HOUR)
                                     if kind == "invite_order" else None)
        expire = self.integer(obj, path, "expire_after_days", 1, MAX_EXPIRE_DAYS, default=None)
        refund = obj.get("refund", "debt")
        if refund not in REFUND_POLICIES:
            self.error(path + ("refund",), f"unknown refund policy {refund!r}; policies are "
                                           f"{', '.join(REFUND_POLICIES)}")
            refund = "debt"
        return PointsRules(per_yuan=per_yuan if per_yuan is not None else 1, birthday_multiplier=birthday,
                           order_bonus=bonus or 0, events=events, expire_after_days=expire, refund=refund)

    def redemptions(self, top: dict, tier_ids: list, rooms: dict) -> list:
        out, ids = [], []
        for index, item in enumerate(self.items(top, (), "redemptions")):
            path = ("redemptions", index)
            obj = self.mapping(item, path, ("id", "name", "points", "cash", "tiers", "min_tier", "room", "window",
                                            "unlock", "stock", "member_limit"), required=("id", "points"))
            if obj is None:
                continue
            ident = self.ident(obj, path, "id")
            ids.append((index, ident))
            pts = self.integer(obj, path, "points", 0, MAX_POINTS)
            cash = self.fen(obj, path, "cash", default=0)
            if pts == 0 and cash == 0 and "unlock" not in obj:
                self.error(path + ("points",), "a redemption must cost points or cash, or be unlocked by a task")
            sessions = 0
            if "unlock" in obj:
                unlock = self.mapping(obj["unlock"], path + ("unlock",), ("sessions_watched",), required=("sessions_watched",))
                if unlock is not None:
                    sessions = self.integer(unlock, path + ("unlock",), "sessions_watched", 1, 100_000) or 0
            errors_before = len(self.errors)
            tiers = self.tier_set(obj, path, tier_ids, members_only=True)
            if VISITOR in tiers and len(self.errors) == errors_before:
                self.error(path + ("tiers" if "tiers" in obj else "min_tier",),
                           "visitors have no points to spend; a redemption is for member tiers only")
            room = self.room_ref(obj, path, rooms)
            start, end = self.window(obj, path, rooms)
            stock = self.integer(obj, path, "stock", 0, 1_000_000_000, default=None)
            limit = self.integer(obj, path, "member_limit", 1, 1_000_000, default=None)
            if None in (ident, pts, cash):
                continue
            out.append(Redemption(id=ident, name=self.text(obj, path, "name", default=ident) or ident, points=pts,
                                  cash=cash, tiers=tiers, room=room, window_from=start, window_to=end,
                                  sessions_watched=sessions, stock=stock, member_limit=limit))
        self.unique(ids, ("redemptions",), "id")
        return out


@functools.lru_cache(maxsize=256)
def _upward(tier_ids: tuple, lowest: str) -> frozenset:
    """`lowest` and every tier above it (one shared set per tier, not one per product)."""
    return frozenset(tier_ids[tier_ids.index(lowest):])


_PRODUCT_FIELDS = frozenset(("sku", "name", "category", "price", "tier_prices", "tiers", "min_tier", "member_limit"))


def _plain_product(item: Any, tier_ids: list, everyone: frozenset) -> Optional[Product]:
    """The common product, checked in one pass: a large catalogue validates in a fraction of
    the time. Anything unusual returns None and goes the long way, which reports errors."""
    if type(item) is not dict or not item.keys() <= _PRODUCT_FIELDS or "tiers" in item:
        return None
    sku, price = item.get("sku"), item.get("price")
    name, category = item.get("name", sku), item.get("category", "")
    if (type(sku) is not str or not 0 < len(sku) <= MAX_ID_LENGTH or not _ID.match(sku)
            or type(price) is not int or not 0 <= price <= MAX_PRICE_FEN
            or type(name) is not str or len(name) > MAX_NAME_LENGTH
            or type(category) is not str or len(category) > MAX_ID_LENGTH):
        return None
    tier_prices = item.get("tier_prices", {})
    if type(tier_prices) is not dict:
        return None
    for tier, value in tier_prices.items():
        if tier not in everyone or tier == VISITOR or type(value) is not int or not 0 <= value <= price:
            return None
    allowed = everyone
    if "min_tier" in item:
        if type(item["min_tier"]) is not str or item["min_tier"] not in everyone:
            return None
        allowed = _upward(tuple(tier_ids), item["min_tier"])
    limit = item.get("member_limit")
    if "member_limit" in item and (type(limit) is not int or not 1 <= limit <= 1_000_000):
        return None
    return Product(sku=sku, name=name or sku, category=category, price=price, tier_prices=tier_prices,
                   allowed_tiers=allowed, member_limit=limit)
