"""Property-based differential tests: the compiled evaluator and the reference agree on
every field of every quote, for generated rule tables, members, stock and carts (the
generator is tests/situations.py; tests/test_differential_bulk.py runs it at volume)."""

from __future__ import annotations

import copy
import itertools

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from situations import T0, make_situation, table_data

from engine import codes, evaluators, reference
from engine.compiler import compile_table
from engine.inputs import QuoteInputError
from engine.model import KIND_ORDER, Member
from engine.rules.validate import build_table

compiled = evaluators.get("compiled")


class Drawn:
    """The generator's choices, drawn by Hypothesis (so a failure shrinks to a small case)."""

    def __init__(self, draw):
        self.draw = draw

    def integer(self, low: int, high: int) -> int:
        return self.draw(st.integers(low, high))

    def choice(self, options):
        return self.draw(st.sampled_from(options))

    def boolean(self) -> bool:
        return self.draw(st.booleans())

    def subset(self, options) -> list:
        return self.draw(st.lists(st.sampled_from(options), min_size=1, unique=True))

    def counts(self, keys, low: int, high: int) -> dict:
        return self.draw(st.dictionaries(st.sampled_from(keys), st.integers(low, high)))

    def cart(self, skus, most: int) -> list:
        return self.draw(st.lists(st.tuples(st.sampled_from(skus), st.integers(1, 5)), max_size=most))


@st.composite
def situations(draw):
    """A table, and a member with a cart in it at some instant (tests/situations.py)."""
    pick = Drawn(draw)
    return make_situation(pick, compile_table(build_table(table_data(pick))))


@pytest.mark.slow
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(situations())
def test_compiled_and_reference_agree_on_every_field(situation):
    expected = reference.quote(*situation)
    actual = compiled.quote(*situation)
    assert actual.to_raw() == expected.to_raw()
    assert actual.to_dict() == expected.to_dict()
    assert orjson.loads(actual.to_json()) == expected.to_dict()  # the JSON the API sends
    head = b'{"rules_version":"v","at":1,"member":{"id":null}}'  # the eligibility answer's members first
    assert actual.to_json(head=head) == head[:-1] + b"," + actual.to_json(inner=True) + b"}"


@pytest.mark.slow
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(situations(), st.integers(0, 3))
def test_quotes_are_deterministic(situation, repeat):
    first = compiled.quote(*situation).to_dict()
    for _ in range(repeat):
        assert compiled.quote(*situation).to_dict() == first


@pytest.mark.slow
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(situations())
def test_money_adds_up(situation):
    """Allocations sum to each coupon's amount; lines sum to the totals; nothing negative."""
    result = compiled.quote(*situation).to_dict()
    totals = result["totals"]
    assert totals["subtotal"] == sum(line["amount"] for line in result["lines"])
    assert totals["discount"] == sum(line["discount"] for line in result["lines"])
    assert totals["payable"] == totals["subtotal"] - totals["discount"] >= 0
    for applied in result["coupons_applied"]:
        shares = [c["amount"] for line in result["lines"] for c in line["coupons"] if c["id"] == applied["id"]]
        assert sum(shares) == applied["amount"] > 0
    for line in result["lines"]:
        assert 0 <= line["final"] == line["amount"] - line["discount"]
    groups = [coupon_group(situation[0], c["id"]) for c in result["coupons_applied"]]
    named = [g for g in groups if g is not None]
    assert len(named) == len(set(named)), "two coupons of one stack group applied"


@st.composite
def owned_situations(draw):
    """A situation whose member owns a valid grant of every granted coupon, with the same
    table written with every coupon issued automatically."""
    pick = Drawn(draw)
    data = table_data(pick)
    table = compile_table(build_table(data))
    situation = make_situation(pick, table)
    granted = [c["id"] for c in data["coupons"] if c.get("issue") == "granted"]
    automatic = copy.deepcopy(data)
    for entry in automatic["coupons"]:
        entry.pop("issue", None)
        entry.pop("valid_days", None)
    for item in automatic["redemptions"]:
        item.pop("grants_coupon", None)
    member = situation[1]._replace(owned_coupons={c: draw(st.integers(1, 3)) for c in granted})
    return (table, member, *situation[2:]), compile_table(build_table(automatic)), granted


@pytest.mark.slow
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(owned_situations())
def test_an_owned_coupon_decides_exactly_like_an_automatic_one(drawn):
    """Both evaluators agree with an owned grant, and the coupons' decision is the one of the
    same table with every coupon issued automatically; without grants, no granted coupon is
    applied."""
    situation, automatic, granted = drawn
    expected = reference.quote(*situation).to_dict()
    assert compiled.quote(*situation).to_dict() == expected
    as_auto = compiled.quote(automatic, *situation[1:]).to_dict()
    for key in ("lines", "coupons_applied", "coupons_not_applied", "coupon_search", "totals", "points"):
        assert expected[key] == as_auto[key], key
    unowned = (situation[0], situation[1]._replace(owned_coupons={}), *situation[2:])
    bare = reference.quote(*unowned).to_dict()
    assert compiled.quote(*unowned).to_dict() == bare
    assert not {c["id"] for c in bare["coupons_applied"]} & set(granted)


def coupon_group(table, coupon_id):
    return table.model.coupons[table.coupon_index[coupon_id]].stack_group


def brute_force_best(table, raw):
    """The best coupon set by trying every set the rules allow (the spec of the search)."""
    model = table.model
    usable_reasons = (codes.OK, codes.LOST_TO_BETTER_COMBINATION)
    lines = [line for line in raw.lines]
    for line in lines:  # the search sees the lines before any coupon
        line.shares, line.discount, line.final = [], 0, line.amount
    usable = []
    for result in raw.coupons:
        if result.status not in usable_reasons:
            continue
        coupon = model.coupons[result.index]
        eligible = [
            i
            for i, line in enumerate(lines)
            if line.status == codes.OK
            and line.sku in table.sku_row
            and reference._in_scope(coupon, line.sku, model.products[table.sku_row[line.sku]].category)
        ]
        usable.append((result.index, coupon, eligible, None, result))
    best_key, best = (0, 0, []), []
    for size in range(1, len(usable) + 1):
        for chosen in itertools.combinations(usable, size):
            exclusive = any(e[1].exclusive for e in chosen)
            groups = [e[1].stack_group for e in chosen if e[1].stack_group is not None]
            if (exclusive and size > 1) or len(groups) != len(set(groups)):
                continue
            ordered = sorted(chosen, key=lambda e: (KIND_ORDER[e[1].kind], e[0]))
            saving = reference._combination_saving(ordered, lines)
            if saving is not None and reference._key(table, saving, ordered) < best_key:
                best_key, best = reference._key(table, saving, ordered), ordered
    return best_key, [e[0] for e in best]


@pytest.mark.slow
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(situations())
def test_search_finds_what_trying_every_set_finds(situation):
    """Branch and bound cuts branches; it must still return the set exhaustive search would."""
    raw = reference.decide(*situation)
    if not raw.search_exact:
        return
    table = situation[0]
    key, expected = brute_force_best(table, copy.deepcopy(raw))
    assert sorted(raw.applied) == sorted(expected)
    assert raw.discount == -key[0]


def test_search_budget_ends_the_search_the_same_way_in_both():
    """Forty free-stacking coupons on a 60-line cart overrun the search budget: both
    evaluators stop at the same point, say the result is not proven best, and agree."""
    coupons = [
        {"id": f"P{k:02d}", "kind": "percent_off", "percent_off": 1 + k % 9, "scope": "all", "priority": k % 4}
        for k in range(40)
    ]
    table = compile_table(
        build_table(
            {
                "tiers": [{"id": "gold"}],
                "products": [{"sku": f"S{k}", "price": 999 + 37 * k} for k in range(60)],
                "coupons": coupons,
            }
        )
    )
    situation = (table, Member(tier="gold"), None, T0, [(f"S{k}", 1 + k % 3) for k in range(60)], "delivery", None)
    expected = reference.quote(*situation).to_dict()
    assert expected["coupon_search"]["exact"] is False
    assert compiled.quote(*situation).to_dict() == expected
    assert expected["coupons_applied"], "the best combination found before the budget ran out is applied"


@pytest.mark.parametrize(
    "bad, field",
    [
        (dict(member=Member(tier="diamond")), "member.tier"),
        (dict(room="nowhere"), "room"),
        (dict(lines=[("S0", 0)]), "lines[0].qty"),
        (dict(lines=[("S0", 10_000)]), "lines[0].qty"),
        (dict(lines=[(12, 1)]), "lines[0].sku"),
        (dict(lines=[("S0", 1)] * 201), "lines"),
        (dict(fulfillment="drone"), "fulfillment"),
        (dict(now=-5), "now"),
        (dict(member=Member(tier="gold", birthday_month=13)), "member.birthday_month"),
        (dict(member=Member(tier="gold", points=-1)), "member.points"),
        (dict(member=Member(tier="gold", points=1_000_000_001)), "member.points"),
        (dict(member=Member(tier="gold", points_debt=-1)), "member.points_debt"),
        (dict(member=Member(tier="gold", spend_12m=-1)), "member.spend_12m"),
        (dict(member=Member(tier="gold", growth=10**14)), "member.growth"),
        (dict(member=Member(tier="gold", tasks={"watch_days": 1001})), "member.tasks"),
    ],
)
def test_both_evaluators_refuse_the_same_bad_inputs(evaluator, bad, field):
    table = compile_table(build_table({"tiers": [{"id": "gold"}], "products": [{"sku": "S0", "price": 100}]}))
    args = dict(member=Member(tier="gold"), room=None, now=T0, lines=[("S0", 1)], fulfillment="delivery")
    args.update(bad)
    with pytest.raises(QuoteInputError) as error:
        evaluator.quote(table, args["member"], args["room"], args["now"], args["lines"], args["fulfillment"])
    assert error.value.field == field


@pytest.mark.slow
@pytest.mark.parametrize("seed", [5, 6])
def test_agree_on_a_dense_generated_catalogue(seed):
    """Carts of 5 to 60 lines on a catalogue where every sku has several coupons and a
    dozen storewide ones compete: long combinations whose coupons nest and overlap."""
    import datetime as dt
    import random

    from bench.large_table import generate

    table = compile_table(build_table(generate(skus=300, coupons=1500, seed=seed)))
    gala = int(dt.datetime(2026, 11, 11, 21, 0, tzinfo=dt.timezone(dt.timedelta(hours=8))).timestamp())
    rng = random.Random(seed)
    skus = list(table.sku_row)
    coupon_ids = list(table.coupon_index)
    longest = 0
    for _ in range(15):
        cart = [(rng.choice(skus), rng.randint(1, 3)) for _ in range(rng.choice((5, 20, 60)))]
        member = Member(
            tier=rng.choice(["silver", "gold", "black_gold"]),
            points=rng.randint(0, 5000),
            birthday_month=11,
            coupon_uses={rng.choice(coupon_ids): 1 for _ in range(20)},
        )
        now = gala + rng.randint(-4000, 9000)
        actual = compiled.quote(table, member, "gala", now, cart).to_raw()
        assert actual == reference.quote(table, member, "gala", now, cart).to_raw()
        longest = max(longest, len(actual.applied))
    assert longest >= 5  # the catalogue does exercise long combinations


def test_a_coupon_allocated_over_lines_sees_what_an_earlier_one_took_from_them(evaluator):
    """K takes 5.00 from A; J (A and B) then splits 10.00 over A's 5.00 and B's 10.00, so B
    keeps 3.33 and I (B and C, spend 5.00 save 1.00) is not reached: the best choice is K
    and J. Had J split over A's full 10.00, B would keep 5.00 and I would wrongly apply."""
    data = {
        "tiers": [{"id": "gold", "points_multiplier": 1}],
        "products": [
            {"sku": sku, "price": price, "category": "c"} for sku, price in (("A", 1000), ("B", 1000), ("C", 100))
        ],
        "coupons": [
            {"id": "K", "kind": "amount_off", "amount": 500, "scope": {"skus": ["A"]}},
            {"id": "J", "kind": "amount_off", "amount": 1000, "scope": {"skus": ["A", "B"]}},
            {"id": "I", "kind": "threshold_off", "threshold": 500, "amount": 100, "scope": {"skus": ["B", "C"]}},
        ],
        "points": {"per_yuan": 1},
    }
    table = compile_table(build_table(data))
    quote = evaluator.quote(table, Member(tier="gold"), None, T0, [("A", 1), ("B", 1), ("C", 1)]).to_dict()
    assert [c["id"] for c in quote["coupons_applied"]] == ["K", "J"]
    assert quote["totals"]["discount"] == 1500
    assert {c["id"]: c["reason"] for c in quote["coupons_not_applied"]} == {"I": "lost_to_better_combination"}


def test_redemptions_of_other_rooms_read_as_the_reference_decides_them():
    """A quote decides only the items without a room and those of its own room; the others
    are decided when first read. Whichever way a quote is read first, in every room and in
    none, for every tier and with or without the segment's tag, both evaluators agree."""
    rooms = [
        {"id": room, "start": f"2026-11-1{k}T20:00:00+08:00", "end": f"2026-11-1{k}T22:00:00+08:00"}
        for k, room in enumerate(("r0", "r1", "r2"))
    ]
    items = [{"id": "FREE", "points": 10}, {"id": "GOLD", "points": 10, "min_tier": "gold"}]
    for room in ("r0", "r1", "r2"):
        items += [
            {"id": f"{room}-any", "points": 10, "room": room},
            {"id": f"{room}-gold", "points": 10, "room": room, "tiers": ["gold"]},
            {"id": f"{room}-family", "points": 10, "room": room, "segments": {"any_of": ["family"]}},
        ]
    data = {
        "tiers": [{"id": "silver"}, {"id": "gold"}],
        "products": [{"sku": "S0", "price": 100}],
        "rooms": rooms,
        "redemptions": items,
    }
    table = compile_table(build_table(data))
    for room, tier, tags in itertools.product((None, "r0", "r1", "r2"), (None, "silver", "gold"), ((), ("family",))):
        now = table.model.rooms[table.room_index[room]].start + 60 if room else T0
        args = (table, Member(tier=tier, points=100, tags=frozenset(tags)), room, now, [("S0", 1)])
        expected = reference.quote(*args)
        for first in ("available_redemptions", "to_json", "to_dict", "to_raw"):
            actual = compiled.quote(*args)
            getattr(actual, first)()  # read this way first, then every way
            assert actual.available_redemptions() == expected.available_redemptions()
            assert orjson.loads(actual.to_json()) == expected.to_dict()
            assert actual.to_dict() == expected.to_dict()
            assert actual.to_raw() == expected.to_raw()
