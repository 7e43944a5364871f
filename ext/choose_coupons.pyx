"""Choose coupons (reference._choose_coupons): the candidates the cart's lines name, each
checked in the reference's order, the best combination of the usable ones (the search is
ext/coupon_search.pyx), and the winner applied to the lines."""
from libc.stdint cimport int64_t
from libc.stdlib cimport free, malloc

from ext.codes cimport (KIND_THRESHOLD_OFF, LOST_TO_BETTER_COMBINATION, MEMBER_LIMIT_REACHED, NO_SAVING,
                        NOT_IN_ROOM, NOT_OWNED, NOT_IN_SCOPE, OK, OUT_OF_STOCK, OUTSIDE_WINDOW, SEGMENT_NOT_ELIGIBLE,
                        THRESHOLD_NOT_MET, TIER_NOT_ELIGIBLE, TIER_TOO_LOW)
from ext.coupon_search cimport LINE_BITS, LINE_MASK, Work, best_combination, discount, sort_values
from ext.helpers cimport _in_segment, _lookup, _lowest_tier_above, _window_open
from ext.layout cimport (C_FROM, C_GRANTED, C_KIND, C_MEMBER_LIMIT, C_ROOM, C_SEGMENT_ALL, C_SEGMENT_ANY, C_SEGMENT_NONE,
                         C_STOCK, C_THRESHOLD, C_TIERS, C_TO,
                         P_CATEGORY, P_SKU_COUPONS_END, P_SKU_COUPONS_START)
from ext.structs cimport Request, Result, Table, _coupon, _product

cdef enum:
    SMALL_WORK = 6144     # int64 slots of stack scratch before a quote needs the heap


cdef inline void _new_candidate(Result* out, Work* w, int64_t* n_cand, int64_t c, int64_t start) noexcept nogil:
    out.cand_coupon[n_cand[0]] = c
    out.cand_status[n_cand[0]] = OK
    out.cand_amount[n_cand[0]] = 0
    out.cand_hint[n_cand[0]] = 0
    w.cand_start[n_cand[0]] = start
    w.cand_end[n_cand[0]] = start
    n_cand[0] += 1


cdef int choose_coupons(const Table* t, const Request* r, Result* out) noexcept nogil:
    """Candidates with their status, amount and hint, the applied coupons and each line's
    shares of them; 0 on success, -1 when memory ran out. Reads the priced lines."""
    cdef int64_t n = r.n, i, j, k, g, row, c, n_known = 0, n_ok = 0, n_wide, n_pairs = 0, cap_pairs = 0
    cdef int64_t n_cand = 0, n_usable = 0, m, spent, saved, best_n, cap_cand, cap_lines, work_size, used_lines
    cdef int64_t status, hint, tier = r.tier, room = r.room
    cdef int64_t small[SMALL_WORK]
    cdef int64_t* work
    cdef Work w

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
        if work != &small[0]:
            free(work)
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
            w.pairs[n_pairs] = (<int64_t>t.sku_coupon[k] << LINE_BITS) | i
            n_pairs += 1
        g = _product(t, row, P_CATEGORY)
        for k in range(t.category_coupon_ptr[g], t.category_coupon_ptr[g + 1]):
            w.pairs[n_pairs] = (<int64_t>t.category_coupon[k] << LINE_BITS) | i
            n_pairs += 1
    sort_values(w.pairs, n_pairs, w.pairs + n_pairs, LINE_BITS)  # made line by line: sort on the coupon
    used_lines = 0
    for i in range(n):  # the range every storewide candidate shares
        if out.line_status[i] == OK:
            w.cand_lines[used_lines] = i
            used_lines += 1
    k = 0
    j = 0
    while k < n_pairs or j < n_wide:
        if j < n_wide and (k >= n_pairs or t.storewide_coupon[j] < (w.pairs[k] >> LINE_BITS)):
            _new_candidate(out, &w, &n_cand, t.storewide_coupon[j], 0)
            w.cand_end[n_cand - 1] = n_ok
            j += 1
            continue
        if k > 0 and w.pairs[k] == w.pairs[k - 1]:
            k += 1
            continue
        c = w.pairs[k] >> LINE_BITS
        i = w.pairs[k] & LINE_MASK
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

    # the checks, in the reference's order
    for k in range(n_cand):
        c = out.cand_coupon[k]
        m = w.cand_end[k] - w.cand_start[k]
        status = OK
        hint = 0
        if not (_coupon(t, c, C_TIERS) >> tier) & 1:
            hint = _lowest_tier_above(_coupon(t, c, C_TIERS), tier, t.n_tiers)
            status = TIER_TOO_LOW if hint else TIER_NOT_ELIGIBLE
        elif not _in_segment(_coupon(t, c, C_SEGMENT_ANY), _coupon(t, c, C_SEGMENT_ALL),
                             _coupon(t, c, C_SEGMENT_NONE), r.tags):
            status = SEGMENT_NOT_ELIGIBLE
            hint = r.tags
        elif _coupon(t, c, C_ROOM) >= 0 and _coupon(t, c, C_ROOM) != room:
            status = NOT_IN_ROOM
        elif not _window_open(_coupon(t, c, C_FROM), _coupon(t, c, C_TO), r.now):
            status = OUTSIDE_WINDOW
            hint = _coupon(t, c, C_FROM) - r.now if r.now < _coupon(t, c, C_FROM) else 0
        elif _coupon(t, c, C_GRANTED) >= 0 and _lookup(r.owned, r.n_owned, c, 0) <= 0:
            status = NOT_OWNED
            hint = _coupon(t, c, C_GRANTED)
        elif (_coupon(t, c, C_MEMBER_LIMIT) >= 0
              and _lookup(r.coupon_uses, r.n_coupon_uses, c, 0) >= _coupon(t, c, C_MEMBER_LIMIT)):
            status = MEMBER_LIMIT_REACHED
        elif (_coupon(t, c, C_STOCK) >= 0
              and _lookup(r.coupon_stock, r.n_coupon_stock, c, _coupon(t, c, C_STOCK)) <= 0):
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
                saved = discount(t, c, w.cand_lines + w.cand_start[k], m, out.line_unit, r.qty, out.line_amount,
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

    best_n = best_combination(t, r, out, &w, n_usable)
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
        saved = discount(t, out.cand_coupon[j], w.cand_lines + w.cand_start[j], m, out.line_unit, r.qty, w.amounts,
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
    return 0
