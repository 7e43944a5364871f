"""Turning an author's rule table (parsed YAML or JSON) into a checked RuleTable.

Every error is collected, with the path of the field it concerns, so an author fixes a
file in one pass. Messages say what is wrong in the author's terms, not Python's. This
module reads the table's own fields (format, name, timezone, fulfillment) and calls each
section's checks in `checks/`, in the order later sections need: tiers before the
products priced by tier, products before the rooms and coupons that name their skus.
"""

from __future__ import annotations

from typing import Any

from ..gc_pause import gc_paused
from ..model import VISITOR, RuleTable
from .checks.audience import segment_limit
from .checks.common import UTC_OFFSET_RE, Checker, RuleTableError
from .checks.coupons import check_coupons
from .checks.draws import check_draws
from .checks.grants import check_grants
from .checks.points import check_points
from .checks.products import check_products
from .checks.progression import check_progression
from .checks.redemptions import check_redemptions
from .checks.rooms import check_rooms
from .checks.tiers import check_tiers

FORMAT_VERSION = 1


def build_table(data: Any) -> RuleTable:
    """Check `data` and return the RuleTable, or raise RuleTableError with every error."""
    checker = Checker()
    with gc_paused():
        table = _table(checker, data)
    if checker.errors:
        raise RuleTableError(list(dict.fromkeys(checker.errors)))
    assert table is not None, "_table returns None only after reporting an error"
    return table


def _table(checker: Checker, data: Any) -> RuleTable | None:
    top = checker.mapping(
        data,
        (),
        (
            "format",
            "name",
            "timezone",
            "tiers",
            "products",
            "rooms",
            "fulfillment",
            "coupons",
            "points",
            "redemptions",
            "progression",
            "draws",
        ),
        required=("tiers",),
    )
    if top is None:
        return None
    fmt = top.get("format", FORMAT_VERSION)
    if type(fmt) is not int or fmt != FORMAT_VERSION:
        checker.error(("format",), f"this engine reads format {FORMAT_VERSION}, not {fmt!r}")
    name = checker.text(top, (), "name", default="rules")
    if isinstance(name, str) and (not name.strip() or any(c in "/@" or c < " " or c == "\x7f" for c in name)):
        checker.error(
            ("name",),
            "names the table's versions (<name>@<hash>, in URLs too): not blank, no '/', '@' or control characters",
        )
    zone = top.get("timezone", "+08:00")
    match = UTC_OFFSET_RE.match(zone) if isinstance(zone, str) else None
    if not match:
        checker.error(("timezone",), f"must be a UTC offset such as +08:00, not {zone!r}")
    else:
        sign = 1 if match.group(1) == "+" else -1
        checker.utc_offset = sign * (int(match.group(2)) * 3600 + int(match.group(3)) * 60)

    tiers = check_tiers(checker, top)
    tier_ids = [VISITOR] + [t.id for t in tiers]
    products = check_products(checker, top, tier_ids)
    skus = {p.sku: p for p in products}
    categories = {p.category for p in products}
    rooms = check_rooms(checker, top, skus)
    room_map = {r.id: r for r in rooms}
    pickup = _fulfillment(checker, top)
    coupons = check_coupons(checker, top, tier_ids, skus, categories, room_map)
    points = check_points(checker, top, bool(rooms))
    redemptions = check_redemptions(checker, top, tier_ids, room_map)
    progression, tiers = check_progression(checker, top, tiers, dict(points.events))
    check_grants(checker, top, coupons, redemptions)
    draws = check_draws(checker, top, tier_ids, room_map, skus, coupons)
    segment_limit(checker)
    return RuleTable(
        name=name or "rules",
        utc_offset_seconds=checker.utc_offset,
        tiers=tiers,
        products=products,
        rooms=rooms,
        pickup_discount_percent=pickup,
        coupons=coupons,
        points=points,
        redemptions=redemptions,
        progression=progression,
        draws=draws,
    )


def _fulfillment(checker: Checker, top: dict) -> int:
    """The `fulfillment` section, one field: the discount for picking an order up."""
    pickup = 0
    if "fulfillment" in top:
        ful = checker.mapping(top["fulfillment"], ("fulfillment",), ("pickup_discount_percent",))
        if ful is not None:
            pickup = checker.integer(ful, ("fulfillment",), "pickup_discount_percent", 0, 100, default=0) or 0
    return pickup
