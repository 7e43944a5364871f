"""The coupon search (reference._Search): which usable coupons, at most one per stack group
or one exclusive coupon alone, save the member most; and what a coupon saves on its
eligible lines (reference._discount, allocate), which the checks and the application
of the winner ask too."""
from libc.stdint cimport INT64_MAX, int64_t
from libc.string cimport memcpy

from ext.codes cimport KIND_FIXED_PRICE, KIND_PERCENT_OFF, KIND_THRESHOLD_OFF, SEARCH_BUDGET
from ext.helpers cimport _percent_half_up, muldivmod
from ext.layout cimport C_AMOUNT, C_CAP, C_EXCLUSIVE, C_GROUP, C_KIND, C_PERCENT, C_PRICE, C_RANK, C_THRESHOLD, C_UNITS
from ext.structs cimport Request, Result, Table, _coupon


# -- what a coupon saves ------------------------------------------------------------------

cdef int64_t discount(const Table* t, int64_t c, const int64_t* lines, int64_t m, const int64_t* unit,
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
        keys[k] = (keys[k] << LINE_BITS) | k
    if m > 16:
        _select_smallest(keys, m, left)
        for k in range(left):
            shares[keys[k] & LINE_MASK] += 1
        return
    while left > 0:  # a few lines: pick the smallest key, left times
        j = 0
        for k in range(1, m):
            if keys[k] < keys[j]:
                j = k
        shares[keys[j] & LINE_MASK] += 1
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


# -- the search ---------------------------------------------------------------------------

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
        saved = discount(t, out.cand_coupon[slot], w.cand_lines + w.cand_start[slot], m, out.line_unit, r.qty,
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
    sort_values(slots, n, temp, 0)
    for k in range(n):
        slots[k] = slots[k] & ((<int64_t>1 << 32) - 1)


cdef void sort_values(int64_t* values, int64_t n, int64_t* temp, int64_t sorted_bits) noexcept nogil:
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
    sort_values(w.ranks, s.n_chosen, w.sort_temp, 0)
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


cdef int64_t best_combination(const Table* t, const Request* r, Result* out, Work* w,
                              int64_t n_usable) noexcept nogil:
    """Search the usable candidates (w.usable[:n_usable], their savings alone in w.saving
    and w.alone); the winner's slots go to w.best_chosen in application order, and
    `out.combinations` and `out.exact` say how the search went. Returns how many won."""
    cdef int64_t k, g = 0, j, c, n_groups = 0, n_exclusive = 0
    cdef Search search
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

    # every exclusive coupon alone, then at most one per group (see _explore)
    search.t = t
    search.r = r
    search.out = out
    search.w = w
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
    out.exact = search.exact
    return search.best_n
