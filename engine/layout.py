"""The dtypes, record layouts and sentinels of the compiled arrays: the contract that
engine/ shares with ext/.

Products and coupons are stored as records (one row of int64 fields each) rather than a
column per field: a quote touches a few random rows of a large table, and a row's fields
then share one or two cache lines instead of one miss per column. The build writes
ext/layout.pxd, the same types and field positions for Cython, from this module
(ext/generate_contract.py); tests/test_layout.py checks that both sides agree and that
every compiled array is C-contiguous, read-only and of one of these dtypes.
"""

import numpy as np

VALUE = np.int64  # money in fen, points, instants, percents, masks, limits
# A segment's tag masks are uint64 bit patterns kept in int64 (bit 63 reads negative): they
# are only ever compared with &, ==, and 0, which mean the same on both.
INDEX = np.int32  # rows and CSR offsets

NO_LIMIT = -1  # no member limit, no stock limit, no cap, no tier price
NO_ROOM = -1
TIME_MIN = -(2**62)  # a window with no start
TIME_MAX = 2**62  # a window with no end

# product_record[row, field]; the tier prices follow, one per tier rank (visitor first).
# A product's live prices are live_room/live_price[live_start:live_end], in room order.
PRODUCT_FIELDS = (
    "price",
    "tiers",
    "limit",
    "category",
    "sku_coupons_start",
    "sku_coupons_end",
    "live_start",
    "live_end",
    "segment_any",
    "segment_all",
    "segment_none",
)
(
    P_PRICE,
    P_TIERS,
    P_LIMIT,
    P_CATEGORY,
    P_SKU_COUPONS_START,
    P_SKU_COUPONS_END,
    P_LIVE_START,
    P_LIVE_END,
    P_SEGMENT_ANY,
    P_SEGMENT_ALL,
    P_SEGMENT_NONE,
) = range(11)
P_TIER_PRICE = len(PRODUCT_FIELDS)

# coupon_record[index, field]: the fields every candidate's checks read come first
COUPON_FIELDS = (
    "tiers",
    "room",
    "window_from",
    "window_to",
    "member_limit",
    "stock",
    "kind",
    "threshold",
    "percent",
    "cap",
    "amount",
    "price",
    "units",
    "exclusive",
    "group",
    "rank",
    "segment_any",
    "segment_all",
    "segment_none",
    "granted",
)
(
    C_TIERS,
    C_ROOM,
    C_FROM,
    C_TO,
    C_MEMBER_LIMIT,
    C_STOCK,
    C_KIND,
    C_THRESHOLD,
    C_PERCENT,
    C_CAP,
    C_AMOUNT,
    C_PRICE,
    C_UNITS,
    C_EXCLUSIVE,
    C_GROUP,
    C_RANK,
    C_SEGMENT_ANY,
    C_SEGMENT_ALL,
    C_SEGMENT_NONE,
    C_GRANTED,  # -1: issued to every eligible member; else owned only, and the granting redemption + 1 (0: none)
) = range(20)
COUPON_WIDTH = len(COUPON_FIELDS)
