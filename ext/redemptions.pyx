"""Redemptions (reference._redemption): for each catalogue item, whether the member may
redeem it now, and if not the first reason, in the reference's order, with its hint."""
from libc.stdint cimport int64_t

from ext.codes cimport (INSUFFICIENT_POINTS, MEMBER_LIMIT_REACHED, NOT_IN_ROOM, OK, OUT_OF_STOCK, OUTSIDE_WINDOW,
                        POINTS_DEBT, SEGMENT_NOT_ELIGIBLE, TASK_LOCKED, TIER_NOT_ELIGIBLE, TIER_TOO_LOW)
from ext.helpers cimport _in_segment, _lookup, _lowest_tier_above, _window_open
from ext.layout cimport value_t
from ext.structs cimport Request, Result, Table


cdef void check_redemptions(const Table* t, const Request* r, Result* out) noexcept nogil:
    """Each item's status and hint. The columns are read through local pointers, which the
    stores to the result cannot alias."""
    cdef int64_t k, status, hint, tier = r.tier, room = r.room
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
    cdef int64_t* red_status = out.red_status
    cdef int64_t* red_hint = out.red_hint
    for k in range(t.n_redemptions):
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
        red_status[k] = status
        red_hint[k] = hint
