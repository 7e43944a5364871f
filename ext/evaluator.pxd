# The Python face's extension types: a table's C view and one decided quote.
cimport cython
from libc.stdint cimport int64_t

from ext.structs cimport Result, Table


cdef class TableView:
    cdef Table t
    cdef object compiled     # keeps the arrays alive
    cdef dict sku_row
    cdef dict tier_rank
    cdef dict room_index
    cdef dict coupon_index
    cdef dict redemption_index
    cdef dict tag_bit
    cdef dict task_index
    # the table's JSON pieces (engine.quote.JsonParts), read at the first to_json
    cdef object jp
    cdef list skus, coupon_ids, coupon_heads, redemption_heads, reasons, layers, tiers, rooms
    cdef dict hints
    # the last hint written for each coupon, then each item: its status and value (status -1:
    # none yet) and its JSON, so a hint that repeats builds no key to look up
    cdef int64_t n_coupons
    cdef int64_t* last_hint
    cdef list last_hint_json


@cython.no_gc
cdef class Quote:
    cdef Result r
    cdef int64_t n
    cdef int64_t n_redemptions
    cdef int64_t n_tasks
    cdef int64_t* line_block
    cdef int64_t* rows
    cdef int64_t* qty
    cdef readonly object table
    cdef list unknown_skus   # (line, sku) of lines whose sku the table lacks
    cdef int64_t tier
    cdef int64_t room
    cdef int64_t tags        # the member's tag mask, for the redemptions of other rooms
    cdef int64_t* red_block  # every redemption's status and hint, once spread (ext/redemptions.pyx)
    cdef readonly int64_t run_ns  # nanoseconds the decision took, without the GIL
