"""Lines and price layers (reference._price_lines): whether each line may be bought, and
its unit price after the tier, live-room and self-pickup layers."""
from libc.stdint cimport int64_t

from ext.codes cimport (LAYER_BASE, LAYER_LIVE, LAYER_NONE, LAYER_PICKUP, LAYER_TIER, MEMBER_LIMIT_REACHED,
                        MEMBERS_ONLY_ROOM, OK, SEGMENT_NOT_ELIGIBLE, TIER_NOT_ELIGIBLE, TIER_TOO_LOW, UNKNOWN_SKU)
from ext.helpers cimport _in_segment, _lowest_tier_above, _percent_half_up
from ext.layout cimport (P_LIMIT, P_LIVE_END, P_LIVE_START, P_PRICE, P_SEGMENT_ALL, P_SEGMENT_ANY, P_SEGMENT_NONE,
                         P_TIER_PRICE, P_TIERS)
from ext.structs cimport Request, Result, Table, _product


cdef void price_lines(const Table* t, const Request* r, Result* out) noexcept nogil:
    """Every line's status and hint, unit price, layer and amount (`out.live`, which the
    driver sets first, says whether live-room prices apply)."""
    cdef int64_t n = r.n, i, j, k, row, price, tp, taken, limit
    cdef int64_t tier = r.tier, room = r.room
    cdef bint live = out.live
    for i in range(n):
        out.line_status[i] = OK
        out.line_hint[i] = 0
        out.line_unit[i] = 0
        out.line_layer[i] = LAYER_NONE
        out.line_amount[i] = 0
        out.line_discount[i] = 0
        out.line_final[i] = 0
        row = r.rows[i]
        if row < 0:
            out.line_status[i] = UNKNOWN_SKU
            continue
        if room >= 0 and t.room_members_only[room] and tier == 0:
            out.line_status[i] = MEMBERS_ONLY_ROOM
            continue
        if not (_product(t, row, P_TIERS) >> tier) & 1:
            out.line_hint[i] = _lowest_tier_above(_product(t, row, P_TIERS), tier, t.n_tiers)
            out.line_status[i] = TIER_TOO_LOW if out.line_hint[i] else TIER_NOT_ELIGIBLE
            continue
        if not _in_segment(_product(t, row, P_SEGMENT_ANY), _product(t, row, P_SEGMENT_ALL),
                           _product(t, row, P_SEGMENT_NONE), r.tags):
            out.line_status[i] = SEGMENT_NOT_ELIGIBLE
            out.line_hint[i] = r.tags
            continue
        limit = _product(t, row, P_LIMIT)
        if limit >= 0:
            taken = r.bought[i]
            for j in range(i):
                if r.rows[j] == row and out.line_status[j] == OK:
                    taken += r.qty[j]
            if taken + r.qty[i] > limit:
                out.line_status[i] = MEMBER_LIMIT_REACHED
                out.line_hint[i] = limit - taken if limit > taken else 0
                continue
        price = _product(t, row, P_PRICE)
        out.line_layer[i] = LAYER_BASE
        if tier > 0:
            tp = _product(t, row, P_TIER_PRICE + tier)
            if tp >= 0 and tp < price:
                price = tp
                out.line_layer[i] = LAYER_TIER
        if live:
            for k in range(_product(t, row, P_LIVE_START), _product(t, row, P_LIVE_END)):
                if t.live_room[k] == room:
                    if t.live_price[k] < price:
                        price = t.live_price[k]
                        out.line_layer[i] = LAYER_LIVE
                    break
        if r.pickup and t.pickup_percent:
            tp = _percent_half_up(price, t.pickup_percent)
            if tp > 0:
                price -= tp
                out.line_layer[i] = LAYER_PICKUP
        out.line_unit[i] = price
        out.line_amount[i] = price * r.qty[i]
        out.line_final[i] = out.line_amount[i]
