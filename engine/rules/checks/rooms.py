"""The `rooms` section: live rooms, the window each is live in, their live prices (below a
product's base price), and the points a room adds to an order."""

from __future__ import annotations

from ...model import MAX_POINTS, Room
from .common import Checker, did_you_mean
from .times import instant


def check_rooms(checker: Checker, top: dict, skus: dict) -> list[Room]:
    out, ids = [], []
    for index, path, obj in checker.entries(
        top,
        "rooms",
        ("id", "name", "start", "end", "members_only", "live_prices", "points_multiplier", "order_bonus"),
        required=("id", "start", "end"),
    ):
        ident = checker.ident(obj, path, "id")
        ids.append((index, ident))
        start = instant(checker, obj["start"], path + ("start",)) if "start" in obj else None
        end = instant(checker, obj["end"], path + ("end",)) if "end" in obj else None
        if start is not None and end is not None and end <= start:
            checker.error(path + ("end",), "must end after it starts")
        live = {}
        if "live_prices" in obj:
            raw = checker.keyed(obj, path, "live_prices", "sku to price in fen")
            for sku in raw:
                key = str(sku)
                if key not in skus:
                    if key not in checker.declared_skus:  # else the product's own error says it
                        checker.error(path + ("live_prices", sku), f"unknown sku {key!r}{did_you_mean(key, skus)}")
                    continue
                value = checker.fen(raw, path + ("live_prices",), sku)
                if value is not None and value > skus[key].price:
                    checker.error(
                        path + ("live_prices", sku),
                        f"{value} is above the base price {skus[key].price}; it would never apply",
                    )
                elif value is not None:
                    live[key] = value
        mult = checker.multiplier(obj, path, "points_multiplier", 100)
        bonus = checker.integer(obj, path, "order_bonus", 0, MAX_POINTS, default=0)
        if ident is not None and start is not None and end is not None:
            out.append(
                Room(
                    id=ident,
                    name=checker.text(obj, path, "name", default=ident) or ident,
                    start=start,
                    end=end,
                    members_only=checker.flag(obj, path, "members_only", False),
                    live_prices=live,
                    points_multiplier=mult,
                    order_bonus=bonus or 0,
                )
            )
    checker.unique(ids, ("rooms",), "id")
    return out
