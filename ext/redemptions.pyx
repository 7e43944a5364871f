"""Redemptions (reference._redemption): for each catalogue item, whether the member may
redeem it now, and if not the first reason, in the reference's order, with its hint.

A quote decides only the items without a room and those of its own room (the table's
room index, as coupons are found through the cart's skus): an item of another room can
only be refused, by tier, segment or room, and that is decided when the quote is read
(`spread`). The quote's result holds the decided items only, in the order
`decided_items` gives, so neither the checks nor the memory a quote takes grow with the
catalogues of other rooms."""
from libc.stdint cimport int64_t

from ext.codes cimport (INSUFFICIENT_POINTS, MEMBER_LIMIT_REACHED, NOT_IN_ROOM, OK, OUT_OF_STOCK, OUTSIDE_WINDOW,
                        POINTS_DEBT, SEGMENT_NOT_ELIGIBLE, TASK_LOCKED, TIER_NOT_ELIGIBLE, TIER_TOO_LOW)
from ext.helpers cimport _in_segment, _lookup, _lowest_tier_above, _window_open
from ext.layout cimport index_t, value_t
from ext.structs cimport Request, Result, Table


cdef int64_t decided_items(const Table* t, int64_t room) noexcept nogil:
    """How many items a quote in `room` (-1: none) decides: those without a room, then the room's."""
    if room < 0:
        return t.n_roomless_redemptions
    return t.n_roomless_redemptions + t.room_redemption_ptr[room + 1] - t.room_redemption_ptr[room]


cdef void _decide(const Table* t, const Request* r, const index_t* items, int64_t n, int64_t* red_status,
                  int64_t* red_hint) noexcept nogil:
    """The status and hint of each of `items`, in their order. The columns are read through
    local pointers, which the stores to the result cannot alias."""
    cdef int64_t i, k, status, hint, tier = r.tier, room = r.room
    cdef int64_t now = r.now, sessions = r.sessions, points = r.points, debt = r.points_debt
    cdef const value_t* red_tiers = t.redemption_tiers
    cdef const value_t* red_room = t.redemption_room
    cdef const value_t* red_from = t.redemption_from
    cdef const value_t* red_to = t.redemption_to
    cdef const value_t* red_sessions = t.redemption_sessions
    cdef const value_t* red_limit = t.redemption_member_limit
    cdef const value_t* red_stock = t.redemption_stock
    cdef const value_t* red_points = t.redemption_points
    cdef const value_t* red_any = t.redemption_segment_any
    cdef const value_t* red_all = t.redemption_segment_all
    cdef const value_t* red_none = t.redemption_segment_none
    cdef int64_t tags = r.tags
    for i in range(n):
        k = items[i]
        status = OK
        hint = 0
        if not (red_tiers[k] >> tier) & 1:
            hint = _lowest_tier_above(red_tiers[k], tier, t.n_tiers)
            status = TIER_TOO_LOW if hint else TIER_NOT_ELIGIBLE
        elif not _in_segment(red_any[k], red_all[k], red_none[k], tags):
            status = SEGMENT_NOT_ELIGIBLE
            hint = tags
        elif red_room[k] >= 0 and red_room[k] != room:
            status = NOT_IN_ROOM
        elif not _window_open(red_from[k], red_to[k], now):
            status = OUTSIDE_WINDOW
            hint = red_from[k] - now if now < red_from[k] else 0
        elif sessions < red_sessions[k]:
            status = TASK_LOCKED
            hint = red_sessions[k] - sessions
        elif red_limit[k] >= 0 and _lookup(r.redemption_uses, r.n_redemption_uses, k, 0) >= red_limit[k]:
            status = MEMBER_LIMIT_REACHED
        elif red_stock[k] >= 0 and _lookup(r.redemption_stock, r.n_redemption_stock, k, red_stock[k]) <= 0:
            status = OUT_OF_STOCK
        elif debt > 0 and red_points[k] > 0:
            status = POINTS_DEBT
            hint = debt
        elif points < red_points[k]:
            status = INSUFFICIENT_POINTS
            hint = red_points[k] - points
        red_status[i] = status
        red_hint[i] = hint


cdef void check_redemptions(const Table* t, const Request* r, Result* out) noexcept nogil:
    """The items without a room, then those of the quote's room, into the result's first
    decided_items() places; the rest are left to spread."""
    cdef int64_t start, n = t.n_roomless_redemptions
    _decide(t, r, t.roomless_redemption, n, out.red_status, out.red_hint)
    if r.room >= 0:
        start = t.room_redemption_ptr[r.room]
        _decide(t, r, t.room_redemption + start, t.room_redemption_ptr[r.room + 1] - start, out.red_status + n,
                out.red_hint + n)


cdef void spread(const Table* t, int64_t tier, int64_t tags, int64_t room, const int64_t* decided_status,
                 const int64_t* decided_hint, int64_t* red_status, int64_t* red_hint) noexcept nogil:
    """Every item's status and hint, by its position in the table: the decided ones moved
    to their places, and each item of a room other than `room` refused by the reference's
    first checks, tier and segment, and then by the room."""
    cdef int64_t i, k, status, hint, start, n = t.n_roomless_redemptions
    cdef const value_t* red_tiers = t.redemption_tiers
    cdef const value_t* red_room = t.redemption_room
    for k in range(t.n_redemptions):
        if red_room[k] < 0 or red_room[k] == room:
            continue
        status = NOT_IN_ROOM
        hint = 0
        if not (red_tiers[k] >> tier) & 1:
            hint = _lowest_tier_above(red_tiers[k], tier, t.n_tiers)
            status = TIER_TOO_LOW if hint else TIER_NOT_ELIGIBLE
        elif not _in_segment(t.redemption_segment_any[k], t.redemption_segment_all[k],
                             t.redemption_segment_none[k], tags):
            status = SEGMENT_NOT_ELIGIBLE
            hint = tags
        red_status[k] = status
        red_hint[k] = hint
    for i in range(n):
        k = t.roomless_redemption[i]
        red_status[k] = decided_status[i]
        red_hint[k] = decided_hint[i]
    if room >= 0:
        start = t.room_redemption_ptr[room]
        for i in range(t.room_redemption_ptr[room + 1] - start):
            k = t.room_redemption[start + i]
            red_status[k] = decided_status[n + i]
            red_hint[k] = decided_hint[n + i]
