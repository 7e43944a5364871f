# The C types and record layouts of the compiled arrays: mirrors engine/layout.py
# (tests/test_layout.py checks that the two agree).
from libc.stdint cimport int32_t, int64_t

ctypedef int64_t value_t
ctypedef int32_t index_t

cdef enum:
    P_PRICE = 0
    P_TIERS = 1
    P_LIMIT = 2
    P_CATEGORY = 3
    P_SKU_COUPONS_START = 4
    P_SKU_COUPONS_END = 5
    P_LIVE_START = 6
    P_LIVE_END = 7
    P_TIER_PRICE = 8

cdef enum:
    C_TIERS = 0
    C_ROOM = 1
    C_FROM = 2
    C_TO = 3
    C_MEMBER_LIMIT = 4
    C_STOCK = 5
    C_KIND = 6
    C_THRESHOLD = 7
    C_PERCENT = 8
    C_CAP = 9
    C_AMOUNT = 10
    C_PRICE = 11
    C_UNITS = 12
    C_EXCLUSIVE = 13
    C_GROUP = 14
    C_RANK = 15
    COUPON_WIDTH = 16
