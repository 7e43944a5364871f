from libc.stdint cimport int64_t

from ext.limits cimport MAX_LINES  # first, so that its C macro precedes the assertion below
from ext.structs cimport Request, Result, Table

cdef extern from *:
    """
    /* A (coupon, line) pair packs as coupon << RIGHTS_LINE_BITS | line, and an allocation's
       sort key keeps the line's position in its low RIGHTS_LINE_BITS bits: a cart's lines
       must fit in those bits. */
    #define RIGHTS_LINE_BITS 8
    #define RIGHTS_LINE_MASK ((1 << RIGHTS_LINE_BITS) - 1)
    _Static_assert(RIGHTS_MAX_LINES <= (1 << RIGHTS_LINE_BITS),
                   "MAX_LINES (engine/model.py) no longer fits the line bits of the coupon search");
    """
    enum: LINE_BITS "RIGHTS_LINE_BITS"
    enum: LINE_MASK "RIGHTS_LINE_MASK"


cdef struct Work:
    int64_t* pairs          # coupon << LINE_BITS | line, then unique coupons
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


cdef int64_t discount(const Table* t, int64_t c, const int64_t* lines, int64_t m, const int64_t* unit,
                      const int64_t* qty, const int64_t* amounts, int64_t* shares,
                      int64_t* scratch, bint need_shares) noexcept nogil
cdef void sort_values(int64_t* values, int64_t n, int64_t* temp, int64_t sorted_bits) noexcept nogil
cdef int64_t best_combination(const Table* t, const Request* r, Result* out, Work* w,
                              int64_t n_usable) noexcept nogil
