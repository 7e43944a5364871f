"""The quote's totals, and the points the order earns (reference._points): the base per
yuan paid, the tier, live-room and birthday multipliers in turn, then the bonuses."""
from libc.stdint cimport int64_t

from ext.codes cimport OK
from ext.helpers cimport muldiv
from ext.structs cimport Request, Result, Table


cdef void add_totals(const Request* r, Result* out) noexcept nogil:
    """Subtotal, discount and payable, from the decided lines."""
    cdef int64_t i
    out.subtotal = 0
    out.discount = 0
    for i in range(r.n):
        out.subtotal += out.line_amount[i]
        out.discount += out.line_discount[i]
    out.payable = out.subtotal - out.discount


cdef void earn_points(const Table* t, const Request* r, Result* out) noexcept nogil:
    """Every step of the points calculation; visitors earn none. Reads the payable total."""
    cdef int64_t i, tier = r.tier, room = r.room
    cdef bint live = out.live
    out.p_base = out.p_tier = out.p_room = out.p_birthday = out.p_multiplied = 0
    out.p_room_bonus = out.p_order_bonus = out.p_total = 0
    if tier > 0:
        out.p_base = out.payable * t.per_yuan // 100
        out.p_tier = t.tier_multiplier[tier]
        out.p_multiplied = muldiv(out.p_base, out.p_tier, 100)
        if live:
            out.p_room = t.room_multiplier[room]
            out.p_multiplied = muldiv(out.p_multiplied, out.p_room, 100)
        if r.birthday_month and r.birthday_month == _month_of(r.now, t.utc_offset):
            out.p_birthday = t.birthday_multiplier
            out.p_multiplied = muldiv(out.p_multiplied, out.p_birthday, 100)
        for i in range(r.n):
            if out.line_status[i] == OK:
                out.p_room_bonus = t.room_bonus[room] if live else 0
                out.p_order_bonus = t.order_bonus
                break
        out.p_total = out.p_multiplied + out.p_room_bonus + out.p_order_bonus


cdef int64_t _month_of(int64_t now, int64_t offset) noexcept nogil:
    """Calendar month of a Unix instant at a UTC offset (civil-from-days)."""
    cdef int64_t seconds = now + offset
    cdef int64_t days = seconds // 86400
    if seconds % 86400 < 0:
        days -= 1
    cdef int64_t z = days + 719468
    cdef int64_t era = (z if z >= 0 else z - 146096) // 146097
    cdef int64_t doe = z - era * 146097
    cdef int64_t yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    cdef int64_t doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    cdef int64_t mp = (5 * doy + 2) // 153
    return mp + 3 if mp < 10 else mp - 9
