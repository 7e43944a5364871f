"""Compiling a validated RuleTable into flat numpy arrays and indexes.

The compiled evaluator reads only these arrays, so their layout is the contract between
engine/ and ext/: every value array is int64 and every index array int32 (see
engine/layout.py, from which the build writes ext/layout.pxd). Candidate coupons are indexed per sku
and per category in CSR form, so a quote touches only what its cart names.
"""

from __future__ import annotations

import functools
import hashlib

import numpy as np

from . import codes
from . import layout as L
from .gc_pause import gc_paused
from .layout import INDEX, NO_LIMIT, NO_ROOM, TIME_MAX, TIME_MIN, VALUE
from .model import RuleTable, Segment
from .owned import granting_redemption

_KIND_CODE = {
    "fixed_price": codes.KIND_FIXED_PRICE,
    "percent_off": codes.KIND_PERCENT_OFF,
    "amount_off": codes.KIND_AMOUNT_OFF,
    "threshold_off": codes.KIND_THRESHOLD_OFF,
}


def _values(items) -> np.ndarray:
    return _frozen(np.asarray(list(items), dtype=VALUE))


def _indexes(items) -> np.ndarray:
    return _frozen(np.asarray(list(items), dtype=INDEX))


def _frozen(array: np.ndarray) -> np.ndarray:
    array = np.ascontiguousarray(array)
    array.flags.writeable = False
    return array


def _csr(buckets: list) -> tuple:
    """(ptr, idx) of a list of lists: bucket k holds idx[ptr[k]:ptr[k+1]]."""
    ptr = np.zeros(len(buckets) + 1, dtype=INDEX)
    ptr[1:] = np.cumsum([len(b) for b in buckets], dtype=np.int64)
    flat = [x for b in buckets for x in b]
    return _frozen(ptr), _indexes(flat)


def _mask(allowed: frozenset, tier_ids: list) -> int:
    return _mask_of(allowed, tuple(tier_ids))


@functools.lru_cache(maxsize=1024)
def _mask_of(allowed: frozenset, tier_ids: tuple) -> int:
    """A tier set as a bit mask over tier ranks; tables reuse a handful of sets."""
    return sum(1 << rank for rank, tier in enumerate(tier_ids) if tier in allowed)


def _signed(mask: int) -> int:
    """A uint64 bit pattern as the int64 that holds it (bit 63 reads negative)."""
    return mask - (1 << 64) if mask >= 1 << 63 else mask


def _segment_masks(segment: Segment | None, tag_bit: dict) -> tuple:
    """(any_of, all_of, none_of) as tag masks; (0, 0, 0) admits every member."""
    if segment is None:
        return (0, 0, 0)
    return tuple(
        _signed(sum(1 << tag_bit[tag] for tag in tags)) for tags in (segment.any_of, segment.all_of, segment.none_of)
    )


def _optional(value: int | None, missing: int) -> int:
    return missing if value is None else value


class CompiledTable:
    """An immutable rule table ready to quote; `model` keeps the validated source."""

    def __init__(self, model: RuleTable, version: str = ""):
        self.model = model
        self.version = version or model.name
        tier_ids = model.tier_ids()
        self.tier_rank = {tier: rank for rank, tier in enumerate(tier_ids)}
        self.tier_rank[None] = 0
        self.n_tiers = len(tier_ids)
        # the tags the segments name, a bit each in sorted order (at most 64: the validator's limit)
        self.tag_bit = {tag: bit for bit, tag in enumerate(model.segment_tags())}
        self.tier_multiplier = _values([0] + [t.points_multiplier for t in model.tiers])

        products = model.products
        self.sku_row = {p.sku: row for row, p in enumerate(products)}
        categories = sorted({p.category for p in products})
        self.category_index = {c: k for k, c in enumerate(categories)}
        record = np.empty((len(products), L.P_TIER_PRICE + self.n_tiers), dtype=VALUE)
        record[:, L.P_PRICE] = [p.price for p in products]
        record[:, L.P_TIERS] = [_mask(p.allowed_tiers, tier_ids) for p in products]
        record[:, L.P_LIMIT] = [_optional(p.member_limit, NO_LIMIT) for p in products]
        record[:, L.P_CATEGORY] = [self.category_index[p.category] for p in products]
        record[:, L.P_SEGMENT_ANY : L.P_SEGMENT_NONE + 1] = self._segment_columns(products)
        record[:, L.P_TIER_PRICE :] = self._tier_prices()
        self.product_record = record  # frozen once the coupon index fills the CSR columns

        rooms = model.rooms
        self.room_index = {r.id: k for k, r in enumerate(rooms)}
        self.room_start = _values(r.start for r in rooms)
        self.room_end = _values(r.end for r in rooms)
        self.room_members_only = _values(int(r.members_only) for r in rooms)
        self.room_multiplier = _values(r.points_multiplier for r in rooms)
        self.room_bonus = _values(r.order_bonus for r in rooms)
        # live prices by product (a product has few, whatever the number of rooms and prices)
        live: list[list[tuple[int, int]]] = [[] for _ in products]  # (room index, price)
        for index, r in enumerate(rooms):
            for sku, price in r.live_prices.items():
                live[self.sku_row[sku]].append((index, price))
        live_ptr, self.live_room = _csr([[index for index, _ in pairs] for pairs in live])
        self.live_price = _values(price for pairs in live for _, price in pairs)
        record[:, L.P_LIVE_START] = live_ptr[:-1]
        record[:, L.P_LIVE_END] = live_ptr[1:]

        self._compile_coupons(tier_ids)
        self._compile_redemptions(tier_ids)
        self.per_yuan = model.points.per_yuan
        self.birthday_multiplier = model.points.birthday_multiplier
        self.order_bonus = model.points.order_bonus
        self.pickup_percent = model.pickup_discount_percent
        self.utc_offset = model.utc_offset_seconds
        self._compile_progression()

    def _tier_prices(self) -> np.ndarray:
        """Effective tier price per (product, tier rank); a lower tier's price holds upward."""
        rows = []
        for product in self.model.products:
            current, row = NO_LIMIT, [NO_LIMIT]
            for tier in self.model.tiers:
                current = product.tier_prices.get(tier.id, current)
                row.append(current)
            rows.append(row)
        return np.array(rows, dtype=VALUE).reshape(len(rows), 1 + len(self.model.tiers))  # a table may have no product

    def _compile_coupons(self, tier_ids: list) -> None:
        coupons = self.model.coupons
        self.coupon_index = {c.id: k for k, c in enumerate(coupons)}
        record = np.empty((len(coupons), L.COUPON_WIDTH), dtype=VALUE)
        columns = {
            L.C_TIERS: [_mask(c.tiers, tier_ids) for c in coupons],
            L.C_ROOM: [NO_ROOM if c.room is None else self.room_index[c.room] for c in coupons],
            L.C_FROM: [_optional(c.window_from, TIME_MIN) for c in coupons],
            L.C_TO: [_optional(c.window_to, TIME_MAX) for c in coupons],
            L.C_MEMBER_LIMIT: [_optional(c.member_limit, NO_LIMIT) for c in coupons],
            L.C_STOCK: [_optional(c.stock, NO_LIMIT) for c in coupons],
            L.C_KIND: [_KIND_CODE[c.kind] for c in coupons],
            L.C_THRESHOLD: [c.threshold for c in coupons],
            L.C_PERCENT: [c.percent_off for c in coupons],
            L.C_CAP: [_optional(c.max_discount, NO_LIMIT) for c in coupons],
            L.C_AMOUNT: [c.amount for c in coupons],
            L.C_PRICE: [c.price for c in coupons],
            L.C_UNITS: [c.units for c in coupons],
            L.C_EXCLUSIVE: [int(c.exclusive) for c in coupons],
            L.C_GRANTED: [-1 if c.issue != "granted" else granting_redemption(self.model, c.id) + 1 for c in coupons],
        }
        for field, values in columns.items():
            record[:, field] = values
        record[:, L.C_SEGMENT_ANY : L.C_SEGMENT_NONE + 1] = self._segment_columns(coupons)
        named: dict = {}
        record[:, L.C_GROUP] = [
            len(coupons) + k
            if c.stack_group is None  # a group of its own
            else named.setdefault(c.stack_group, len(named))
            for k, c in enumerate(coupons)
        ]
        order = sorted(range(len(coupons)), key=lambda k: (-coupons[k].priority, coupons[k].id))
        record[order, L.C_RANK] = np.arange(len(coupons), dtype=VALUE)
        self.coupon_record = _frozen(record)

        by_sku: list[list[int]] = [[] for _ in self.model.products]
        by_category: list[list[int]] = [[] for _ in self.category_index]
        storewide = []
        for k, c in enumerate(coupons):
            if c.scope_all:
                storewide.append(k)
                continue
            for sku in sorted(c.scope_skus, key=self.sku_row.__getitem__):
                by_sku[self.sku_row[sku]].append(k)
            for category in sorted(c.scope_categories):
                by_category[self.category_index[category]].append(k)
        sku_ptr, self.sku_coupon = _csr(by_sku)
        self.product_record[:, L.P_SKU_COUPONS_START] = sku_ptr[:-1]
        self.product_record[:, L.P_SKU_COUPONS_END] = sku_ptr[1:]
        self.product_record = _frozen(self.product_record)
        self.category_coupon_ptr, self.category_coupon = _csr(by_category)
        self.storewide_coupon = _indexes(storewide)

    def _compile_redemptions(self, tier_ids: list) -> None:
        items = self.model.redemptions
        self.redemption_index = {r.id: k for k, r in enumerate(items)}
        self.redemption_points = _values(r.points for r in items)
        self.redemption_tiers = _values(_mask(r.tiers, tier_ids) for r in items)
        self.redemption_room = _values(NO_ROOM if r.room is None else self.room_index[r.room] for r in items)
        self.redemption_from = _values(_optional(r.window_from, TIME_MIN) for r in items)
        self.redemption_to = _values(_optional(r.window_to, TIME_MAX) for r in items)
        self.redemption_sessions = _values(r.sessions_watched for r in items)
        self.redemption_stock = _values(_optional(r.stock, NO_LIMIT) for r in items)
        self.redemption_member_limit = _values(_optional(r.member_limit, NO_LIMIT) for r in items)
        masks = self._segment_columns(items)
        self.redemption_segment_any = _frozen(masks[:, 0])
        self.redemption_segment_all = _frozen(masks[:, 1])
        self.redemption_segment_none = _frozen(masks[:, 2])
        # by room, as coupons are by sku: a quote decides the items without a room and those
        # of its own room; an item of another room can only be refused, which is decided
        # when the quote is read (ext/redemptions.pyx), so catalogues of other rooms cost
        # a quote nothing
        by_room: list[list[int]] = [[] for _ in self.room_index]
        for k, r in enumerate(items):
            if r.room is not None:
                by_room[self.room_index[r.room]].append(k)
        self.room_redemption_ptr, self.room_redemption = _csr(by_room)
        self.roomless_redemption = _indexes(k for k, r in enumerate(items) if r.room is None)

    def _compile_progression(self) -> None:
        """Tier progression (engine/progression.py): per tier rank, the target tier a quote
        shows progress toward (0: none), its spend and growth criteria (NO_LIMIT: none) and
        its tasks (CSR over ranks, into the table's tasks in the order written)."""
        from .progression import target_rank

        model = self.model
        progression = model.progression
        self.has_progression = int(progression is not None)
        names = list(progression.tasks) if progression is not None else []
        self.task_index = {name: k for k, name in enumerate(names)}
        self.growth_per_yuan = progression.growth_per_yuan if progression is not None else 0
        reaches = [None] + [t.reach for t in model.tiers]
        self.progress_target = _values(target_rank(model, rank) if progression else 0 for rank in range(self.n_tiers))
        self.tier_spend = _values(_optional(r.spend if r else None, NO_LIMIT) for r in reaches)
        self.tier_growth = _values(_optional(r.growth if r else None, NO_LIMIT) for r in reaches)
        self.tier_task_ptr, self.tier_task = _csr([[self.task_index[n] for n in r.tasks] if r else [] for r in reaches])
        self.task_target = _values(progression.tasks[n].target for n in names) if progression else _values([])

    def _segment_columns(self, items) -> np.ndarray:
        """(any_of, all_of, none_of) masks per item, an (n, 3) array; zeros when the table has no segments."""
        masks = np.zeros((len(items), 3), dtype=VALUE)
        if self.tag_bit:
            for row, item in enumerate(items):
                if item.segment is not None:
                    masks[row] = _segment_masks(item.segment, self.tag_bit)
        return masks

    def tag_mask(self, tags) -> int:
        """A member's tags as the table's tag mask (int64); tags no segment names are ignored."""
        bit = self.tag_bit
        return _signed(sum(1 << bit[tag] for tag in set(tags) if tag in bit)) if bit else 0

    def tag_names(self, mask: int) -> list:
        """The tags of a mask, in bit order (sorted)."""
        mask &= (1 << 64) - 1
        return [tag for tag, bit in self.tag_bit.items() if mask >> bit & 1]

    def arrays(self) -> dict:
        """Every numpy array of the compiled table, by attribute name."""
        return {name: value for name, value in vars(self).items() if isinstance(value, np.ndarray)}


def compile_table(model: RuleTable, version: str = "") -> CompiledTable:
    with gc_paused():
        return CompiledTable(model, version)


def content_version(raw: bytes) -> str:
    """A short content hash of a rule table's source, the basis of its version id."""
    return hashlib.sha256(raw).hexdigest()[:12]
