"""The reference evaluator: the quote's semantics in plain Python, the specification in code.

It reads the validated model directly and favours clarity over speed; the compiled
evaluator in ext/ must agree with it on every field (tests/test_differential.py).
The rules it implements are documented in docs/RULES.md, section "How a quote is decided".
"""

from __future__ import annotations

from collections.abc import Sequence

from . import codes
from .compiler import CompiledTable
from .inputs import check_quote_inputs
from .layout import C_RANK
from .model import KIND_ORDER, Coupon, Member, Stock
from .owned import granting_redemption
from .progression import decide_progress
from .quote import RawCoupon, RawLine, RawPoints, RawQuote, public_quote

NAME = "reference"


class ReferenceQuote:
    """A decided quote, with the same face as the compiled evaluator's Quote."""

    __slots__ = ("table", "raw")

    def __init__(self, table: CompiledTable, raw: RawQuote):
        self.table = table
        self.raw = raw

    payable = property(lambda self: self.raw.payable)
    subtotal = property(lambda self: self.raw.subtotal)
    discount = property(lambda self: self.raw.discount)
    points = property(lambda self: self.raw.points.total)

    def applied_coupons(self) -> list:
        """The applied coupons' positions in the table, in application order."""
        return list(self.raw.applied)

    def available_redemptions(self) -> list:
        """The positions of the catalogue items the member may redeem now."""
        return [k for k, (status, _) in enumerate(self.raw.redemptions) if status == codes.OK]

    def to_raw(self) -> RawQuote:
        return self.raw

    def to_dict(self) -> dict:
        return public_quote(self.table, self.raw)


def quote(
    table: CompiledTable,
    member: Member,
    room: str | None,
    now: int,
    lines: Sequence,
    fulfillment: str = "delivery",
    stock: Stock | None = None,
) -> ReferenceQuote:
    """Decide one cart; see `decide`."""
    return ReferenceQuote(table, decide(table, member, room, now, lines, fulfillment, stock))


def decide(
    table: CompiledTable,
    member: Member,
    room: str | None,
    now: int,
    lines: Sequence,
    fulfillment: str = "delivery",
    stock: Stock | None = None,
) -> RawQuote:
    """Decide prices, coupons, points and redemptions for one cart at instant `now`."""
    model = table.model
    tier_rank, room_index, lines, pickup = check_quote_inputs(table, member, room, now, lines, fulfillment)
    stock = stock or Stock()
    the_room = model.rooms[room_index] if room_index >= 0 else None
    live = the_room is not None and the_room.start <= now < the_room.end

    raw_lines = _price_lines(table, member, tier_rank, the_room, live, lines, pickup)
    raw_coupons, applied, combinations, exact = _choose_coupons(table, member, tier_rank, room, now, raw_lines, stock)
    subtotal = sum(line.amount for line in raw_lines)
    discount = sum(line.discount for line in raw_lines)
    payable = subtotal - discount
    points = _points(
        table, member, tier_rank, the_room, live, now, payable, any(line.status == codes.OK for line in raw_lines)
    )
    redemptions = [_redemption(table, member, tier_rank, room, now, item, stock) for item in model.redemptions]
    return RawQuote(
        tier_rank=tier_rank,
        room_index=room_index,
        live=live,
        lines=raw_lines,
        coupons=raw_coupons,
        applied=applied,
        combinations=combinations,
        search_exact=exact,
        subtotal=subtotal,
        discount=discount,
        payable=payable,
        points=points,
        redemptions=redemptions,
        progress=decide_progress(model, member, tier_rank, payable),
    )


# -- lines and price layers -------------------------------------------------------------


def _price_lines(table, member, tier_rank, room, live, lines, pickup) -> list:
    model = table.model
    tier_ids = model.tier_ids()
    in_cart: dict = {}  # sku -> quantity already taken by earlier eligible lines
    out = []
    for sku, qty in lines:
        line = RawLine(sku=sku, qty=qty)
        out.append(line)
        row = table.sku_row.get(sku)
        if row is None:
            line.status = codes.UNKNOWN_SKU
            continue
        product = model.products[row]
        if room is not None and room.members_only and tier_rank == 0:
            line.status = codes.MEMBERS_ONLY_ROOM
            continue
        if tier_ids[tier_rank] not in product.allowed_tiers:
            line.hint = _lowest_tier_above(tier_ids, product.allowed_tiers, tier_rank)
            line.status = _tier_refusal(line.hint)
            continue
        if product.segment is not None and not product.segment.admits(member.tags):
            line.status, line.hint = codes.SEGMENT_NOT_ELIGIBLE, table.tag_mask(member.tags)
            continue
        if product.member_limit is not None:
            taken = member.sku_bought.get(sku, 0) + in_cart.get(sku, 0)
            if taken + qty > product.member_limit:
                line.status = codes.MEMBER_LIMIT_REACHED
                line.hint = max(0, product.member_limit - taken)
                continue
        in_cart[sku] = in_cart.get(sku, 0) + qty

        price, layer = product.price, codes.LAYER_BASE
        tier_price = _tier_price(model, product, tier_rank)
        if tier_price is not None and tier_price < price:
            price, layer = tier_price, codes.LAYER_TIER
        if live and sku in room.live_prices and room.live_prices[sku] < price:
            price, layer = room.live_prices[sku], codes.LAYER_LIVE
        if pickup and model.pickup_discount_percent:
            off = _percent_half_up(price, model.pickup_discount_percent)
            if off > 0:
                price, layer = price - off, codes.LAYER_PICKUP
        line.unit_price, line.layer = price, layer
        line.amount = line.final = price * qty
    return out


def _tier_price(model, product, tier_rank: int) -> int | None:
    """A tier's price holds for that tier and every higher one that sets none of its own."""
    for rank in range(tier_rank, 0, -1):
        tier_id = model.tiers[rank - 1].id
        if tier_id in product.tier_prices:
            return product.tier_prices[tier_id]
    return None


def _lowest_tier_above(tier_ids: list, allowed: frozenset, tier_rank: int) -> int:
    """The rank of the lowest allowed tier above the member's, or 0 when none is."""
    for rank in range(tier_rank + 1, len(tier_ids)):
        if tier_ids[rank] in allowed:
            return rank
    return 0


def _tier_refusal(higher_tier: int) -> int:
    """tier_too_low when a higher tier would qualify, tier_not_eligible when none would."""
    return codes.TIER_TOO_LOW if higher_tier else codes.TIER_NOT_ELIGIBLE


def _percent_half_up(amount: int, percent: int) -> int:
    return (amount * percent + 50) // 100


# -- coupons ----------------------------------------------------------------------------


def _in_scope(coupon: Coupon, sku: str, category: str) -> bool:
    return coupon.scope_all or sku in coupon.scope_skus or category in coupon.scope_categories


def _choose_coupons(table, member, tier_rank, room_id, now, lines, stock) -> tuple:
    model = table.model
    tier_ids = model.tier_ids()
    known = [
        (i, line, model.products[table.sku_row[line.sku]]) for i, line in enumerate(lines) if line.sku in table.sku_row
    ]
    results, usable = [], []
    base = [line.amount for line in lines]
    for index, coupon in enumerate(model.coupons):
        scoped = [(i, line) for i, line, product in known if _in_scope(coupon, line.sku, product.category)]
        if not scoped:
            continue  # not a candidate: it concerns nothing in this cart
        result = RawCoupon(index=index, status=codes.OK)
        results.append(result)
        eligible = [i for i, line in scoped if line.status == codes.OK]
        if tier_ids[tier_rank] not in coupon.tiers:
            result.hint = _lowest_tier_above(tier_ids, coupon.tiers, tier_rank)
            result.status = _tier_refusal(result.hint)
        elif coupon.segment is not None and not coupon.segment.admits(member.tags):
            result.status, result.hint = codes.SEGMENT_NOT_ELIGIBLE, table.tag_mask(member.tags)
        elif coupon.room is not None and coupon.room != room_id:
            result.status = codes.NOT_IN_ROOM
        elif not _window_open(coupon.window_from, coupon.window_to, now):
            result.status = codes.OUTSIDE_WINDOW
            result.hint = coupon.window_from - now if coupon.window_from is not None and now < coupon.window_from else 0
        elif coupon.issue == "granted" and member.owned_coupons.get(coupon.id, 0) <= 0:
            result.status, result.hint = codes.NOT_OWNED, granting_redemption(model, coupon.id) + 1
        elif coupon.member_limit is not None and member.coupon_uses.get(coupon.id, 0) >= coupon.member_limit:
            result.status = codes.MEMBER_LIMIT_REACHED
        elif coupon.stock is not None and stock.coupons.get(coupon.id, coupon.stock) <= 0:
            result.status = codes.OUT_OF_STOCK
        elif not eligible:
            result.status = codes.NOT_IN_SCOPE
        elif coupon.kind == "threshold_off" and sum(base[i] for i in eligible) < coupon.threshold:
            result.status = codes.THRESHOLD_NOT_MET
            result.hint = coupon.threshold - sum(base[i] for i in eligible)
        else:
            saving = sum(_discount(coupon, eligible, lines, base))
            if saving == 0:
                result.status = codes.NO_SAVING
            else:
                usable.append((index, coupon, eligible, saving, result))

    search = _best_combination(table, usable, lines)
    chosen = {index for index, *_ in search.best}
    for index, _, _, _, result in usable:
        if index not in chosen:
            result.status = codes.LOST_TO_BETTER_COMBINATION
    # apply the winner to the lines, in application order
    amounts = [line.amount for line in lines]
    applied = []
    for index, coupon, eligible, _, result in search.best:
        shares = _discount(coupon, eligible, lines, amounts)
        result.amount = sum(shares)
        applied.append(index)
        for i, share in zip(eligible, shares):
            if share:
                amounts[i] -= share
                lines[i].shares.append((index, share))
                lines[i].discount += share
                lines[i].final -= share
    return results, applied, search.combinations, search.exact


def _window_open(start: int | None, end: int | None, now: int) -> bool:
    return (start is None or start <= now) and (end is None or now < end)


def _discount(coupon: Coupon, eligible: list, lines: list, amounts: list) -> list:
    """Each eligible line's share of what `coupon` saves, given the lines' current amounts."""
    current = [amounts[i] for i in eligible]
    if coupon.kind == "percent_off":
        per_line = [_percent_half_up(a, coupon.percent_off) for a in current]
        total = sum(per_line)
        if coupon.max_discount is not None and total > coupon.max_discount:
            return allocate(coupon.max_discount, per_line)
        return per_line
    if coupon.kind == "fixed_price":
        return _fixed_price(coupon, [lines[i] for i in eligible], current)
    spent = sum(current)
    if coupon.kind == "threshold_off" and spent < coupon.threshold:
        return [0] * len(current)
    return allocate(min(coupon.amount, spent), current)


def _fixed_price(coupon: Coupon, lines: list, current: list) -> list:
    """Up to `units` units cost `price` each: the dearest units first, earlier lines on ties."""
    shares = [0] * len(lines)
    units_left = coupon.units
    order = sorted(range(len(lines)), key=lambda k: (-lines[k].unit_price, k))
    for k in order:
        if units_left == 0:
            break
        line = lines[k]
        if line.unit_price <= coupon.price:
            continue
        units = min(line.qty, units_left)
        units_left -= units
        value = current[k] * units // line.qty  # what those units cost now
        shares[k] = max(0, value - units * coupon.price)
    return shares


def allocate(total: int, weights: list) -> list:
    """Split `total` fen in proportion to `weights`, exactly: floors first, then one fen
    each to the largest remainders (the earlier line on ties)."""
    weight = sum(weights)
    if weight == 0:
        return [0] * len(weights)
    shares = [total * w // weight for w in weights]
    remainders = [total * w % weight for w in weights]
    left = total - sum(shares)
    for k in sorted(range(len(weights)), key=lambda k: (-remainders[k], k))[:left]:
        shares[k] += 1
    return shares


def _rank(table: CompiledTable, index: int) -> int:
    """0 for the coupon that wins ties (highest priority, then smallest id)."""
    return int(table.coupon_record[index, C_RANK])


class _Search:
    """Branch and bound for the coupon set that saves the member most.

    Exclusive coupons are tried alone first. Then the stack groups are decided one by
    one, the most promising first (each group's coupons by standalone saving, the groups
    by their best), each time trying every coupon of the group and then none. A coupon
    never saves more inside a combination than alone (coupons before it only lower the
    amounts it sees), so a branch whose standalone savings cannot reach the best saving
    found so far is cut; ties are explored, so the result is exact. The search stops at
    a budget of SEARCH_BUDGET line steps (every coupon applied to a line in a tried
    combination is one step); then the best found so far stands and `exact` is False.
    """

    def __init__(self, table: CompiledTable, usable: list, lines: list):
        self.table = table
        self.lines = lines
        self.steps = 0
        self.combinations = 0
        self.exact = True
        self.best_key: tuple[int, int, list[int]] = (0, 0, [])
        self.best: list = []
        exclusive: list = []
        groups: dict[str | tuple[str, int], list] = {}  # by stack group, ("alone", k) if none
        for entry in usable:
            coupon = entry[1]
            if coupon.exclusive:
                exclusive.append(entry)
            else:
                key = coupon.stack_group if coupon.stack_group is not None else ("alone", entry[0])
                groups.setdefault(key, []).append(entry)
        self.exclusive = exclusive
        self.groups = sorted((sorted(g, key=lambda e: -e[3]) for g in groups.values()), key=lambda g: -g[0][3])
        self.suffix = [0] * (len(self.groups) + 1)
        for position in range(len(self.groups) - 1, -1, -1):
            self.suffix[position] = self.suffix[position + 1] + self.groups[position][0][3]

    def run(self) -> list:
        for entry in self.exclusive:
            if self._out_of_budget():
                break
            self._leaf([entry])
        self._explore(0, 0, [])
        return self.best

    def _out_of_budget(self) -> bool:
        if self.steps >= codes.SEARCH_BUDGET:
            self.exact = False
        return not self.exact

    def _explore(self, position: int, bound: int, chosen: list) -> None:
        if self._out_of_budget():
            return
        if position == len(self.groups):
            if chosen:
                self._leaf(chosen)
            return
        best_saving = -self.best_key[0]
        for entry in self.groups[position]:
            if bound + entry[3] + self.suffix[position + 1] < best_saving:
                break
            self._explore(position + 1, bound + entry[3], chosen + [entry])
            best_saving = -self.best_key[0]
        if bound + self.suffix[position + 1] >= best_saving:
            self._explore(position + 1, bound, chosen)

    def _leaf(self, chosen: list) -> None:
        """Try one combination; keep it if it beats the best (see `_key`)."""
        chosen = sorted(chosen, key=lambda e: (KIND_ORDER[e[1].kind], e[0]))
        self.combinations += 1
        self.steps += sum(len(e[2]) for e in chosen)
        saving = _combination_saving(chosen, self.lines)
        if saving is None:
            return
        key = _key(self.table, saving, chosen)
        if key < self.best_key:
            self.best_key, self.best = key, chosen


def _best_combination(table, usable: list, lines: list) -> _Search:
    search = _Search(table, usable, lines)
    search.run()
    return search


def _combination_saving(chosen: list, lines: list) -> int | None:
    """What the coupons save applied in order; None when one of them would save nothing."""
    amounts = [line.amount for line in lines]
    total = 0
    for _, coupon, eligible, _, _ in chosen:
        shares = _discount(coupon, eligible, lines, amounts)
        saved = sum(shares)
        if saved == 0:
            return None
        total += saved
        for i, share in zip(eligible, shares):
            amounts[i] -= share
    return total


def _key(table, saving: int, chosen: list) -> tuple[int, int, list[int]]:
    """Smaller is better: more saving, then fewer coupons, then better-ranked coupons
    (their ranks compared in ascending order)."""
    return (-saving, len(chosen), sorted(_rank(table, e[0]) for e in chosen))


# -- points -----------------------------------------------------------------------------


def _points(table, member, tier_rank, room, live, now, payable, has_order) -> RawPoints:
    model = table.model
    p = RawPoints()
    if tier_rank == 0:
        return p  # visitors have no points account
    p.base = payable * model.points.per_yuan // 100
    points = p.base
    p.tier_percent = model.tiers[tier_rank - 1].points_multiplier
    points = points * p.tier_percent // 100
    if live:
        p.room_percent = room.points_multiplier
        points = points * p.room_percent // 100
    if member.birthday_month and member.birthday_month == month_of(now, model.utc_offset_seconds):
        p.birthday_percent = model.points.birthday_multiplier
        points = points * p.birthday_percent // 100
    p.multiplied = points
    if has_order:
        p.room_bonus = room.order_bonus if live else 0
        p.order_bonus = model.points.order_bonus
    p.total = points + p.room_bonus + p.order_bonus
    return p


def month_of(now: int, utc_offset: int) -> int:
    """The calendar month (1-12) of instant `now` at the table's UTC offset."""
    import datetime as dt

    return dt.datetime.fromtimestamp(now + utc_offset, dt.UTC).month


# -- redemptions ------------------------------------------------------------------------


def _redemption(table, member, tier_rank, room_id, now, item, stock) -> tuple:
    tier_ids = table.model.tier_ids()
    if tier_ids[tier_rank] not in item.tiers:
        higher = _lowest_tier_above(tier_ids, item.tiers, tier_rank)
        return _tier_refusal(higher), higher
    if item.segment is not None and not item.segment.admits(member.tags):
        return codes.SEGMENT_NOT_ELIGIBLE, table.tag_mask(member.tags)
    if item.room is not None and item.room != room_id:
        return codes.NOT_IN_ROOM, 0
    if not _window_open(item.window_from, item.window_to, now):
        wait = item.window_from - now if item.window_from is not None and now < item.window_from else 0
        return codes.OUTSIDE_WINDOW, wait
    if member.sessions_watched < item.sessions_watched:
        return codes.TASK_LOCKED, item.sessions_watched - member.sessions_watched
    if item.member_limit is not None and member.redemption_uses.get(item.id, 0) >= item.member_limit:
        return codes.MEMBER_LIMIT_REACHED, 0
    if item.stock is not None and stock.redemptions.get(item.id, item.stock) <= 0:
        return codes.OUT_OF_STOCK, 0
    if member.points_debt > 0 and item.points > 0:
        return codes.POINTS_DEBT, member.points_debt
    if member.points < item.points:
        return codes.INSUFFICIENT_POINTS, item.points - member.points
    return codes.OK, 0
