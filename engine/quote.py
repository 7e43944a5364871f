"""What an evaluator decides (RawQuote), and the public form a checkout reads.

Both evaluators produce a RawQuote of plain numbers; `public_quote` turns it into the
JSON-ready dict with names, reason codes and hint texts, so the wording of a hint is
written once and both evaluators are compared number for number.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

from . import codes
from .model import RuleTable


@dataclass
class RawLine:
    sku: str
    qty: int
    status: int = codes.OK
    hint: int = 0
    unit_price: int = 0
    layer: int = codes.LAYER_NONE
    amount: int = 0
    discount: int = 0
    final: int = 0
    shares: list = field(default_factory=list)  # (coupon index, fen), in application order


@dataclass
class RawCoupon:
    index: int  # position in the table's coupon list
    status: int  # codes.OK when applied
    amount: int = 0
    hint: int = 0


@dataclass
class RawPoints:
    base: int = 0
    tier_percent: int = 0  # 0: not applied
    room_percent: int = 0
    birthday_percent: int = 0
    multiplied: int = 0
    room_bonus: int = 0
    order_bonus: int = 0
    total: int = 0


@dataclass
class RawQuote:
    tier_rank: int
    room_index: int  # -1: no room
    live: bool
    lines: list
    coupons: list  # RawCoupon for every candidate, in table order
    applied: list  # coupon indexes, in application order
    combinations: int  # coupon combinations the search tried
    search_exact: bool  # False when the search budget ran out before it could prove the best
    subtotal: int
    discount: int
    payable: int
    points: RawPoints
    redemptions: list  # (status, hint) per catalogue entry, in table order


def public_quote(compiled: Any, raw: RawQuote) -> dict:
    """The quote as a checkout shows it: every figure in fen, every refusal with a reason.

    `compiled` is the CompiledTable the quote was made with.
    """
    table = compiled.model
    tier_ids = table.tier_ids()
    coupons = table.coupons
    lines = []
    for line in raw.lines:
        ok = line.status == codes.OK
        lines.append({
            "sku": line.sku,
            "qty": line.qty,
            "eligible": ok,
            "reason": codes.REASONS[line.status],
            "hint": _line_hint(compiled, line) if not ok else None,
            "unit_price": line.unit_price if ok else None,
            "price_layer": codes.LAYERS[line.layer] if ok else None,
            "amount": line.amount,
            "discount": line.discount,
            "final": line.final,
            "coupons": [{"id": coupons[i].id, "amount": fen} for i, fen in line.shares],
        })
    by_index = {c.index: c for c in raw.coupons}
    applied = [{"id": coupons[i].id, "name": coupons[i].name, "kind": coupons[i].kind,
                "amount": by_index[i].amount} for i in raw.applied]
    not_applied = [{"id": coupons[c.index].id, "name": coupons[c.index].name, "kind": coupons[c.index].kind,
                    "reason": codes.REASONS[c.status], "hint": _coupon_hint(table, raw, c)}
                   for c in raw.coupons if c.status != codes.OK]
    redemptions = []
    for item, (status, hint) in zip(table.redemptions, raw.redemptions):
        redemptions.append({
            "id": item.id, "name": item.name, "points": item.points, "cash": item.cash,
            "available": status == codes.OK, "reason": codes.REASONS[status],
            "hint": _redemption_hint(table, item, status, hint),
        })
    room = table.rooms[raw.room_index] if raw.room_index >= 0 else None
    return {
        "tier": tier_ids[raw.tier_rank],
        "room": {"id": room.id, "live": raw.live} if room else None,
        "lines": lines,
        "coupons_applied": applied,
        "coupons_not_applied": not_applied,
        "coupon_search": {"combinations": raw.combinations, "exact": raw.search_exact},
        "totals": {"subtotal": raw.subtotal, "discount": raw.discount, "payable": raw.payable},
        "points": _points(table, raw),
        "redemptions": redemptions,
    }


def _points(table: RuleTable, raw: RawQuote) -> dict:
    p = raw.points
    multipliers = []
    if p.tier_percent:
        multipliers.append({"source": "tier", "id": table.tier_ids()[raw.tier_rank], "percent": p.tier_percent})
    if p.room_percent:
        multipliers.append({"source": "room", "id": table.rooms[raw.room_index].id, "percent": p.room_percent})
    if p.birthday_percent:
        multipliers.append({"source": "birthday_month", "id": None, "percent": p.birthday_percent})
    bonuses = []
    if p.room_bonus:
        bonuses.append({"source": "room_order", "id": table.rooms[raw.room_index].id, "points": p.room_bonus})
    if p.order_bonus:
        bonuses.append({"source": "order", "id": None, "points": p.order_bonus})
    return {"total": p.total, "base": p.base, "per_yuan": table.points.per_yuan, "multipliers": multipliers,
            "after_multipliers": p.multiplied, "bonuses": bonuses,
            "note": "visitors earn no points; join to earn" if raw.tier_rank == 0 else None}


def yuan(fen: int) -> str:
    """Fen as a yuan amount with two decimals, e.g. 1200 -> '12.00'."""
    sign = "-" if fen < 0 else ""
    fen = abs(fen)
    return f"{sign}{fen // 100}.{fen % 100:02d}"


def wait_text(seconds: int) -> str:
    """'opens in 4 minutes': rounded up, so a checkout never promises too early."""
    for size, unit in ((86400, "day"), (3600, "hour"), (60, "minute")):
        if seconds >= 2 * size or (size == 60 and seconds >= 60):
            count = -(-seconds // size)
            return f"opens in {count} {unit}{'s' if count != 1 else ''}"
    return f"opens in {seconds} second{'s' if seconds != 1 else ''}"


def _tier_hint(table: RuleTable, allowed: frozenset, rank: int) -> Optional[dict]:
    if rank <= 0:
        return None
    ids = table.tier_ids()
    tier = ids[rank]
    upward = all(t in allowed for t in ids[rank:])
    name = table.tiers[rank - 1].name
    text = f"for {name} and above" if upward and rank < len(ids) - 1 else f"for {name} members"
    return {"code": "upgrade_tier", "value": tier, "text": text}


def _line_hint(compiled: Any, line: RawLine) -> Optional[dict]:
    table = compiled.model
    if line.status == codes.TIER_TOO_LOW:
        product = table.products[compiled.sku_row[line.sku]]
        return _tier_hint(table, product.allowed_tiers, line.hint)
    if line.status == codes.MEMBERS_ONLY_ROOM:
        return {"code": "join_membership", "value": None, "text": "members only in this room; join to buy"}
    if line.status == codes.MEMBER_LIMIT_REACHED and line.hint > 0:
        return {"code": "quantity_left", "value": line.hint, "text": f"at most {line.hint} more for you"}
    return None


def _coupon_hint(table: RuleTable, raw: RawQuote, coupon: RawCoupon) -> Optional[dict]:
    rule = table.coupons[coupon.index]
    if coupon.status == codes.TIER_TOO_LOW:
        return _tier_hint(table, rule.tiers, coupon.hint)
    if coupon.status == codes.NOT_IN_ROOM:
        room = next(r for r in table.rooms if r.id == rule.room)
        return {"code": "join_room", "value": room.id, "text": f"in live room {room.name}"}
    if coupon.status == codes.OUTSIDE_WINDOW and coupon.hint > 0:
        return {"code": "opens_in", "value": coupon.hint, "text": wait_text(coupon.hint)}
    if coupon.status == codes.THRESHOLD_NOT_MET:
        return {"code": "add_amount", "value": coupon.hint, "text": f"add {yuan(coupon.hint)} yuan more of these items"}
    return None


def _redemption_hint(table: RuleTable, item: Any, status: int, hint: int) -> Optional[dict]:
    if status == codes.TIER_TOO_LOW:
        return _tier_hint(table, item.tiers, hint)
    if status == codes.NOT_IN_ROOM:
        room = next(r for r in table.rooms if r.id == item.room)
        return {"code": "join_room", "value": room.id, "text": f"in live room {room.name}"}
    if status == codes.OUTSIDE_WINDOW and hint > 0:
        return {"code": "opens_in", "value": hint, "text": wait_text(hint)}
    if status == codes.TASK_LOCKED:
        return {"code": "watch_sessions", "value": hint,
                "text": f"watch {hint} more live session{'s' if hint != 1 else ''}"}
    if status == codes.INSUFFICIENT_POINTS:
        return {"code": "earn_points", "value": hint, "text": f"earn {hint} more points"}
    return None
