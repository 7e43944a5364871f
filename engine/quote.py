"""What an evaluator decides (RawQuote), and the public form a checkout reads.

Both evaluators produce a RawQuote of plain numbers; `public_quote` turns it into the
JSON-ready dict with names, reason codes and hint texts, so the wording of a hint is
written once and both evaluators are compared number for number.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from . import codes
from .progression import progress_dict


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
    progress: Any = None  # engine.progression.RawProgress; None for a table without progression


class PublicParts:
    """What the public quote takes from the table, looked up once per table: ids, names and
    kinds by index, so that building a quote's dict is list indexing, not searching."""

    def __init__(self, compiled: Any):
        model = compiled.model
        self.compiled = compiled
        self.model = model
        self.tier_ids = model.tier_ids()
        self.coupons = [(c.id, c.name, c.kind) for c in model.coupons]
        self.rooms = [r.id for r in model.rooms]
        self.redemptions = [(r.id, r.name, r.points, r.cash) for r in model.redemptions]


def parts_of(compiled: Any) -> PublicParts:
    parts = getattr(compiled, "_public_parts", None)
    if parts is None:
        parts = compiled._public_parts = PublicParts(compiled)
    return parts


def line_dict(
    parts: PublicParts,
    sku: str,
    qty: int,
    status: int,
    hint: int,
    unit: int,
    layer: int,
    amount: int,
    discount: int,
    final: int,
    shares: list,
) -> dict:
    ok = status == codes.OK
    coupons = parts.coupons
    return {
        "sku": sku,
        "qty": qty,
        "eligible": ok,
        "reason": codes.REASONS[status],
        "hint": None if ok else _line_hint(parts, sku, status, hint),
        "unit_price": unit if ok else None,
        "price_layer": codes.LAYERS[layer] if ok else None,
        "amount": amount,
        "discount": discount,
        "final": final,
        "coupons": [{"id": coupons[i][0], "amount": fen} for i, fen in shares],
    }


def applied_dict(parts: PublicParts, index: int, amount: int) -> dict:
    coupon_id, name, kind = parts.coupons[index]
    return {"id": coupon_id, "name": name, "kind": kind, "amount": amount}


def not_applied_dict(parts: PublicParts, index: int, status: int, hint: int) -> dict:
    coupon_id, name, kind = parts.coupons[index]
    return {
        "id": coupon_id,
        "name": name,
        "kind": kind,
        "reason": codes.REASONS[status],
        "hint": _coupon_hint(parts, index, status, hint),
    }


def redemption_dict(parts: PublicParts, k: int, status: int, hint: int) -> dict:
    item_id, name, points, cash = parts.redemptions[k]
    return {
        "id": item_id,
        "name": name,
        "points": points,
        "cash": cash,
        "available": status == codes.OK,
        "reason": codes.REASONS[status],
        "hint": _redemption_hint(parts, k, status, hint) if status else None,
    }


def points_dict(parts: PublicParts, tier_rank: int, room_index: int, p: RawPoints) -> dict:
    multipliers = []
    if p.tier_percent:
        multipliers.append({"source": "tier", "id": parts.tier_ids[tier_rank], "percent": p.tier_percent})
    if p.room_percent:
        multipliers.append({"source": "room", "id": parts.rooms[room_index], "percent": p.room_percent})
    if p.birthday_percent:
        multipliers.append({"source": "birthday_month", "id": None, "percent": p.birthday_percent})
    bonuses = []
    if p.room_bonus:
        bonuses.append({"source": "room_order", "id": parts.rooms[room_index], "points": p.room_bonus})
    if p.order_bonus:
        bonuses.append({"source": "order", "id": None, "points": p.order_bonus})
    return {
        "total": p.total,
        "base": p.base,
        "per_yuan": parts.model.points.per_yuan,
        "multipliers": multipliers,
        "after_multipliers": p.multiplied,
        "bonuses": bonuses,
        "note": "visitors earn no points; join to earn" if tier_rank == 0 else None,
    }


def assemble(
    parts: PublicParts, raw: RawQuote, lines: list, applied: list, not_applied: list, redemptions: list
) -> dict:
    """The whole public quote around its already built lists (`raw.lines`, `raw.coupons`
    and `raw.redemptions` are not read here)."""
    out = {
        "tier": parts.tier_ids[raw.tier_rank],
        "room": {"id": parts.rooms[raw.room_index], "live": raw.live} if raw.room_index >= 0 else None,
        "lines": lines,
        "coupons_applied": applied,
        "coupons_not_applied": not_applied,
        "coupon_search": {"combinations": raw.combinations, "exact": raw.search_exact},
        "totals": {"subtotal": raw.subtotal, "discount": raw.discount, "payable": raw.payable},
        "points": points_dict(parts, raw.tier_rank, raw.room_index, raw.points),
        "redemptions": redemptions,
    }
    if raw.progress is not None:  # only a table with `progression` (engine/progression.py)
        out["tier_progress"] = progress_dict(parts.model, raw.progress, raw.payable)
    return out


def public_quote(compiled: Any, raw: RawQuote) -> dict:
    """The quote as a checkout shows it: every figure in fen, every refusal with a reason.

    `compiled` is the CompiledTable the quote was made with.
    """
    parts = parts_of(compiled)
    lines = [
        line_dict(
            parts,
            ln.sku,
            ln.qty,
            ln.status,
            ln.hint,
            ln.unit_price,
            ln.layer,
            ln.amount,
            ln.discount,
            ln.final,
            ln.shares,
        )
        for ln in raw.lines
    ]
    amounts = {c.index: c.amount for c in raw.coupons}
    applied = [applied_dict(parts, i, amounts[i]) for i in raw.applied]
    not_applied = [not_applied_dict(parts, c.index, c.status, c.hint) for c in raw.coupons if c.status != codes.OK]
    redemptions = [redemption_dict(parts, k, status, hint) for k, (status, hint) in enumerate(raw.redemptions)]
    return assemble(parts, raw, lines, applied, not_applied, redemptions)


def yuan(fen: int, grouped: bool = False) -> str:
    """Fen as a yuan amount with two decimals, e.g. 1200 -> '12.00'; `grouped` puts commas
    between thousands, for amounts too large to read at a glance."""
    sign = "-" if fen < 0 else ""
    fen = abs(fen)
    return f"{sign}{fen // 100:,}.{fen % 100:02d}" if grouped else f"{sign}{fen // 100}.{fen % 100:02d}"


def wait_text(seconds: int) -> str:
    """'opens in 4 minutes': rounded up, so a checkout never promises too early."""
    for size, unit in ((86400, "day"), (3600, "hour"), (60, "minute")):
        if seconds >= 2 * size or (size == 60 and seconds >= 60):
            count = -(-seconds // size)
            return f"opens in {count} {unit}{'s' if count != 1 else ''}"
    return f"opens in {seconds} second{'s' if seconds != 1 else ''}"


def _tier_hint(parts: PublicParts, allowed: frozenset, rank: int) -> dict | None:
    if rank <= 0:
        return None
    ids = parts.tier_ids
    tier = ids[rank]
    upward = all(t in allowed for t in ids[rank:])
    name = parts.model.tiers[rank - 1].name
    text = f"for {name} and above" if upward and rank < len(ids) - 1 else f"for {name} members"
    return {"code": "upgrade_tier", "value": tier, "text": text}


def _room_hint(parts: PublicParts, room_id: str) -> dict:
    room = parts.model.rooms[parts.rooms.index(room_id)]
    return {"code": "join_room", "value": room.id, "text": f"in live room {room.name}"}


def _segment_hint(parts: PublicParts, segment: Any, mask: int) -> dict | None:
    """What keeps a member (whose tags, as the table's tag mask, are `mask`) out of a
    segment: the first unmet part of any_of, all_of, none_of, naming its tags."""
    if segment is None:
        return None
    tags = frozenset(parts.compiled.tag_names(mask))
    if segment.any_of and segment.any_of.isdisjoint(tags):
        wanted = sorted(segment.any_of)
        return {"code": "needs_any_of", "value": wanted, "text": f"for members tagged {' or '.join(wanted)}"}
    missing = sorted(segment.all_of - tags)
    if missing:
        return {"code": "needs_all_of", "value": missing, "text": f"for members also tagged {' and '.join(missing)}"}
    excluded = sorted(segment.none_of & tags)
    return {"code": "excluded_by", "value": excluded, "text": f"not for members tagged {' or '.join(excluded)}"}


def _line_hint(parts: PublicParts, sku: str, status: int, hint: int) -> dict | None:
    if status == codes.SEGMENT_NOT_ELIGIBLE:
        return _segment_hint(parts, parts.model.products[parts.compiled.sku_row[sku]].segment, hint)
    if status == codes.TIER_TOO_LOW:
        product = parts.model.products[parts.compiled.sku_row[sku]]
        return _tier_hint(parts, product.allowed_tiers, hint)
    if status == codes.MEMBERS_ONLY_ROOM:
        return {"code": "join_membership", "value": None, "text": "members only in this room; join to buy"}
    if status == codes.MEMBER_LIMIT_REACHED and hint > 0:
        return {"code": "quantity_left", "value": hint, "text": f"at most {hint} more for you"}
    return None


def _coupon_hint(parts: PublicParts, index: int, status: int, hint: int) -> dict | None:
    if status == codes.SEGMENT_NOT_ELIGIBLE:
        return _segment_hint(parts, parts.model.coupons[index].segment, hint)
    if status == codes.TIER_TOO_LOW:
        return _tier_hint(parts, parts.model.coupons[index].tiers, hint)
    if status == codes.NOT_IN_ROOM:
        return _room_hint(parts, parts.model.coupons[index].room)
    if status == codes.OUTSIDE_WINDOW and hint > 0:
        return {"code": "opens_in", "value": hint, "text": wait_text(hint)}
    if status == codes.THRESHOLD_NOT_MET:
        return {"code": "add_amount", "value": hint, "text": f"add {yuan(hint)} yuan more of these items"}
    if status == codes.NOT_OWNED and hint > 0:  # hint: the granting redemption's position + 1
        item = parts.model.redemptions[hint - 1]
        return {"code": "redeem", "value": item.id, "text": f"redeem {item.name} for {item.points} points"}
    return None


def _redemption_hint(parts: PublicParts, k: int, status: int, hint: int) -> dict | None:
    item = parts.model.redemptions[k]
    if status == codes.SEGMENT_NOT_ELIGIBLE:
        return _segment_hint(parts, item.segment, hint)
    if status == codes.TIER_TOO_LOW:
        return _tier_hint(parts, item.tiers, hint)
    if status == codes.NOT_IN_ROOM:
        return _room_hint(parts, item.room)
    if status == codes.OUTSIDE_WINDOW and hint > 0:
        return {"code": "opens_in", "value": hint, "text": wait_text(hint)}
    if status == codes.TASK_LOCKED:
        return {
            "code": "watch_sessions",
            "value": hint,
            "text": f"watch {hint} more live session{'s' if hint != 1 else ''}",
        }
    if status == codes.INSUFFICIENT_POINTS:
        return {"code": "earn_points", "value": hint, "text": f"earn {hint} more points"}
    if status == codes.POINTS_DEBT:
        return {
            "code": "pay_debt",
            "value": hint,
            "text": f"{hint} points are owed from a refund; the next points earned pay them",
        }
    return None


class JsonParts:
    """The public quote's JSON pieces that depend on the table alone, encoded once, and
    the hints' JSON, encoded at first use and kept (bytes are immutable, so a cached piece
    is safe to share). The compiled Quote writes its JSON from these."""

    HINT_CACHE = 100_000

    def __init__(self, parts: PublicParts):
        import orjson

        dumps = self.dumps = orjson.dumps
        model = parts.model
        self.parts = parts
        self.skus = [dumps(p.sku) for p in model.products]
        self.coupon_ids = [dumps(c[0]) for c in parts.coupons]
        self.coupon_heads = [
            b'{"id":' + dumps(i) + b',"name":' + dumps(n) + b',"kind":' + dumps(k) for i, n, k in parts.coupons
        ]
        self.redemption_heads = [
            b'{"id":' + dumps(i) + b',"name":' + dumps(n) + b',"points":%d,"cash":%d' % (p, c)
            for i, n, p, c in parts.redemptions
        ]
        self.reasons = [dumps(codes.REASONS.get(k)) for k in range(max(codes.REASONS) + 1)]
        self.layers = [dumps(codes.LAYERS.get(k)) for k in range(max(codes.LAYERS) + 1)]
        self.tiers = [dumps(t) for t in parts.tier_ids]
        self.rooms = [dumps(r) for r in parts.rooms]
        self._hints: dict = {}

    def _cached(self, key: tuple, make) -> bytes:
        hit = self._hints.get(key)
        if hit is None:
            hit = self.dumps(make())
            if len(self._hints) < self.HINT_CACHE:
                self._hints[key] = hit
        return hit

    # cache keys: (0 line, product row or -1, status, hint), (1 coupon, index, ...), (2 redemption, k, ...),
    # (3 progress, target tier, spend left, growth left, tasks left, whether the cart pays)
    def line_hint(self, sku: str, status: int, hint: int) -> bytes:
        row = self.parts.compiled.sku_row.get(sku, -1)
        key = (0, row, status, hint) if row >= 0 else ("unknown", sku, status, hint)
        return self._cached(key, lambda: _line_hint(self.parts, sku, status, hint))

    def coupon_hint(self, index: int, status: int, hint: int) -> bytes:
        return self._cached((1, index, status, hint), lambda: _coupon_hint(self.parts, index, status, hint))

    def redemption_hint(self, k: int, status: int, hint: int) -> bytes:
        return self._cached((2, k, status, hint), lambda: _redemption_hint(self.parts, k, status, hint))

    def progress(self, key: tuple, raw: Any, payable: int) -> bytes:
        """The tier_progress block's JSON under `key` (3, and every figure it shows)."""
        return self._cached(key, lambda: progress_dict(self.parts.model, raw, payable))


def json_parts_of(compiled: Any) -> JsonParts:
    parts = getattr(compiled, "_json_parts", None)
    if parts is None:
        parts = compiled._json_parts = JsonParts(parts_of(compiled))
    return parts
