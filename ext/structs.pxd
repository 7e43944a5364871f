# The C structs every stage of the compiled evaluator reads and writes, and the inline
# accessors of the record arrays: a table's pointers, one quote's request, its result.
from libc.stdint cimport int64_t

from ext.layout cimport COUPON_WIDTH, index_t, value_t


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
    const value_t* redemption_segment_any
    const value_t* redemption_segment_all
    const value_t* redemption_segment_none
    int64_t n_roomless_redemptions
    const index_t* roomless_redemption     # the items without a room
    const index_t* room_redemption_ptr     # CSR over rooms into room_redemption
    const index_t* room_redemption         # each room's own items
    int64_t per_yuan
    int64_t birthday_multiplier
    int64_t order_bonus
    int64_t pickup_percent
    int64_t utc_offset
    int64_t has_progression     # tier progression (ext/progress.pyx)
    int64_t growth_per_yuan
    int64_t n_tasks
    const value_t* progress_target   # per tier rank: the tier progress is shown toward, 0 none
    const value_t* tier_spend        # per tier rank, NO_LIMIT: no spend criterion
    const value_t* tier_growth
    const index_t* tier_task_ptr     # CSR over tier ranks into tier_task
    const index_t* tier_task         # task indexes
    const value_t* task_target       # per task: days or events to do


cdef struct Request:
    int64_t tier
    int64_t room
    int64_t now
    int64_t pickup
    int64_t points
    int64_t points_debt
    int64_t birthday_month
    int64_t sessions
    int64_t tags        # the member's tags as the table's tag mask (a uint64 bit pattern)
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
    int64_t n_owned
    int64_t* owned          # pairs: granted coupon index, valid grants the member owns
    int64_t spend_12m
    int64_t growth
    int64_t* task_progress  # per task of the table: days or events done


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
    int64_t g_tier          # tier progression: the target tier's rank, 0 none
    int64_t g_spend         # fen left, -1 no criterion
    int64_t g_growth        # growth left, -1 no criterion
    int64_t g_n_tasks
    int64_t* g_task_left    # per task of the target tier, in order: what is left


cdef inline value_t _coupon(const Table* t, int64_t c, int64_t field) noexcept nogil:
    return t.coupon[c * COUPON_WIDTH + field]


cdef inline value_t _product(const Table* t, int64_t row, int64_t field) noexcept nogil:
    return t.product[row * t.product_width + field]
