# cython: language_level=3
"""The compiled evaluator: the reference's semantics over the compiled numpy arrays.

Python inputs are checked and turned into C arrays once (`quote`), then `_run` decides
the whole quote without the GIL, touching only the rows the cart names, stage by stage as
engine/reference.py does: price lines (ext/price_lines.pyx), choose coupons
(ext/choose_coupons.pyx, with the search in ext/coupon_search.pyx), points (ext/points.pyx),
redemptions (ext/redemptions.pyx), tier progress (ext/progress.pyx). The result is a `Quote` holding plain C arrays;
`to_raw()` / `to_dict()` / `to_json()` build Python objects only when asked.
"""
NAME = "compiled"  # set before the engine imports below: `import engine` selects this module

from libc.stdint cimport int64_t, uint64_t
from libc.stdlib cimport free, malloc
from posix.time cimport CLOCK_MONOTONIC, clock_gettime, timespec
cimport cython

from ext.codes cimport OK, compiled_codes
from ext.coupon_search cimport LINE_BITS
from ext.choose_coupons cimport choose_coupons
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE
from ext.json_writer cimport Writer
from ext.layout cimport P_LIMIT, compiled_layout, index_t, value_t
from ext.limits cimport (MAX_GROWTH, MAX_INSTANT, MAX_LINES, MAX_POINTS, MAX_QTY, MAX_SPEND_FEN, MAX_TASK_TARGET,
                         compiled_limits)
from ext.points cimport add_totals, earn_points
from ext.price_lines cimport price_lines
from ext.progress cimport tier_progress
from ext.redemptions cimport check_redemptions, decided_items, spread
from ext.structs cimport Request, Result, Table, _product

from engine.inputs import QuoteInputError, check_progress_figures
from engine.model import Member
from engine.progression import RawProgress
from engine.quote import (RawCoupon, RawLine, RawPoints, RawQuote, applied_dict, assemble, json_parts_of,
                          line_dict, not_applied_dict, parts_of, redemption_dict)

# the positions `quote` reads a Member's fields at: refuse to load against another layout
MEMBER_FIELDS = ("tier", "points", "birthday_month", "sessions_watched", "points_debt", "tags", "coupon_uses",
                 "redemption_uses", "sku_bought", "owned_coupons", "spend_12m", "growth", "tasks")
if Member._fields != MEMBER_FIELDS:
    raise ImportError(f"engine.model.Member's fields {Member._fields} are not the ones ext/evaluator.pyx reads "
                      "by position: update MEMBER_FIELDS and the reads in quote()")


cdef extern from "Python.h":
    long long PyLong_AsLongLongAndOverflow(object value, int* overflow) except? -1

cdef extern from *:
    """
    #ifndef RIGHTS_DEBUG
    #define RIGHTS_DEBUG 0
    #endif
    """
    int RIGHTS_DEBUG

DEBUG_CHECKS = bool(RIGHTS_DEBUG)  # built with RIGHTS_DEBUG=1: bounds checks on


cdef inline int64_t _whole(object value) except? -2:
    """An exact int as a C integer without Python comparisons; -1 for anything else,
    including an int too large for 64 bits (bool is not an int here, as in the reference)."""
    cdef int overflow = 0
    cdef long long result
    if type(value) is not int:
        return -1
    result = PyLong_AsLongLongAndOverflow(value, &overflow)
    return -1 if overflow else result


cdef int _run(const Table* t, const Request* r, Result* out) noexcept nogil:
    """Decide the quote, stage by stage as reference.decide does; 0 on success, -1 when
    memory ran out."""
    out.live = r.room >= 0 and t.room_start[r.room] <= r.now and r.now < t.room_end[r.room]
    price_lines(t, r, out)
    if choose_coupons(t, r, out) != 0:
        return -1
    add_totals(r, out)
    earn_points(t, r, out)
    check_redemptions(t, r, out)
    tier_progress(t, r, out)
    return 0


# -- the table ----------------------------------------------------------------------------

cdef inline const value_t* _values(const value_t[::1] array):
    return &array[0] if array.shape[0] else NULL


cdef inline const index_t* _indexes(const index_t[::1] array):
    return &array[0] if array.shape[0] else NULL


cdef class TableView:
    """C pointers into one CompiledTable's arrays, built once per table and cached on it."""

    def __init__(self, compiled):
        self.compiled = compiled
        self.sku_row = compiled.sku_row
        self.tier_rank = compiled.tier_rank
        self.room_index = compiled.room_index
        self.coupon_index = compiled.coupon_index
        self.redemption_index = compiled.redemption_index
        self.tag_bit = compiled.tag_bit
        self.task_index = compiled.task_index
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
        self.t.redemption_segment_any = _values(c.redemption_segment_any)
        self.t.redemption_segment_all = _values(c.redemption_segment_all)
        self.t.redemption_segment_none = _values(c.redemption_segment_none)
        self.t.n_roomless_redemptions = c.roomless_redemption.shape[0]
        self.t.roomless_redemption = _indexes(c.roomless_redemption)
        self.t.room_redemption_ptr = _indexes(c.room_redemption_ptr)
        self.t.room_redemption = _indexes(c.room_redemption)
        self.t.per_yuan = c.per_yuan
        self.t.birthday_multiplier = c.birthday_multiplier
        self.t.order_bonus = c.order_bonus
        self.t.pickup_percent = c.pickup_percent
        self.t.utc_offset = c.utc_offset
        self.t.has_progression = c.has_progression
        self.t.growth_per_yuan = c.growth_per_yuan
        self.t.n_tasks = c.task_target.shape[0]
        self.t.progress_target = _values(c.progress_target)
        self.t.tier_spend = _values(c.tier_spend)
        self.t.tier_growth = _values(c.tier_growth)
        self.t.tier_task_ptr = _indexes(c.tier_task_ptr)
        self.t.tier_task = _indexes(c.tier_task)
        self.t.task_target = _values(c.task_target)

    def __dealloc__(self):
        free(self.last_hint)


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


# -- Python face --------------------------------------------------------------------------

@cython.no_gc
cdef class Quote:
    """One decided quote, held as C arrays; `to_dict()` gives the public form."""

    def __dealloc__(self):
        free(self.line_block)
        free(self.red_block)
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
        _other_rooms(self)
        return [k for k in range(self.n_redemptions) if self.r.red_status[k] == OK]

    @property
    def combinations(self) -> int:
        """How many coupon combinations the search evaluated (the rest were cut)."""
        return self.r.combinations

    def to_raw(self):
        """The same RawQuote the reference evaluator returns."""
        cdef int64_t i, k, row
        _other_rooms(self)
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
                        payable=self.r.payable, points=points, redemptions=redemptions,
                        progress=_progress(self))

    def to_dict(self) -> dict:
        """The public quote (engine.quote's builders, fed from the C arrays directly)."""
        cdef int64_t i, k, row, c
        _other_rooms(self)
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

    def to_json(self, bint inner=False, bytes head=None) -> bytes:
        """The public quote as JSON bytes, written straight from the C arrays and the
        table's pre-encoded pieces; equal to orjson.dumps(to_dict()) once parsed (tested).
        With `inner`, the members of the object without its braces, to splice into a
        larger response; with `head`, a JSON object whose members come first (the
        eligibility answer's own), written into the same buffer."""
        cdef Writer w = Writer()
        cdef int64_t i, k, c, row, j
        cdef list skus, coupon_ids, heads, reasons, layers, tiers, rooms, red_heads
        cdef TableView view = _json_view(self.table)
        _other_rooms(self)
        skus, coupon_ids, heads = view.skus, view.coupon_ids, view.coupon_heads
        reasons, layers, tiers, rooms = view.reasons, view.layers, view.tiers, view.rooms
        if head is not None:
            w.put(PyBytes_AS_STRING(head), PyBytes_GET_SIZE(head) - 1)  # all but its closing brace
            w.text(",")
            inner = False
        elif not inner:
            w.text("{")
        w.text('"tier":')
        w.bytes(tiers[self.tier])
        if self.room >= 0:
            w.text(',"room":{"id":')
            w.bytes(rooms[self.room])
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
                w.bytes(view.jp.dumps(dict(self.unknown_skus)[i]))
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
                w.bytes(_hint(view, 0, self.rows[i], self.r.line_status[i], self.r.line_hint[i], self, i))
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
            w.bytes(_hint(view, 1, c, self.r.cand_status[k], self.r.cand_hint[k], self, -1))
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
            w.bytes(tiers[self.tier])
            w.text(',"percent":')
            w.integer(self.r.p_tier)
            w.text("}")
            j = 1
        if self.r.p_room:
            w.text(',{"source":"room","id":' if j else '{"source":"room","id":')
            w.bytes(rooms[self.room])
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
            w.bytes(rooms[self.room])
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
        red_heads = view.redemption_heads
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
                w.bytes(_hint(view, 2, k, self.r.red_status[k], self.r.red_hint[k], self, -1))
                w.text("}")
        w.text("]")
        if self.table.has_progression:
            w.text(',"tier_progress":')
            w.bytes(_progress_json(view, self))
        if not inner:
            w.text("}")
        return w.result()


cdef int _other_rooms(Quote q) except -1:
    """Every redemption's status and hint in table order, spread once before any is read:
    the quote decided only the items without a room and those of its own room
    (ext/redemptions.pyx)."""
    cdef TableView view
    cdef int64_t* block
    if q.red_block != NULL:
        return 0
    view = _view(q.table)
    block = <int64_t*>malloc((2 * q.n_redemptions + 1) * sizeof(int64_t))
    if block == NULL:
        raise MemoryError()
    spread(&view.t, q.tier, q.tags, q.room, q.r.red_status, q.r.red_hint, block, block + q.n_redemptions)
    q.red_block = block
    q.r.red_status = block
    q.r.red_hint = block + q.n_redemptions
    return 0


cdef object _progress(Quote q):
    """The RawProgress of a quote, None for a table without progression."""
    cdef int64_t k, start
    if not q.table.has_progression:
        return None
    start = q.table.tier_task_ptr[q.r.g_tier] if q.r.g_tier else 0
    return RawProgress(tier=q.r.g_tier, spend_left=q.r.g_spend, growth_left=q.r.g_growth,
                       tasks=[(int(q.table.tier_task[start + k]), q.r.g_task_left[k]) for k in range(q.r.g_n_tasks)])


cdef TableView _json_view(object compiled):
    """The table's view with its JSON pieces at hand (engine.quote.JsonParts, read once)."""
    cdef TableView view = _view(compiled)
    cdef int64_t k, slots
    if view.jp is None:
        jp = json_parts_of(compiled)
        view.skus, view.coupon_ids, view.coupon_heads = jp.skus, jp.coupon_ids, jp.coupon_heads
        view.redemption_heads, view.reasons, view.layers = jp.redemption_heads, jp.reasons, jp.layers
        view.tiers, view.rooms, view.hints = jp.tiers, jp.rooms, jp._hints
        view.n_coupons = len(view.coupon_heads)
        slots = view.n_coupons + len(view.redemption_heads)
        view.last_hint = <int64_t*>malloc((2 * slots + 1) * sizeof(int64_t))
        if view.last_hint == NULL:
            raise MemoryError()
        for k in range(slots):
            view.last_hint[2 * k] = -1
        view.last_hint_json = [None] * slots
        view.jp = jp
    return view


cdef object _progress_json(TableView view, Quote q):
    """The quote's tier_progress JSON from the table's cache, keyed by all it says (the
    target tier, what is left of each criterion and task, whether the cart pays anything);
    built by engine.progression on a miss."""
    cdef int64_t k, start
    if not q.r.g_tier:
        return b"null"
    start = q.table.tier_task_ptr[q.r.g_tier]
    tasks = tuple([(int(q.table.tier_task[start + k]), q.r.g_task_left[k]) for k in range(q.r.g_n_tasks)])
    key = (3, q.r.g_tier, q.r.g_spend, q.r.g_growth, tasks, q.r.payable > 0)
    piece = view.hints.get(key)
    if piece is not None:
        return piece
    return view.jp.progress(key, _progress(q), q.r.payable)


cdef object _hint(TableView view, int kind, int64_t item, int64_t status, int64_t value, Quote q, int64_t line):
    """A hint's JSON: a coupon's or an item's last one when it repeats, else from the
    table's cache; built (and cached) by engine.quote on a miss."""
    cdef int64_t slot = -1
    if kind != 0:
        slot = item if kind == 1 else view.n_coupons + item
        if view.last_hint[2 * slot] == status and view.last_hint[2 * slot + 1] == value:
            return view.last_hint_json[slot]
    piece = _hint_json(view, kind, item, status, value, q, line)
    if slot >= 0:
        view.last_hint[2 * slot] = status
        view.last_hint[2 * slot + 1] = value
        view.last_hint_json[slot] = piece
    return piece


cdef object _hint_json(TableView view, int kind, int64_t item, int64_t status, int64_t value, Quote q,
                       int64_t line):
    piece = view.hints.get((kind, item, status, value))
    if piece is not None:
        return piece
    jp = view.jp
    if kind == 0:
        sku = q.table.model.products[item].sku if item >= 0 else dict(q.unknown_skus)[line]
        return jp.line_hint(sku, status, value)
    if kind == 1:
        return jp.coupon_hint(item, status, value)
    return jp.redemption_hint(item, status, value)


class _Summary:
    """The quote-wide figures `engine.quote.assemble` reads, without building a RawQuote."""

    __slots__ = ("tier_rank", "room_index", "live", "combinations", "search_exact", "subtotal", "discount",
                 "payable", "points", "progress")

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
        self.progress = _progress(q)


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


cdef int64_t _tag_mask(dict tag_bit, object tags) except? -1:
    """The member's tags as the table's tag mask; tags no segment names are ignored."""
    cdef uint64_t mask = 0
    if tag_bit and tags:
        for tag in tags:
            bit = tag_bit.get(tag)
            if bit is not None:
                mask |= (<uint64_t>1) << <int>bit
    return <int64_t>mask


def quote(table, member, room, now, lines, fulfillment="delivery", stock=None):
    """Decide one cart; the same contract as engine.reference.quote, returning a Quote."""
    cdef TableView view = _view(table)
    cdef Request req
    cdef Quote q = Quote.__new__(Quote)
    cdef int64_t n, i, row, rc, tier_rank, room_index, count, blocks = 7
    cdef int64_t* buffers[5]
    cdef timespec started, ended
    cdef object sku_bought

    # the member's fields by position (a Member is a tuple); any other object by name
    cdef tuple m = <tuple>member if type(member) is Member else tuple([getattr(member, f) for f in MEMBER_FIELDS])
    tier = m[0]
    tier_rank = view.tier_rank.get(tier, -1)
    if tier_rank < 0:
        raise QuoteInputError("member.tier", f"unknown tier {tier!r}")
    cdef int64_t birthday = m[2]
    if not 0 <= birthday <= 12:
        raise QuoteInputError("member.birthday_month", "must be 1 to 12, or 0 when unknown")
    cdef int64_t points = m[1]
    if not 0 <= points <= MAX_POINTS:
        raise QuoteInputError("member.points", f"must be from 0 to {MAX_POINTS}")
    cdef int64_t sessions = m[3]
    if not 0 <= sessions <= MAX_POINTS:
        raise QuoteInputError("member.sessions_watched", f"must be from 0 to {MAX_POINTS}")
    cdef int64_t debt = m[4]
    if not 0 <= debt <= MAX_POINTS:
        raise QuoteInputError("member.points_debt", f"must be from 0 to {MAX_POINTS}")
    # tier progression's figures, checked here without a Python call; anything off is left
    # to the reference's check, which raises its error
    cdef int64_t spend_12m = _whole(m[10])
    cdef int64_t growth = _whole(m[11])
    tasks = m[12]
    if not (0 <= spend_12m <= MAX_SPEND_FEN and 0 <= growth <= MAX_GROWTH) or type(tasks) is not dict:
        check_progress_figures(member)
    if tasks:
        for name, done in tasks.items():
            count = _whole(done)
            if type(name) is not str or not 0 <= count <= MAX_TASK_TARGET:
                check_progress_figures(member)
    cdef int64_t at = _whole(now)  # -1 unless an int, as the reference requires
    if not 0 <= at <= MAX_INSTANT:
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
    q.red_block = NULL
    cdef int64_t n_decided = decided_items(&view.t, room_index)
    q.n_tasks = view.t.n_tasks
    # one block for the request's line arrays, the result's line arrays and the tasks' progress
    q.line_block = <int64_t*>malloc((n * (3 + blocks) + 2 * n_decided + 2 * q.n_tasks + 1)
                                    * sizeof(int64_t))
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
    q.r.red_hint = q.r.red_status + n_decided
    req.task_progress = q.r.red_hint + n_decided
    q.r.g_task_left = req.task_progress + q.n_tasks
    for i in range(q.n_tasks):
        req.task_progress[i] = 0
    if q.n_tasks and tasks:
        for name, done in tasks.items():
            position = view.task_index.get(name)
            if position is not None:
                req.task_progress[<int64_t>position] = done
    req.spend_12m = spend_12m
    req.growth = growth

    sku_bought = m[8]
    for i in range(n):
        sku, qty = lines[i]
        if type(sku) is not str:
            raise QuoteInputError(f"lines[{i}].sku", "must be text")
        count = _whole(qty)
        if count < 1 or count > MAX_QTY:
            raise QuoteInputError(f"lines[{i}].qty", f"must be a whole number from 1 to {MAX_QTY}")
        row = view.sku_row.get(sku, -1)
        if row < 0:
            if q.unknown_skus is None:
                q.unknown_skus = []
            q.unknown_skus.append((i, sku))
        req.rows[i] = row
        req.qty[i] = count
        req.bought[i] = sku_bought.get(sku, 0) if (row >= 0 and _product(&view.t, row, P_LIMIT) >= 0
                                                 and sku_bought) else 0

    req.tier = tier_rank
    req.room = room_index
    req.now = at
    req.points = points
    req.points_debt = debt
    req.birthday_month = birthday
    req.sessions = sessions
    req.tags = q.tags = _tag_mask(view.tag_bit, m[5])
    req.n = n
    buffers[0] = req.coupon_uses = _pairs(m[6], view.coupon_index, &req.n_coupon_uses)
    buffers[1] = req.redemption_uses = NULL
    buffers[2] = req.coupon_stock = NULL
    buffers[3] = req.redemption_stock = NULL
    buffers[4] = req.owned = NULL
    req.n_owned = 0
    try:
        buffers[4] = req.owned = _pairs(m[9], view.coupon_index, &req.n_owned)
        buffers[1] = req.redemption_uses = _pairs(m[7], view.redemption_index,
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
        for i in range(5):
            free(buffers[i])
    if rc != 0:
        raise MemoryError()
    return q


def c_constants() -> dict:
    """The numbers this module was compiled with, so tests can hold them against engine/."""
    return {
        "codes": compiled_codes(),
        "layout": compiled_layout(),
        "limits": compiled_limits(),
        "line_bits": LINE_BITS,
        "value_bytes": sizeof(value_t),
        "index_bytes": sizeof(index_t),
        "debug_checks": DEBUG_CHECKS,
    }
