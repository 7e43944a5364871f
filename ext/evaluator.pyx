# cython: language_level=3
"""The compiled evaluator: the reference's semantics over the compiled numpy arrays.

Python inputs are checked and turned into C arrays once (`quote`), then `_run` decides
the whole quote without the GIL, touching only the rows the cart names. The result is a
`Quote` holding plain C arrays; `to_raw()` / `to_dict()` build Python objects only when
asked. engine/reference.py is the specification: every rule here mirrors a function there.
"""
NAME = "compiled"  # set before the engine imports below: `import engine` selects this module

from libc.stdint cimport int64_t, INT64_MAX
from libc.stdlib cimport free, malloc
from posix.time cimport CLOCK_MONOTONIC, clock_gettime, timespec
cimport cython
from libc.string cimport memcpy, strlen

from ext.codes cimport *
from ext.layout cimport *

from engine.inputs import QuoteInputError
from engine.model import MAX_INSTANT, MAX_LINES, MAX_POINTS, MAX_QTY
from engine.quote import (RawCoupon, RawLine, RawPoints, RawQuote, applied_dict, assemble, json_parts_of,
                          line_dict, not_applied_dict, parts_of, redemption_dict)
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from libc.stdio cimport snprintf
from libc.stdlib cimport realloc

cdef int64_t MAX_POINTS_C = MAX_POINTS
cdef int64_t MAX_QTY_C = MAX_QTY


cdef extern from "Python.h":
    long long PyLong_AsLongLongAndOverflow(object value, int* overflow) except? -1


cdef inline int64_t _whole(object value) except? -2:
    """An exact int as a C integer without Python comparisons; -1 for anything else,
    including an int too large for 64 bits (bool is not an int here, as in the reference)."""
    cdef int overflow = 0
    cdef long long result
    if type(value) is not int:
        return -1
    result = PyLong_AsLongLongAndOverflow(value, &overflow)
    return -1 if overflow else result
DEBUG_CHECKS = bool(RIGHTS_DEBUG)  # built with RIGHTS_DEBUG=1: bounds checks on

cdef extern from *:
    """
    /* a * b / c and a * b % c for non-negative a, b and positive c, exact: in 64 bits
       when the product fits (nearly always), in 128 bits otherwise. */
    static inline long long rights_muldiv(long long a, long long b, long long c) {
        if (a < 3037000499LL && b < 3037000499LL) return (a * b) / c;
        return (long long)(((__int128)a * b) / c);
    }
    /* a * b = q * c + r (0 <= r < c) for non-negative a, b and positive c, exact, without
       a hardware division in the usual case: q is estimated through `inverse` (1.0 / c),
       which is off by q * 2**-51 + 1 at most (so by one or two when b <= c, as in the
       allocation), and then corrected in integers; the correction keeps it exact anyway. */
    static inline long long rights_muldivmod(long long a, long long b, long long c, double inverse,
                                             long long* remainder) {
        long long q, r;
        if (a < 2147483648LL && b < 2147483648LL && c < 1152921504606846976LL) {
            long long p = a * b;
            q = (long long)((double)p * inverse);
            r = p - q * c;
            while (r < 0) { q -= 1; r += c; }
            while (r >= c) { q += 1; r -= c; }
        } else {
            __int128 p = (__int128)a * b;
            q = (long long)(p / c);
            r = (long long)(p - (__int128)q * c);
        }
        *remainder = r;
        return q;
    }
    #ifndef RIGHTS_DEBUG
    #define RIGHTS_DEBUG 0
    #endif
    """
    int RIGHTS_DEBUG
    long long muldiv "rights_muldiv"(long long a, long long b, long long c) nogil
    long long muldivmod "rights_muldivmod"(long long a, long long b, long long c, double inverse,
                                           long long* remainder) nogil


cdef struct Table:
    int64_t n_tiers
    const value_t* tier_multiplier
    const value_t* product     # product_record, product_width fields a row
    int64_t product_width
    const value_t* room_start
    const value_t* room_end
    const value_t* room_members_only
    const value_t* room_multiplier
    const value_t* room_bonus
    const index_t* live_room
    const value_t* live_price
    const value_t* coupon      # coupon_record, COUPON_WIDTH fields a row
    const index_t* sku_coupon
    const index_t* category_coupon_ptr
    const index_t* category_coupon
    const index_t* storewide_coupon
    int64_t n_storewide
    int64_t n_redemptions
    const value_t* redemption_points
    const value_t* redemption_tiers
    const value_t* redemption_room
    const value_t* redemption_from
    const value_t* redemption_to
    const value_t* redemption_sessions
    const value_t* redemption_stock
    const value_t* redemption_member_limit
    int64_t per_yuan
    int64_t birthday_multiplier
    int64_t order_bonus
    int64_t pickup_percent
    int64_t utc_offset


cdef struct Request:
    int64_t tier
    int64_t room
    int64_t now
    int64_t pickup
    int64_t points
    int64_t points_debt
    int64_t birthday_month
    int64_t sessions
    int64_t n
    int64_t* rows       # product row per line, -1 unknown
    int64_t* qty
    int64_t* bought     # member's earlier purchases of the line's sku
    int64_t n_coupon_uses
    int64_t* coupon_uses    # pairs: coupon index, count
    int64_t n_redemption_uses
    int64_t* redemption_uses
    int64_t n_coupon_stock
    int64_t* coupon_stock   # pairs: coupon index, stock left
    int64_t n_redemption_stock
    int64_t* redemption_stock


cdef struct Result:
    int64_t live
    int64_t* line_status
    int64_t* line_hint
    int64_t* line_unit
    int64_t* line_layer
    int64_t* line_amount
    int64_t* line_discount
    int64_t* line_final
    int64_t n_candidates
    int64_t* cand_coupon
    int64_t* cand_status
    int64_t* cand_amount
    int64_t* cand_hint
    int64_t n_applied
    int64_t* applied            # candidate slots, in application order
    int64_t n_shares
    int64_t* share_line
    int64_t* share_coupon
    int64_t* share_amount
    int64_t subtotal
    int64_t discount
    int64_t payable
    int64_t p_base
    int64_t p_tier
    int64_t p_room
    int64_t p_birthday
    int64_t p_multiplied
    int64_t p_room_bonus
    int64_t p_order_bonus
    int64_t p_total
    int64_t* red_status
    int64_t* red_hint
    int64_t* arena           # owns the candidate and applied arrays
    int64_t* shares          # owns the share arrays
    int64_t combinations    # how many combinations the search evaluated
    bint exact              # False when the search budget ran out


cdef inline const value_t* _values(const value_t[::1] array):
    return &array[0] if array.shape[0] else NULL


cdef inline const index_t* _indexes(const index_t[::1] array):
    return &array[0] if array.shape[0] else NULL


cdef class TableView:
    """C pointers into one CompiledTable's arrays, built once per table and cached on it."""

    cdef Table t
    cdef object compiled     # keeps the arrays alive
    cdef dict sku_row
    cdef dict tier_rank
    cdef dict room_index
    cdef dict coupon_index
    cdef dict redemption_index

    def __init__(self, compiled):
        self.compiled = compiled
        self.sku_row = compiled.sku_row
        self.tier_rank = compiled.tier_rank
        self.room_index = compiled.room_index
        self.coupon_index = compiled.coupon_index
        self.redemption_index = compiled.redemption_index
        c = compiled
        self.t.n_tiers = c.n_tiers
        self.t.tier_multiplier = _values(c.tier_multiplier)
        self.t.product = _values(c.product_record.reshape(-1))
        self.t.product_width = c.product_record.shape[1]
        self.t.room_start = _values(c.room_start)
        self.t.room_end = _values(c.room_end)
        self.t.room_members_only = _values(c.room_members_only)
        self.t.room_multiplier = _values(c.room_multiplier)
        self.t.room_bonus = _values(c.room_bonus)
        self.t.live_room = _indexes(c.live_room)
        self.t.live_price = _values(c.live_price)
        self.t.coupon = _values(c.coupon_record.reshape(-1))
        self.t.sku_coupon = _indexes(c.sku_coupon)
        self.t.category_coupon_ptr = _indexes(c.category_coupon_ptr)
        self.t.category_coupon = _indexes(c.category_coupon)
        self.t.storewide_coupon = _indexes(c.storewide_coupon)
        self.t.n_storewide = c.storewide_coupon.shape[0]
        self.t.n_redemptions = c.redemption_points.shape[0]
        self.t.redemption_points = _values(c.redemption_points)
        self.t.redemption_tiers = _values(c.redemption_tiers)
        self.t.redemption_room = _values(c.redemption_room)
        self.t.redemption_from = _values(c.redemption_from)
        self.t.redemption_to = _values(c.redemption_to)
        self.t.redemption_sessions = _values(c.redemption_sessions)
        self.t.redemption_stock = _values(c.redemption_stock)
        self.t.redemption_member_limit = _values(c.redemption_member_limit)
        self.t.per_yuan = c.per_yuan
        self.t.birthday_multiplier = c.birthday_multiplier
        self.t.order_bonus = c.order_bonus
        self.t.pickup_percent = c.pickup_percent
        self.t.utc_offset = c.utc_offset


cdef object _last_table = None
cdef TableView _last_view = None


cdef TableView _view(object compiled):
    """The table's view: the last one used is kept at hand, others hang off their table."""
    global _last_table, _last_view
    if compiled is _last_table:
        return _last_view
    view = getattr(compiled, "_ext_view", None)
    if view is None:
        view = TableView(compiled)
        compiled._ext_view = view
    _last_table = compiled
    _last_view = <TableView>view
    return _last_view


# -- small helpers ------------------------------------------------------------------------

cdef inline value_t _coupon(const Table* t, int64_t c, int64_t field) noexcept nogil:
    return t.coupon[c * COUPON_WIDTH + field]


cdef inline value_t _product(const Table* t, int64_t row, int64_t field) noexcept nogil:
    return t.product[row * t.product_width + field]


cdef inline int64_t _lowest_tier_above(int64_t mask, int64_t tier, int64_t n_tiers) noexcept nogil:
    cdef int64_t rank
    for rank in range(tier + 1, n_tiers):
        if (mask >> rank) & 1:
            return rank
    return 0


cdef inline int64_t _percent_half_up(int64_t amount, int64_t percent) noexcept nogil:
    return (amount * percent + 50) // 100


cdef inline bint _window_open(int64_t start, int64_t end, int64_t now) noexcept nogil:
    return start <= now and now < end


cdef inline int64_t _lookup(const int64_t* pairs, int64_t n, int64_t key, int64_t missing) noexcept nogil:
    cdef int64_t k
    for k in range(n):
        if pairs[2 * k] == key:
            return pairs[2 * k + 1]
    return missing


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


cdef void _allocate(int64_t total, const int64_t* weights, int64_t m, int64_t* shares,
                    int64_t* keys) noexcept nogil:
    """Split `total` in proportion to `weights`: floors, then one fen to each of the largest
    remainders (the earlier line on ties). Mirrors reference.allocate.

    Remainders are below the total weight (< 2**48 for any cart within the bounds), so
    (weight - 1 - remainder, position) packs into one int64 whose ascending order is the
    order the spare fen are handed out in."""
    cdef int64_t k, j, weight = 0, given = 0, left
    cdef long long remainder
    cdef double inverse
    for k in range(m):
        weight += weights[k]
    if weight == 0:
        for k in range(m):
            shares[k] = 0
        return
    inverse = 1.0 / <double>weight
    for k in range(m):
        shares[k] = muldivmod(total, weights[k], weight, inverse, &remainder)
        given += shares[k]
        keys[k] = weight - 1 - remainder
    left = total - given
    if left == 0:
        return
    for k in range(m):
        keys[k] = (keys[k] << 8) | k
    if m > 16:
        _select_smallest(keys, m, left)
        for k in range(left):
            shares[keys[k] & 255] += 1
        return
    while left > 0:  # a few lines: pick the smallest key, left times
        j = 0
        for k in range(1, m):
            if keys[k] < keys[j]:
                j = k
        shares[keys[j] & 255] += 1
        keys[j] = INT64_MAX
        left -= 1


cdef void _select_smallest(int64_t* keys, int64_t m, int64_t count) noexcept nogil:
    """Move the `count` smallest of m distinct keys to the front, in any order
    (quickselect with a median-of-three pivot: linear on average, no extra memory)."""
    cdef int64_t lo = 0, hi = m - 1, i, j, pivot, a, b, c, x
    while lo < hi:
        a = keys[lo]
        b = keys[(lo + hi) // 2]
        c = keys[hi]
        pivot = b if (a < b) == (b < c) else (a if (b < a) == (a < c) else c)
        i = lo
        j = hi
        while i <= j:
            while keys[i] < pivot:
                i += 1
            while keys[j] > pivot:
                j -= 1
            if i <= j:
                x = keys[i]
                keys[i] = keys[j]
                keys[j] = x
                i += 1
                j -= 1
        # now keys[lo..j] <= pivot <= keys[i..hi]
        if count - 1 <= j:
            hi = j
        elif count - 1 >= i:
            lo = i
        else:
            return


cdef int64_t _discount(const Table* t, int64_t c, const int64_t* lines, int64_t m, const int64_t* unit,
                       const int64_t* qty, const int64_t* amounts, int64_t* shares,
                       int64_t* scratch, bint need_shares) noexcept nogil:
    """Each eligible line's share of what coupon `c` saves now; returns the total.
    `lines` are the coupon's eligible lines, `scratch` has room for 3*m values. Without
    `need_shares` only the total is exact (a search asking "how much?" skips the
    allocation of an amount to its lines, which does not change the total)."""
    cdef int64_t k, j, total = 0, kind = _coupon(t, c, C_KIND), units_left, units, value, best
    cdef int64_t* current = scratch
    cdef int64_t* extra = scratch + m
    cdef int64_t percent
    if kind == KIND_PERCENT_OFF:
        percent = _coupon(t, c, C_PERCENT)
        for k in range(m):
            shares[k] = _percent_half_up(amounts[lines[k]], percent)
            total += shares[k]
        if _coupon(t, c, C_CAP) >= 0 and total > _coupon(t, c, C_CAP):
            total = _coupon(t, c, C_CAP)
            if need_shares:
                memcpy(current, shares, m * sizeof(int64_t))
                _allocate(total, current, m, shares, extra)
        return total
    if kind == KIND_FIXED_PRICE:
        for k in range(m):
            current[k] = amounts[lines[k]]
            shares[k] = 0
            extra[k] = 0  # taken
        units_left = _coupon(t, c, C_UNITS)
        while units_left > 0:
            best = -1
            for k in range(m):
                if not extra[k] and (best < 0 or unit[lines[k]] > unit[lines[best]]):
                    best = k
            if best < 0 or unit[lines[best]] <= _coupon(t, c, C_PRICE):
                break
            extra[best] = 1
            j = lines[best]
            units = qty[j] if qty[j] < units_left else units_left
            units_left -= units
            value = current[best] * units // qty[j]
            value -= units * _coupon(t, c, C_PRICE)
            shares[best] = value if value > 0 else 0
            total += shares[best]
        return total
    for k in range(m):
        current[k] = amounts[lines[k]]
        total += current[k]
    if kind == KIND_THRESHOLD_OFF and total < _coupon(t, c, C_THRESHOLD):
        for k in range(m):
            shares[k] = 0
        return 0
    if _coupon(t, c, C_AMOUNT) < total:
        total = _coupon(t, c, C_AMOUNT)
    if need_shares:
        _allocate(total, current, m, shares, extra)
    return total


# -- the quote ----------------------------------------------------------------------------

cdef enum:
    SMALL_WORK = 6144     # int64 slots of stack scratch before a quote needs the heap

cdef struct Work:
    int64_t* pairs          # coupon * 256 + line, then unique coupons
    int64_t* cand_start     # each candidate's eligible lines: cand_lines[start:end]
    int64_t* cand_end       # (storewide candidates all share one range: every eligible line)
    int64_t* cand_lines
    int64_t* usable         # candidate slots
    int64_t* saving         # each usable candidate's saving alone
    int64_t* alone          # the same by candidate slot
    int64_t* amounts
    int64_t* shares
    int64_t* scratch
    int64_t* group_id
    int64_t* group_start
    int64_t* group_size
    int64_t* members        # usable slots by group
    int64_t* exclusive
    int64_t* leaf           # a combination, in application order
    int64_t* order          # groups in search order
    int64_t* suffix         # best saving still possible from the groups at and after a position
    int64_t* chosen
    int64_t* ranks
    int64_t* best_chosen
    int64_t* best_ranks
    int64_t* sort_temp


cdef inline void _new_candidate(Result* out, Work* w, int64_t* n_cand, int64_t c, int64_t start) noexcept nogil:
    out.cand_coupon[n_cand[0]] = c
    out.cand_status[n_cand[0]] = OK
    out.cand_amount[n_cand[0]] = 0
    out.cand_hint[n_cand[0]] = 0
    w.cand_start[n_cand[0]] = start
    w.cand_end[n_cand[0]] = start
    n_cand[0] += 1


cdef int64_t _combination_saving(const Table* t, const Request* r, Result* out, Work* w,
                                 const int64_t* slots, int64_t n_chosen, int64_t needed) noexcept nogil:
    """What the candidate slots save applied in this order; -1 if one saves nothing, or
    as soon as the combination cannot reach `needed`: no coupon saves more in a
    combination than alone, so the savings still to come are at most their sum alone."""
    cdef int64_t k, j, slot, m, saved, total = 0, rest = 0
    for k in range(n_chosen):
        rest += w.alone[slots[k]]
    for k in range(r.n):
        w.amounts[k] = out.line_amount[k]
    for k in range(n_chosen):
        slot = slots[k]
        m = w.cand_end[slot] - w.cand_start[slot]
        saved = _discount(t, out.cand_coupon[slot], w.cand_lines + w.cand_start[slot], m, out.line_unit, r.qty,
                          w.amounts, w.shares, w.scratch, k + 1 < n_chosen)
        if saved == 0:
            return -1
        total += saved
        rest -= w.alone[slot]
        if total + rest < needed:
            return -1
        if k + 1 < n_chosen:
            for j in range(m):
                w.amounts[w.cand_lines[w.cand_start[slot] + j]] -= w.shares[j]
    return total


cdef void _sort_slots(const Table* t, const Result* out, int64_t* slots, int64_t n, int64_t* temp) noexcept nogil:
    """Candidate slots into application order: by coupon kind, then table order (slots are
    in table order already, so the slot itself breaks ties)."""
    cdef int64_t k
    for k in range(n):
        slots[k] = (_coupon(t, out.cand_coupon[slots[k]], C_KIND) << 32) | slots[k]
    _sort_values(slots, n, temp)
    for k in range(n):
        slots[k] = slots[k] & ((<int64_t>1 << 32) - 1)


cdef void _sort_values(int64_t* values, int64_t n, int64_t* temp, int64_t sorted_bits=0) noexcept nogil:
    """Sort non-negative values ascending: insertion sort when short (a combination's
    coupons), else an LSD radix sort by bytes over only the bytes the largest value uses
    (`temp` holds n values). Values already in order by their low `sorted_bits` bits
    need no pass over those: each pass is stable."""
    cdef int64_t k, j, x, largest = 0, shift = sorted_bits, total
    cdef int64_t counts[256]
    cdef int64_t* source = values
    cdef int64_t* target = temp
    cdef int64_t* swap
    if n <= 64:
        for k in range(1, n):
            x = values[k]
            j = k - 1
            while j >= 0 and values[j] > x:
                values[j + 1] = values[j]
                j -= 1
            values[j + 1] = x
        return
    for k in range(n):
        if values[k] > largest:
            largest = values[k]
    while (largest >> shift) > 0:
        for j in range(256):
            counts[j] = 0
        for k in range(n):
            counts[(source[k] >> shift) & 255] += 1
        total = 0
        for j in range(256):
            x = counts[j]
            counts[j] = total
            total += x
        for k in range(n):
            j = (source[k] >> shift) & 255
            target[counts[j]] = source[k]
            counts[j] += 1
        swap = source
        source = target
        target = swap
        shift += 8
    if source != values:
        memcpy(values, source, n * sizeof(int64_t))


cdef bint _better(int64_t saving, const int64_t* ranks, int64_t n, int64_t best_saving,
                  const int64_t* best_ranks, int64_t best_n) noexcept nogil:
    cdef int64_t k
    if saving != best_saving:
        return saving > best_saving
    if n != best_n:
        return n < best_n
    for k in range(n):
        if ranks[k] != best_ranks[k]:
            return ranks[k] < best_ranks[k]
    return False


cdef struct Search:
    const Table* t
    const Request* r
    Result* out
    Work* w
    int64_t n_groups
    int64_t n_chosen
    int64_t best_saving
    int64_t best_n
    int64_t steps
    bint exact


cdef inline bint _out_of_budget(Search* s) noexcept nogil:
    if s.steps >= SEARCH_BUDGET:
        s.exact = False
    return not s.exact


cdef void _leaf(Search* s) noexcept nogil:
    """Evaluate the chosen coupons as one combination; keep it if it beats the best."""
    cdef Work* w = s.w
    cdef int64_t k, saved
    memcpy(w.leaf, w.chosen, s.n_chosen * sizeof(int64_t))
    _sort_slots(s.t, s.out, w.leaf, s.n_chosen, w.sort_temp)
    s.out.combinations += 1
    for k in range(s.n_chosen):
        s.steps += w.cand_end[w.leaf[k]] - w.cand_start[w.leaf[k]]
    if s.n_chosen == 1:  # one coupon saves what it saves alone
        saved = w.alone[w.leaf[0]]
    else:
        saved = _combination_saving(s.t, s.r, s.out, w, w.leaf, s.n_chosen, s.best_saving)
    if saved <= 0 or saved < s.best_saving or (saved == s.best_saving and s.n_chosen > s.best_n):
        return  # worse on saving or on count: the ranks need not be looked at
    for k in range(s.n_chosen):
        w.ranks[k] = _coupon(s.t, s.out.cand_coupon[w.leaf[k]], C_RANK)
    _sort_values(w.ranks, s.n_chosen, w.sort_temp)
    if _better(saved, w.ranks, s.n_chosen, s.best_saving, w.best_ranks, s.best_n):
        s.best_saving = saved
        s.best_n = s.n_chosen
        memcpy(w.best_chosen, w.leaf, s.n_chosen * sizeof(int64_t))
        memcpy(w.best_ranks, w.ranks, s.n_chosen * sizeof(int64_t))


cdef void _order_groups(Search* s) noexcept nogil:
    """Most promising first: each group's coupons by standalone saving, the groups by their
    best; `suffix` then bounds what the groups still to decide can add."""
    cdef Work* w = s.w
    cdef int64_t g, j, i, x, start
    for g in range(s.n_groups):
        start = w.group_start[g]
        for j in range(1, w.group_size[g]):
            x = w.members[start + j]
            i = j - 1
            while i >= 0 and w.saving[w.members[start + i]] < w.saving[x]:
                w.members[start + i + 1] = w.members[start + i]
                i -= 1
            w.members[start + i + 1] = x
        w.order[g] = g
    for j in range(1, s.n_groups):
        x = w.order[j]
        i = j - 1
        while i >= 0 and _group_best(w, w.order[i]) < _group_best(w, x):
            w.order[i + 1] = w.order[i]
            i -= 1
        w.order[i + 1] = x
    w.suffix[s.n_groups] = 0
    for j in range(s.n_groups - 1, -1, -1):
        w.suffix[j] = w.suffix[j + 1] + _group_best(w, w.order[j])


cdef inline int64_t _group_best(const Work* w, int64_t g) noexcept nogil:
    return w.saving[w.members[w.group_start[g]]] if w.group_size[g] else 0


cdef void _explore(Search* s, int64_t position, int64_t bound) noexcept nogil:
    """Branch and bound over the groups. A coupon never saves more inside a combination than
    alone (every later coupon sees smaller amounts), so a branch whose standalone savings
    cannot reach the best saving found is cut. Ties are explored, so the result is exactly
    the reference's exhaustive choice."""
    cdef Work* w = s.w
    cdef int64_t g, j, k
    if _out_of_budget(s):
        return
    if position == s.n_groups:
        if s.n_chosen:
            _leaf(s)
        return
    g = w.order[position]
    for j in range(w.group_size[g]):
        k = w.members[w.group_start[g] + j]
        if bound + w.saving[k] + w.suffix[position + 1] < s.best_saving:
            break
        w.chosen[s.n_chosen] = w.usable[k]
        s.n_chosen += 1
        _explore(s, position + 1, bound + w.saving[k])
        s.n_chosen -= 1
    if bound + w.suffix[position + 1] >= s.best_saving:
        _explore(s, position + 1, bound)


cdef int _run(const Table* t, const Request* r, Result* out) noexcept nogil:
    """Decide the quote; 0 on success, -1 when memory ran out."""
    cdef int64_t n = r.n, i, j, k, g, row, price, tp, taken, limit, c
    cdef int64_t tier = r.tier, room = r.room
    cdef bint live = room >= 0 and t.room_start[room] <= r.now and r.now < t.room_end[room]
    cdef Work w
    cdef int64_t n_known = 0, n_ok = 0, n_wide
    cdef int64_t n_pairs = 0, cap_pairs = 0, n_cand = 0, n_usable = 0, n_groups = 0, n_exclusive = 0
    cdef int64_t m, spent, saved, best_n = 0, cap_cand, cap_lines, work_size, used_lines
    cdef int64_t small[SMALL_WORK]
    cdef int64_t* work
    cdef Search search
    cdef int64_t status, hint, used, left, now, sessions, points, debt
    cdef const value_t* red_tiers = t.redemption_tiers
    cdef const value_t* red_room = t.redemption_room
    cdef const value_t* red_from = t.redemption_from
    cdef const value_t* red_to = t.redemption_to
    cdef const value_t* red_sessions = t.redemption_sessions
    cdef const value_t* red_limit = t.redemption_member_limit
    cdef const value_t* red_stock = t.redemption_stock
    cdef const value_t* red_points = t.redemption_points
    cdef int64_t* red_status = out.red_status
    cdef int64_t* red_hint = out.red_hint
    out.live = live

    # lines and price layers (reference._price_lines)
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

    # candidate coupons: the (coupon, line) pairs the sku and category indexes give, sorted
    # and unique, merged in table order with the storewide coupons (which touch every line)
    for i in range(n):
        row = r.rows[i]
        if row >= 0:
            n_known += 1
            cap_pairs += (_product(t, row, P_SKU_COUPONS_END) - _product(t, row, P_SKU_COUPONS_START)
                          + t.category_coupon_ptr[_product(t, row, P_CATEGORY) + 1]
                          - t.category_coupon_ptr[_product(t, row, P_CATEGORY)])
        if out.line_status[i] == OK:
            n_ok += 1
    n_wide = t.n_storewide if n_known else 0
    # one block for the result's coupon arrays (kept by the Quote), one for the work, on
    # the stack when the cart is small enough
    cap_cand = cap_pairs + n_wide
    out.arena = <int64_t*>malloc((5 * cap_cand + 8) * sizeof(int64_t))
    work_size = 3 * cap_pairs + 20 * cap_cand + n_ok + 5 * n + 17
    if work_size <= SMALL_WORK:
        work = &small[0]
    else:
        work = <int64_t*>malloc(work_size * sizeof(int64_t))
    if out.arena == NULL or work == NULL:
        return -1
    w.pairs = work
    w.cand_start = w.pairs + 2 * cap_pairs
    w.cand_end = w.cand_start + cap_cand + 1
    w.cand_lines = w.cand_end + cap_cand + 1
    w.usable = w.cand_lines + cap_pairs + n_ok + 1
    out.cand_coupon = out.arena
    out.applied = out.arena + 4 * (cap_cand + 1)
    out.cand_status = out.cand_coupon + (cap_cand + 1)
    out.cand_amount = out.cand_status + (cap_cand + 1)
    out.cand_hint = out.cand_amount + (cap_cand + 1)
    for i in range(n):
        row = r.rows[i]
        if row < 0:
            continue
        for k in range(_product(t, row, P_SKU_COUPONS_START), _product(t, row, P_SKU_COUPONS_END)):
            w.pairs[n_pairs] = t.sku_coupon[k] * 256 + i
            n_pairs += 1
        g = _product(t, row, P_CATEGORY)
        for k in range(t.category_coupon_ptr[g], t.category_coupon_ptr[g + 1]):
            w.pairs[n_pairs] = t.category_coupon[k] * 256 + i
            n_pairs += 1
    _sort_values(w.pairs, n_pairs, w.pairs + n_pairs, 8)  # made line by line: sort on the coupon
    used_lines = 0
    for i in range(n):  # the range every storewide candidate shares
        if out.line_status[i] == OK:
            w.cand_lines[used_lines] = i
            used_lines += 1
    k = 0
    j = 0
    while k < n_pairs or j < n_wide:
        if j < n_wide and (k >= n_pairs or t.storewide_coupon[j] < w.pairs[k] // 256):
            _new_candidate(out, &w, &n_cand, t.storewide_coupon[j], 0)
            w.cand_end[n_cand - 1] = n_ok
            j += 1
            continue
        if k > 0 and w.pairs[k] == w.pairs[k - 1]:
            k += 1
            continue
        c = w.pairs[k] // 256
        i = w.pairs[k] % 256
        k += 1
        if n_cand == 0 or out.cand_coupon[n_cand - 1] != c:
            _new_candidate(out, &w, &n_cand, c, used_lines)
        if out.line_status[i] == OK:
            w.cand_lines[used_lines] = i
            used_lines += 1
            w.cand_end[n_cand - 1] = used_lines
    out.n_candidates = n_cand

    # working memory for the checks and the search
    w.saving = w.usable + n_cand
    w.alone = w.saving + n_cand
    w.group_id = w.alone + n_cand
    w.group_start = w.group_id + n_cand
    w.group_size = w.group_start + n_cand
    w.members = w.group_size + n_cand
    w.exclusive = w.members + n_cand
    w.leaf = w.exclusive + n_cand
    w.order = w.leaf + n_cand
    w.suffix = w.order + n_cand
    w.chosen = w.suffix + n_cand + 1
    w.ranks = w.chosen + n_cand
    w.best_chosen = w.ranks + n_cand
    w.best_ranks = w.best_chosen + n_cand
    w.sort_temp = w.best_ranks + n_cand + 1
    w.amounts = w.sort_temp + n_cand
    w.shares = w.amounts + n + 1
    w.scratch = w.shares + n + 1

    # the checks, in the reference's order (reference._choose_coupons)
    for k in range(n_cand):
        c = out.cand_coupon[k]
        m = w.cand_end[k] - w.cand_start[k]
        status = OK
        hint = 0
        if not (_coupon(t, c, C_TIERS) >> tier) & 1:
            hint = _lowest_tier_above(_coupon(t, c, C_TIERS), tier, t.n_tiers)
            status = TIER_TOO_LOW if hint else TIER_NOT_ELIGIBLE
        elif _coupon(t, c, C_ROOM) >= 0 and _coupon(t, c, C_ROOM) != room:
            status = NOT_IN_ROOM
        elif not _window_open(_coupon(t, c, C_FROM), _coupon(t, c, C_TO), r.now):
            status = OUTSIDE_WINDOW
            hint = _coupon(t, c, C_FROM) - r.now if r.now < _coupon(t, c, C_FROM) else 0
        elif _coupon(t, c, C_MEMBER_LIMIT) >= 0 and _lookup(r.coupon_uses, r.n_coupon_uses, c, 0) >= _coupon(t, c, C_MEMBER_LIMIT):
            status = MEMBER_LIMIT_REACHED
        elif _coupon(t, c, C_STOCK) >= 0 and _lookup(r.coupon_stock, r.n_coupon_stock, c, _coupon(t, c, C_STOCK)) <= 0:
            status = OUT_OF_STOCK
        elif m == 0:
            status = NOT_IN_SCOPE
        else:
            spent = 0
            for j in range(w.cand_start[k], w.cand_end[k]):
                spent += out.line_amount[w.cand_lines[j]]
            if _coupon(t, c, C_KIND) == KIND_THRESHOLD_OFF and spent < _coupon(t, c, C_THRESHOLD):
                status = THRESHOLD_NOT_MET
                hint = _coupon(t, c, C_THRESHOLD) - spent
            else:
                saved = _discount(t, c, w.cand_lines + w.cand_start[k], m, out.line_unit, r.qty, out.line_amount,
                                  w.shares, w.scratch, False)
                if saved == 0:
                    status = NO_SAVING
                else:
                    w.usable[n_usable] = k
                    w.saving[n_usable] = saved
                    w.alone[k] = saved
                    n_usable += 1
        out.cand_status[k] = status
        out.cand_hint[k] = hint

    # stack groups in order of first appearance; exclusive coupons stand alone
    for k in range(n_usable):
        c = out.cand_coupon[w.usable[k]]
        if _coupon(t, c, C_EXCLUSIVE):
            w.exclusive[n_exclusive] = k
            n_exclusive += 1
            continue
        for g in range(n_groups):
            if w.group_id[g] == _coupon(t, c, C_GROUP):
                break
        else:
            g = n_groups
            w.group_id[g] = _coupon(t, c, C_GROUP)
            w.group_size[g] = 0
            n_groups += 1
        w.group_size[g] += 1
    # members laid out group by group, each in usable (table) order
    j = 0
    for g in range(n_groups):
        w.group_start[g] = j
        j += w.group_size[g]
        w.group_size[g] = 0
    for k in range(n_usable):
        c = out.cand_coupon[w.usable[k]]
        if _coupon(t, c, C_EXCLUSIVE):
            continue
        for g in range(n_groups):
            if w.group_id[g] == _coupon(t, c, C_GROUP):
                break
        w.members[w.group_start[g] + w.group_size[g]] = k
        w.group_size[g] += 1

    # the search (see _explore): every exclusive coupon alone, then at most one per group
    search.t = t
    search.r = r
    search.out = out
    search.w = &w
    search.n_groups = n_groups
    search.n_chosen = 0
    search.best_saving = 0
    search.best_n = 0
    search.steps = 0
    search.exact = True
    out.combinations = 0
    for j in range(n_exclusive):
        if _out_of_budget(&search):
            break
        w.chosen[0] = w.usable[w.exclusive[j]]
        search.n_chosen = 1
        _leaf(&search)
    search.n_chosen = 0
    _order_groups(&search)
    _explore(&search, 0, 0)
    best_n = search.best_n
    out.exact = search.exact

    for k in range(n_usable):
        out.cand_status[w.usable[k]] = LOST_TO_BETTER_COMBINATION

    # apply the winner, in application order
    out.n_applied = best_n
    out.n_shares = 0
    cap_lines = 1  # the shares need at most each applied coupon's eligible lines
    for k in range(best_n):
        cap_lines += w.cand_end[w.best_chosen[k]] - w.cand_start[w.best_chosen[k]]
    out.shares = <int64_t*>malloc(3 * cap_lines * sizeof(int64_t))
    if out.shares == NULL:
        if work != &small[0]:
            free(work)
        return -1
    out.share_line = out.shares
    out.share_coupon = out.shares + cap_lines
    out.share_amount = out.share_coupon + cap_lines
    for k in range(n):
        w.amounts[k] = out.line_amount[k]
    for k in range(best_n):
        j = w.best_chosen[k]
        out.applied[k] = j
        out.cand_status[j] = OK
        m = w.cand_end[j] - w.cand_start[j]
        saved = _discount(t, out.cand_coupon[j], w.cand_lines + w.cand_start[j], m, out.line_unit, r.qty, w.amounts,
                          w.shares, w.scratch, True)
        out.cand_amount[j] = saved
        for g in range(m):
            if w.shares[g]:
                i = w.cand_lines[w.cand_start[j] + g]
                w.amounts[i] -= w.shares[g]
                out.line_discount[i] += w.shares[g]
                out.line_final[i] -= w.shares[g]
                out.share_line[out.n_shares] = i
                out.share_coupon[out.n_shares] = out.cand_coupon[j]
                out.share_amount[out.n_shares] = w.shares[g]
                out.n_shares += 1
    if work != &small[0]:
        free(work)

    # totals and points (reference._points)
    out.subtotal = 0
    out.discount = 0
    for i in range(n):
        out.subtotal += out.line_amount[i]
        out.discount += out.line_discount[i]
    out.payable = out.subtotal - out.discount
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
        for i in range(n):
            if out.line_status[i] == OK:
                out.p_room_bonus = t.room_bonus[room] if live else 0
                out.p_order_bonus = t.order_bonus
                break
        out.p_total = out.p_multiplied + out.p_room_bonus + out.p_order_bonus

    # redemptions (reference._redemption); the columns are read through local pointers,
    # which the stores to the result cannot alias
    now = r.now
    sessions = r.sessions
    points = r.points
    debt = r.points_debt
    for k in range(t.n_redemptions):
        status = OK
        hint = 0
        if not (red_tiers[k] >> tier) & 1:
            hint = _lowest_tier_above(red_tiers[k], tier, t.n_tiers)
            status = TIER_TOO_LOW if hint else TIER_NOT_ELIGIBLE
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
    return 0


# -- Python face --------------------------------------------------------------------------

@cython.no_gc
cdef class Quote:
    """One decided quote, held as C arrays; `to_dict()` gives the public form."""

    cdef Result r
    cdef int64_t n
    cdef int64_t n_redemptions
    cdef int64_t* line_block
    cdef int64_t* rows
    cdef int64_t* qty
    cdef readonly object table
    cdef list unknown_skus   # (line, sku) of lines whose sku the table lacks
    cdef int64_t tier
    cdef int64_t room
    cdef readonly int64_t run_ns  # nanoseconds the decision took, without the GIL

    def __dealloc__(self):
        free(self.line_block)
        free(self.r.arena)
        free(self.r.shares)

    @property
    def payable(self) -> int:
        return self.r.payable

    @property
    def subtotal(self) -> int:
        return self.r.subtotal

    @property
    def discount(self) -> int:
        return self.r.discount

    @property
    def points(self) -> int:
        return self.r.p_total

    def applied_coupons(self) -> list:
        """The applied coupons' positions in the table, in application order."""
        cdef int64_t k
        return [self.r.cand_coupon[self.r.applied[k]] for k in range(self.r.n_applied)]

    def available_redemptions(self) -> list:
        """The positions of the catalogue items the member may redeem now."""
        cdef int64_t k
        return [k for k in range(self.n_redemptions) if self.r.red_status[k] == OK]

    @property
    def combinations(self) -> int:
        """How many coupon combinations the search evaluated (the rest were cut)."""
        return self.r.combinations

    def to_raw(self):
        """The same RawQuote the reference evaluator returns."""
        cdef int64_t i, k, row
        products = self.table.model.products
        unknown = dict(self.unknown_skus) if self.unknown_skus else {}
        raw_lines = []
        for i in range(self.n):
            row = self.rows[i]
            sku = products[row].sku if row >= 0 else unknown[i]
            raw_lines.append(RawLine(sku=sku, qty=self.qty[i], status=self.r.line_status[i], hint=self.r.line_hint[i],
                                     unit_price=self.r.line_unit[i], layer=self.r.line_layer[i],
                                     amount=self.r.line_amount[i], discount=self.r.line_discount[i],
                                     final=self.r.line_final[i], shares=[]))
        for k in range(self.r.n_shares):
            raw_lines[self.r.share_line[k]].shares.append((self.r.share_coupon[k], self.r.share_amount[k]))
        coupons = [RawCoupon(index=self.r.cand_coupon[k], status=self.r.cand_status[k],
                             amount=self.r.cand_amount[k], hint=self.r.cand_hint[k])
                   for k in range(self.r.n_candidates)]
        applied = [self.r.cand_coupon[self.r.applied[k]] for k in range(self.r.n_applied)]
        points = _Summary(self).points
        redemptions = [(self.r.red_status[k], self.r.red_hint[k]) for k in range(self.n_redemptions)]
        return RawQuote(tier_rank=self.tier, room_index=self.room, live=bool(self.r.live), lines=raw_lines,
                        coupons=coupons, applied=applied, combinations=self.r.combinations,
                        search_exact=bool(self.r.exact), subtotal=self.r.subtotal, discount=self.r.discount,
                        payable=self.r.payable, points=points, redemptions=redemptions)

    def to_dict(self) -> dict:
        """The public quote (engine.quote's builders, fed from the C arrays directly)."""
        cdef int64_t i, k, row, c
        parts = parts_of(self.table)
        products = parts.model.products
        unknown = dict(self.unknown_skus) if self.unknown_skus else None
        shares = [[] for _ in range(self.n)] if self.r.n_shares else None
        for k in range(self.r.n_shares):
            shares[self.r.share_line[k]].append((self.r.share_coupon[k], self.r.share_amount[k]))
        lines = []
        for i in range(self.n):
            row = self.rows[i]
            lines.append(line_dict(parts, products[row].sku if row >= 0 else unknown[i], self.qty[i],
                                   self.r.line_status[i], self.r.line_hint[i], self.r.line_unit[i],
                                   self.r.line_layer[i], self.r.line_amount[i], self.r.line_discount[i],
                                   self.r.line_final[i], shares[i] if shares is not None else ()))
        applied = []
        for k in range(self.r.n_applied):
            c = self.r.applied[k]
            applied.append(applied_dict(parts, self.r.cand_coupon[c], self.r.cand_amount[c]))
        not_applied = [not_applied_dict(parts, self.r.cand_coupon[k], self.r.cand_status[k], self.r.cand_hint[k])
                       for k in range(self.r.n_candidates) if self.r.cand_status[k] != OK]
        redemptions = [redemption_dict(parts, k, self.r.red_status[k], self.r.red_hint[k])
                       for k in range(self.n_redemptions)]
        return assemble(parts, _Summary(self), lines, applied, not_applied, redemptions)


    def to_json(self, bint inner=False) -> bytes:
        """The public quote as JSON bytes, written straight from the C arrays and the
        table's pre-encoded pieces; equal to orjson.dumps(to_dict()) once parsed (tested).
        With `inner`, the members of the object without its braces, to splice into a
        larger response."""
        cdef _Writer w = _Writer()
        cdef int64_t i, k, c, row, j
        jp = json_parts_of(self.table)
        skus, coupon_ids, heads = jp.skus, jp.coupon_ids, jp.coupon_heads
        reasons, layers = jp.reasons, jp.layers
        if not inner:
            w.text("{")
        w.text('"tier":')
        w.bytes(jp.tiers[self.tier])
        if self.room >= 0:
            w.text(',"room":{"id":')
            w.bytes(jp.rooms[self.room])
            w.text(',"live":true}' if self.r.live else ',"live":false}')
        else:
            w.text(',"room":null')
        w.text(',"lines":[')
        for i in range(self.n):
            row = self.rows[i]
            w.text('{"sku":' if i == 0 else ',{"sku":')
            if row >= 0:
                w.bytes(skus[row])
            else:
                w.bytes(jp.dumps(dict(self.unknown_skus)[i]))
            w.text(',"qty":')
            w.integer(self.qty[i])
            if self.r.line_status[i] == OK:
                w.text(',"eligible":true,"reason":null,"hint":null,"unit_price":')
                w.integer(self.r.line_unit[i])
                w.text(',"price_layer":')
                w.bytes(layers[self.r.line_layer[i]])
            else:
                w.text(',"eligible":false,"reason":')
                w.bytes(reasons[self.r.line_status[i]])
                w.text(',"hint":')
                w.bytes(_hint(jp, 0, self.rows[i], self.r.line_status[i], self.r.line_hint[i], self, i))
                w.text(',"unit_price":null,"price_layer":null')
            w.text(',"amount":')
            w.integer(self.r.line_amount[i])
            w.text(',"discount":')
            w.integer(self.r.line_discount[i])
            w.text(',"final":')
            w.integer(self.r.line_final[i])
            w.text(',"coupons":[')
            j = 0
            for k in range(self.r.n_shares):
                if self.r.share_line[k] == i:
                    w.text('{"id":' if j == 0 else ',{"id":')
                    w.bytes(coupon_ids[self.r.share_coupon[k]])
                    w.text(',"amount":')
                    w.integer(self.r.share_amount[k])
                    w.text("}")
                    j += 1
            w.text("]}")
        w.text('],"coupons_applied":[')
        for k in range(self.r.n_applied):
            c = self.r.applied[k]
            if k:
                w.text(",")
            w.bytes(heads[self.r.cand_coupon[c]])
            w.text(',"amount":')
            w.integer(self.r.cand_amount[c])
            w.text("}")
        w.text('],"coupons_not_applied":[')
        j = 0
        for k in range(self.r.n_candidates):
            if self.r.cand_status[k] == OK:
                continue
            if j:
                w.text(",")
            j += 1
            c = self.r.cand_coupon[k]
            w.bytes(heads[c])
            w.text(',"reason":')
            w.bytes(reasons[self.r.cand_status[k]])
            w.text(',"hint":')
            w.bytes(_hint(jp, 1, c, self.r.cand_status[k], self.r.cand_hint[k], self, -1))
            w.text("}")
        w.text('],"coupon_search":{"combinations":')
        w.integer(self.r.combinations)
        w.text(',"exact":true}' if self.r.exact else ',"exact":false}')
        w.text(',"totals":{"subtotal":')
        w.integer(self.r.subtotal)
        w.text(',"discount":')
        w.integer(self.r.discount)
        w.text(',"payable":')
        w.integer(self.r.payable)
        w.text('},"points":{"total":')
        w.integer(self.r.p_total)
        w.text(',"base":')
        w.integer(self.r.p_base)
        w.text(',"per_yuan":')
        w.integer(self.table.per_yuan)
        w.text(',"multipliers":[')
        j = 0
        if self.r.p_tier:
            w.text('{"source":"tier","id":')
            w.bytes(jp.tiers[self.tier])
            w.text(',"percent":')
            w.integer(self.r.p_tier)
            w.text("}")
            j = 1
        if self.r.p_room:
            w.text(',{"source":"room","id":' if j else '{"source":"room","id":')
            w.bytes(jp.rooms[self.room])
            w.text(',"percent":')
            w.integer(self.r.p_room)
            w.text("}")
            j = 1
        if self.r.p_birthday:
            w.text(',{"source":"birthday_month","id":null,"percent":' if j else
                   '{"source":"birthday_month","id":null,"percent":')
            w.integer(self.r.p_birthday)
            w.text("}")
        w.text('],"after_multipliers":')
        w.integer(self.r.p_multiplied)
        w.text(',"bonuses":[')
        if self.r.p_room_bonus:
            w.text('{"source":"room_order","id":')
            w.bytes(jp.rooms[self.room])
            w.text(',"points":')
            w.integer(self.r.p_room_bonus)
            w.text("}")
        if self.r.p_order_bonus:
            w.text(',{"source":"order","id":null,"points":' if self.r.p_room_bonus else
                   '{"source":"order","id":null,"points":')
            w.integer(self.r.p_order_bonus)
            w.text("}")
        w.text('],"note":null}' if self.tier else '],"note":"visitors earn no points; join to earn"}')
        w.text(',"redemptions":[')
        red_heads = jp.redemption_heads
        for k in range(self.n_redemptions):
            if k:
                w.text(",")
            w.bytes(red_heads[k])
            if self.r.red_status[k] == OK:
                w.text(',"available":true,"reason":null,"hint":null}')
            else:
                w.text(',"available":false,"reason":')
                w.bytes(reasons[self.r.red_status[k]])
                w.text(',"hint":')
                w.bytes(_hint(jp, 2, k, self.r.red_status[k], self.r.red_hint[k], self, -1))
                w.text("}")
        w.text("]" if inner else "]}")
        return w.result()


cdef object _hint(object jp, int kind, int64_t item, int64_t status, int64_t value, Quote q, int64_t line):
    """A hint's JSON from the table's cache; built (and cached) by engine.quote on a miss."""
    piece = jp._hints.get((kind, item, status, value))
    if piece is not None:
        return piece
    if kind == 0:
        sku = q.table.model.products[item].sku if item >= 0 else dict(q.unknown_skus)[line]
        return jp.line_hint(sku, status, value)
    if kind == 1:
        return jp.coupon_hint(item, status, value)
    return jp.redemption_hint(item, status, value)


@cython.final
cdef class _Writer:
    """A growing byte buffer for to_json: pieces are copied in, numbers printed in place."""

    cdef char* data
    cdef Py_ssize_t size
    cdef Py_ssize_t cap

    def __cinit__(self):
        self.cap = 4096
        self.size = 0
        self.data = <char*>malloc(self.cap)
        if self.data == NULL:
            raise MemoryError()

    def __dealloc__(self):
        free(self.data)

    cdef inline void reserve(self, Py_ssize_t extra) except *:
        cdef char* grown
        if self.size + extra <= self.cap:
            return
        while self.size + extra > self.cap:
            self.cap *= 2
        grown = <char*>realloc(self.data, self.cap)
        if grown == NULL:
            raise MemoryError()
        self.data = grown

    cdef inline void put(self, const char* piece, Py_ssize_t length) except *:
        self.reserve(length)
        memcpy(self.data + self.size, piece, length)
        self.size += length

    cdef inline void text(self, const char* piece) except *:
        self.put(piece, strlen(piece))

    cdef inline void bytes(self, object piece) except *:
        self.put(PyBytes_AS_STRING(piece), PyBytes_GET_SIZE(piece))

    cdef inline void integer(self, int64_t value) except *:
        self.reserve(24)
        self.size += snprintf(self.data + self.size, 24, "%lld", <long long>value)

    cdef object result(self):
        return PyBytes_FromStringAndSize(self.data, self.size)


class _Summary:
    """The quote-wide figures `engine.quote.assemble` reads, without building a RawQuote."""

    __slots__ = ("tier_rank", "room_index", "live", "combinations", "search_exact", "subtotal", "discount",
                 "payable", "points")

    def __init__(self, Quote q):
        self.tier_rank = q.tier
        self.room_index = q.room
        self.live = bool(q.r.live)
        self.combinations = q.r.combinations
        self.search_exact = bool(q.r.exact)
        self.subtotal = q.r.subtotal
        self.discount = q.r.discount
        self.payable = q.r.payable
        self.points = RawPoints(base=q.r.p_base, tier_percent=q.r.p_tier, room_percent=q.r.p_room,
                                birthday_percent=q.r.p_birthday, multiplied=q.r.p_multiplied,
                                room_bonus=q.r.p_room_bonus, order_bonus=q.r.p_order_bonus, total=q.r.p_total)


cdef int64_t* _pairs(object source, dict index, int64_t* count) except? NULL:
    """A {id: number} mapping as (table index, number) pairs; ids the table lacks are skipped."""
    cdef int64_t* pairs
    cdef int64_t k = 0
    count[0] = 0
    if not source:
        return NULL
    pairs = <int64_t*>malloc(2 * len(source) * sizeof(int64_t))
    if pairs == NULL:
        raise MemoryError()
    for key, value in source.items():
        position = index.get(key)
        if position is not None:
            pairs[2 * k] = position
            pairs[2 * k + 1] = value
            k += 1
    count[0] = k
    return pairs


def quote(table, member, room, now, lines, fulfillment="delivery", stock=None):
    """Decide one cart; the same contract as engine.reference.quote, returning a Quote."""
    cdef TableView view = _view(table)
    cdef Request req
    cdef Quote q = Quote.__new__(Quote)
    cdef int64_t n, i, row, rc, tier_rank, room_index, count, blocks = 7
    cdef int64_t* buffers[4]
    cdef timespec started, ended
    cdef object sku_bought

    tier = member.tier
    tier_rank = view.tier_rank.get(tier, -1)
    if tier_rank < 0:
        raise QuoteInputError("member.tier", f"unknown tier {tier!r}")
    cdef int64_t birthday = member.birthday_month
    if not 0 <= birthday <= 12:
        raise QuoteInputError("member.birthday_month", "must be 1 to 12, or 0 when unknown")
    cdef int64_t points = member.points
    if not 0 <= points <= MAX_POINTS_C:
        raise QuoteInputError("member.points", f"must be from 0 to {MAX_POINTS}")
    cdef int64_t sessions = member.sessions_watched
    if not 0 <= sessions <= MAX_POINTS_C:
        raise QuoteInputError("member.sessions_watched", f"must be from 0 to {MAX_POINTS}")
    cdef int64_t debt = member.points_debt
    if not 0 <= debt <= MAX_POINTS_C:
        raise QuoteInputError("member.points_debt", f"must be from 0 to {MAX_POINTS}")
    if type(now) is not int or not 0 <= now <= MAX_INSTANT:
        raise QuoteInputError("now", "must be Unix seconds between 1970 and 9999")
    if room is None:
        room_index = -1
    else:
        room_index = view.room_index.get(room, -1)
        if room_index < 0:
            raise QuoteInputError("room", f"unknown room {room!r}")
    if fulfillment == "pickup":
        req.pickup = 1
    elif fulfillment == "delivery":
        req.pickup = 0
    else:
        raise QuoteInputError("fulfillment", "must be delivery or pickup")
    n = len(lines)
    if n > MAX_LINES:
        raise QuoteInputError("lines", f"at most {MAX_LINES} lines in one cart")

    q.table = table
    q.unknown_skus = None
    q.n = n
    q.tier = tier_rank
    q.room = room_index
    q.n_redemptions = view.t.n_redemptions
    # one block for the request's line arrays and the result's line arrays
    q.line_block = <int64_t*>malloc((n * (3 + blocks) + 2 * q.n_redemptions + 1) * sizeof(int64_t))
    if q.line_block == NULL:
        raise MemoryError()
    req.rows = q.rows = q.line_block
    req.qty = q.qty = req.rows + n
    req.bought = req.qty + n
    q.r.line_status = req.bought + n
    q.r.line_hint = q.r.line_status + n
    q.r.line_unit = q.r.line_hint + n
    q.r.line_layer = q.r.line_unit + n
    q.r.line_amount = q.r.line_layer + n
    q.r.line_discount = q.r.line_amount + n
    q.r.line_final = q.r.line_discount + n
    q.r.red_status = q.r.line_final + n
    q.r.red_hint = q.r.red_status + q.n_redemptions

    sku_bought = member.sku_bought
    for i in range(n):
        sku, qty = lines[i]
        if type(sku) is not str:
            raise QuoteInputError(f"lines[{i}].sku", "must be text")
        count = _whole(qty)
        if count < 1 or count > MAX_QTY_C:
            raise QuoteInputError(f"lines[{i}].qty", f"must be a whole number from 1 to {MAX_QTY}")
        row = view.sku_row.get(sku, -1)
        if row < 0:
            if q.unknown_skus is None:
                q.unknown_skus = []
            q.unknown_skus.append((i, sku))
        req.rows[i] = row
        req.qty[i] = count
        req.bought[i] = sku_bought.get(sku, 0) if (row >= 0 and _product(&view.t, row, P_LIMIT) >= 0 and sku_bought) else 0

    req.tier = tier_rank
    req.room = room_index
    req.now = now
    req.points = points
    req.points_debt = debt
    req.birthday_month = birthday
    req.sessions = sessions
    req.n = n
    buffers[0] = req.coupon_uses = _pairs(member.coupon_uses, view.coupon_index, &req.n_coupon_uses)
    buffers[1] = req.redemption_uses = NULL
    buffers[2] = req.coupon_stock = NULL
    buffers[3] = req.redemption_stock = NULL
    try:
        buffers[1] = req.redemption_uses = _pairs(member.redemption_uses, view.redemption_index,
                                                 &req.n_redemption_uses)
        if stock is not None:
            buffers[2] = req.coupon_stock = _pairs(stock.coupons, view.coupon_index, &req.n_coupon_stock)
            buffers[3] = req.redemption_stock = _pairs(stock.redemptions, view.redemption_index,
                                                       &req.n_redemption_stock)
        else:
            req.n_coupon_stock = req.n_redemption_stock = 0
        with nogil:
            clock_gettime(CLOCK_MONOTONIC, &started)
            rc = _run(&view.t, &req, &q.r)
            clock_gettime(CLOCK_MONOTONIC, &ended)
        q.run_ns = (ended.tv_sec - started.tv_sec) * 1000000000 + (ended.tv_nsec - started.tv_nsec)
    finally:
        for i in range(4):
            free(buffers[i])
    if rc != 0:
        raise MemoryError()
    return q


def c_constants() -> dict:
    """The numbers this module was compiled with, so tests can hold them against engine/."""
    return {
        "codes": {"OK": OK, "UNKNOWN_SKU": UNKNOWN_SKU, "TIER_TOO_LOW": TIER_TOO_LOW,
                  "MEMBERS_ONLY_ROOM": MEMBERS_ONLY_ROOM, "MEMBER_LIMIT_REACHED": MEMBER_LIMIT_REACHED,
                  "NOT_IN_ROOM": NOT_IN_ROOM, "OUTSIDE_WINDOW": OUTSIDE_WINDOW,
                  "THRESHOLD_NOT_MET": THRESHOLD_NOT_MET, "NOT_IN_SCOPE": NOT_IN_SCOPE, "OUT_OF_STOCK": OUT_OF_STOCK,
                  "LOST_TO_BETTER_COMBINATION": LOST_TO_BETTER_COMBINATION, "NO_SAVING": NO_SAVING,
                  "TASK_LOCKED": TASK_LOCKED, "INSUFFICIENT_POINTS": INSUFFICIENT_POINTS,
                  "TIER_NOT_ELIGIBLE": TIER_NOT_ELIGIBLE, "POINTS_DEBT": POINTS_DEBT,
                  "LAYER_NONE": LAYER_NONE, "LAYER_BASE": LAYER_BASE, "LAYER_TIER": LAYER_TIER,
                  "LAYER_LIVE": LAYER_LIVE, "LAYER_PICKUP": LAYER_PICKUP,
                  "KIND_FIXED_PRICE": KIND_FIXED_PRICE, "KIND_PERCENT_OFF": KIND_PERCENT_OFF,
                  "KIND_AMOUNT_OFF": KIND_AMOUNT_OFF, "KIND_THRESHOLD_OFF": KIND_THRESHOLD_OFF,
                  "SEARCH_BUDGET": SEARCH_BUDGET},
        "layout": {"P_PRICE": P_PRICE, "P_TIERS": P_TIERS, "P_LIMIT": P_LIMIT, "P_CATEGORY": P_CATEGORY,
                   "P_SKU_COUPONS_START": P_SKU_COUPONS_START, "P_SKU_COUPONS_END": P_SKU_COUPONS_END,
                   "P_LIVE_START": P_LIVE_START, "P_LIVE_END": P_LIVE_END,
                   "P_TIER_PRICE": P_TIER_PRICE, "C_TIERS": C_TIERS, "C_ROOM": C_ROOM, "C_FROM": C_FROM,
                   "C_TO": C_TO, "C_MEMBER_LIMIT": C_MEMBER_LIMIT, "C_STOCK": C_STOCK, "C_KIND": C_KIND,
                   "C_THRESHOLD": C_THRESHOLD, "C_PERCENT": C_PERCENT, "C_CAP": C_CAP, "C_AMOUNT": C_AMOUNT,
                   "C_PRICE": C_PRICE, "C_UNITS": C_UNITS, "C_EXCLUSIVE": C_EXCLUSIVE, "C_GROUP": C_GROUP,
                   "C_RANK": C_RANK, "COUPON_WIDTH": COUPON_WIDTH},
        "value_bytes": sizeof(value_t),
        "index_bytes": sizeof(index_t),
        "debug_checks": DEBUG_CHECKS,
    }
