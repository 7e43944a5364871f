"""The `draws` section: lotteries in a live room, with their window, entry cost, entries per
member, tier weights and prizes (goods, a granted coupon, or points), each with its stock.

A draw must name a room of `rooms`; its window defaults to the room's live time and must
have both ends. Weights name member tiers (not visitor); a prize names exactly one of
`sku` (a listed product), `coupon` (an `issue: granted` coupon) and `points`.
"""

from __future__ import annotations

from ...model import DRAW_PRIZE_KINDS, MAX_POINTS, VISITOR, Coupon, Draw, DrawPrize, Product
from .common import Checker, did_you_mean
from .times import room_ref, window

MAX_DRAW_WEIGHT = 100  # the heaviest an entry may weigh: a tier's weight
MAX_ENTRIES_PER_MEMBER = 100
DEFAULT_MAX_ENTRIES = 100_000  # entries in all, the default: bounds the results document
MAX_DRAW_ENTRIES = 200_000  # the largest `max_entries` a draw may set
MAX_DRAW_PRIZES = 1_000  # prizes (the sum of the stocks) of one draw
FIELDS = (
    "id",
    "name",
    "room",
    "window",
    "cost",
    "entries_per_member",
    "max_entries",
    "weights",
    "prizes",
)
PRIZE_FIELDS = ("id", "name", "sku", "coupon", "points", "stock")


def check_draws(
    checker: Checker, top: dict, tier_ids: list, rooms: dict, skus: dict[str, Product], coupons: list[Coupon]
) -> list[Draw]:
    out, ids = [], []
    coupon_map = {c.id: c for c in coupons}
    member_tiers = [t for t in tier_ids if t != VISITOR]
    for index, path, obj in checker.entries(top, "draws", FIELDS, required=("id", "room", "prizes")):
        ident = checker.ident(obj, path, "id")
        ids.append((index, ident))
        room = room_ref(checker, obj, path, rooms) if "room" in obj else None
        opens, closes = window(checker, obj, path, rooms)
        if "window" in obj and (opens is None or closes is None):  # said whether or not the room is known
            for end, value in (("from", opens), ("to", closes)):
                if value is None and isinstance(obj["window"], dict) and end not in obj["window"]:
                    checker.error(path + ("window", end), "a draw's window needs both ends")
        cost = checker.integer(obj, path, "cost", 0, MAX_POINTS, default=0)
        per_member = checker.integer(obj, path, "entries_per_member", 1, MAX_ENTRIES_PER_MEMBER, default=1)
        most = checker.integer(obj, path, "max_entries", 1, MAX_DRAW_ENTRIES, default=DEFAULT_MAX_ENTRIES)
        weights = _weights(checker, obj, path, member_tiers)
        prizes = _prizes(checker, obj, path, skus, coupon_map)
        if None in (ident, opens, closes, cost, per_member, most) or room is None or prizes is None:
            continue
        out.append(
            Draw(
                id=ident,
                name=checker.text(obj, path, "name", default=ident) or ident,
                room=room,
                opens=opens,
                closes=closes,
                cost=cost,
                entries_per_member=per_member,
                max_entries=most,
                weights=weights,
                prizes=prizes,
            )
        )
    checker.unique(ids, ("draws",), "id")
    return out


def _weights(checker: Checker, obj: dict, path: tuple, member_tiers: list) -> dict:
    """`weights`: tier id -> a whole number from 1 to MAX_DRAW_WEIGHT; a tier left out weighs 1."""
    if "weights" not in obj:
        return {}
    raw = checker.keyed(obj, path, "weights", "tier ids to weights, e.g. {black_gold: 3, gold: 2}")
    out = {}
    for tier, _ in raw.items():
        where = path + ("weights",)
        if tier == VISITOR:
            checker.error(where + (tier,), "visitors may not enter a draw; weigh member tiers only")
            continue
        if tier not in member_tiers:
            checker.error(
                where + (str(tier),),
                f"unknown tier {tier!r}{did_you_mean(tier, member_tiers)}; tiers are {', '.join(member_tiers)}",
            )
            continue
        weight = checker.integer(raw, where, tier, 1, MAX_DRAW_WEIGHT)
        if weight is not None:
            out[tier] = weight
    return out


def _prizes(checker: Checker, obj: dict, path: tuple, skus: dict, coupons: dict) -> tuple | None:
    errors_before = len(checker.errors)
    raw = checker.items(obj, path, "prizes")
    if "prizes" in obj and isinstance(obj["prizes"], list) and not raw:
        checker.error(path + ("prizes",), "a draw needs at least one prize")
    out, ids, total = [], [], 0
    for index, item in enumerate(raw):
        where = path + ("prizes", index)
        prize = checker.mapping(item, where, PRIZE_FIELDS, required=("id",))
        if prize is None:
            continue
        ident = checker.ident(prize, where, "id")
        ids.append((index, ident))
        kinds = [kind for kind in DRAW_PRIZE_KINDS if kind in prize]
        if len(kinds) != 1:
            checker.error(
                where,
                "a prize is exactly one of sku (goods), coupon (a granted coupon) or points"
                + (f", not {' and '.join(kinds)}" if kinds else ""),
            )
            continue
        kind = kinds[0]
        stock = checker.integer(prize, where, "stock", 1, MAX_DRAW_PRIZES, default=1)
        target, points = "", 0
        if kind == "sku":
            sku = checker.ident(prize, where, "sku")
            if sku is not None and sku not in skus:
                checker.error(where + ("sku",), f"unknown sku {sku!r}{did_you_mean(sku, list(skus))}")
                sku = None
            target = sku or ""
        elif kind == "coupon":
            coupon = checker.ident(prize, where, "coupon")
            if coupon is not None and coupon not in coupons:
                checker.error(where + ("coupon",), f"unknown coupon {coupon!r}{did_you_mean(coupon, list(coupons))}")
                coupon = None
            elif coupon is not None and coupons[coupon].issue != "granted":
                checker.error(
                    where + ("coupon",),
                    f"coupon {coupon!r} is issued to every eligible member; a prize grants only issue: granted ones",
                )
                coupon = None
            target = coupon or ""
        else:
            points = checker.integer(prize, where, "points", 1, MAX_POINTS) or 0
        if ident is None or stock is None or (kind != "points" and not target) or (kind == "points" and not points):
            continue
        name = checker.text(prize, where, "name", default=ident) or ident
        total += stock
        out.append(DrawPrize(id=ident, name=name, kind=kind, target=target, points=points, stock=stock))
    checker.unique(ids, path + ("prizes",), "id")
    if total > MAX_DRAW_PRIZES:
        checker.error(path + ("prizes",), f"at most {MAX_DRAW_PRIZES} prizes in all (the stocks' sum), not {total}")
    if len(checker.errors) > errors_before:
        return None
    return tuple(out)
