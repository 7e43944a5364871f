"""Segments: products, coupons and redemptions for members with some tags, checked when a
table is read (each mistake with its place and line) and decided by both evaluators."""

from __future__ import annotations

import pytest
from conftest import coupon, redemption

from engine.compiler import compile_table
from engine.inputs import QuoteInputError, member_from_mapping
from engine.model import Member
from engine.rules.load import RulesInvalid, check_source
from engine.rules.source import parse
from engine.rules.validate import build_table

NOW = 1_790_000_000

TABLE = """\
tiers:
  - {id: silver}
  - {id: gold}
products:
  - {sku: FORMULA, price: 20000, category: powder, segments: {any_of: [family-0-3, family-3-6]}}
  - {sku: MILK, price: 1000, category: milk}
  - {sku: STAFF-ONLY, price: 500, category: milk, segments: {all_of: [staff]}}
coupons:
  - id: FAMILY-20
    kind: amount_off
    amount: 2000
    scope: {categories: [powder]}
    segments: {any_of: [family-0-3]}
  - id: NOT-FOR-STAFF
    kind: amount_off
    amount: 100
    scope: {skus: [MILK]}
    segments: {none_of: [staff]}
  - id: GOLD-FAMILY
    kind: amount_off
    amount: 300
    scope: {skus: [MILK]}
    tiers: [gold]
    segments: {all_of: [family-0-3, vip]}
redemptions:
  - {id: BIB, points: 100, segments: {any_of: [family-0-3]}}
  - {id: MUG, points: 100}
"""


@pytest.fixture(scope="module")
def table():
    return compile_table(check_source(TABLE.encode()))


def quote(evaluator, table, member, lines):
    return evaluator.quote(table, member, None, NOW, lines).to_dict()


FAMILY = Member(tier="silver", points=500, tags=frozenset({"family-0-3"}))
PLAIN = Member(tier="silver", points=500)


# -- the evaluators ------------------------------------------------------------------------


def test_a_segment_coupon_applies_for_a_tagged_member(evaluator, table):
    result = quote(evaluator, table, FAMILY, [("FORMULA", 1)])
    assert coupon(result, "FAMILY-20") == {
        "applied": True,
        "id": "FAMILY-20",
        "name": "FAMILY-20",
        "kind": "amount_off",
        "amount": 2000,
    }
    assert result["totals"] == {"subtotal": 20000, "discount": 2000, "payable": 18000}


def test_a_segment_coupon_is_refused_with_the_tags_it_needs(evaluator, table):
    member = Member(tier="silver", tags=frozenset({"family-3-6"}))  # may buy the formula, not use the coupon
    result = quote(evaluator, table, member, [("FORMULA", 1)])
    assert result["lines"][0]["eligible"] is True
    assert coupon(result, "FAMILY-20") == {
        "applied": False,
        "id": "FAMILY-20",
        "name": "FAMILY-20",
        "kind": "amount_off",
        "reason": "segment_not_eligible",
        "hint": {"code": "needs_any_of", "value": ["family-0-3"], "text": "for members tagged family-0-3"},
    }


def test_a_segment_product_is_refused_to_an_untagged_member(evaluator, table):
    result = quote(evaluator, table, PLAIN, [("FORMULA", 1), ("MILK", 1)])
    line = result["lines"][0]
    assert (line["eligible"], line["reason"], line["unit_price"]) == (False, "segment_not_eligible", None)
    assert line["hint"] == {
        "code": "needs_any_of",
        "value": ["family-0-3", "family-3-6"],
        "text": "for members tagged family-0-3 or family-3-6",
    }
    assert result["totals"]["subtotal"] == 1000  # the other line is priced as usual
    # the refused line's coupon concerns it but finds no line it may apply to
    assert coupon(result, "FAMILY-20")["reason"] == "segment_not_eligible"


def test_all_of_names_only_the_missing_tags(evaluator, table):
    result = quote(evaluator, table, Member(tier="gold", tags=frozenset({"family-0-3"})), [("MILK", 1)])
    assert coupon(result, "GOLD-FAMILY")["hint"] == {
        "code": "needs_all_of",
        "value": ["vip"],
        "text": "for members also tagged vip",
    }
    result = quote(evaluator, table, Member(tier="gold", tags=frozenset({"family-0-3", "vip"})), [("MILK", 1)])
    assert coupon(result, "GOLD-FAMILY")["applied"] is True


def test_none_of_names_the_tag_that_excludes(evaluator, table):
    staff = Member(tier="silver", tags=frozenset({"staff", "office"}))
    result = quote(evaluator, table, staff, [("MILK", 1), ("STAFF-ONLY", 1)])
    assert coupon(result, "NOT-FOR-STAFF")["reason"] == "segment_not_eligible"
    assert coupon(result, "NOT-FOR-STAFF")["hint"] == {
        "code": "excluded_by",
        "value": ["staff"],
        "text": "not for members tagged staff",
    }
    assert result["lines"][1]["eligible"] is True  # all_of: [staff]
    assert coupon(quote(evaluator, table, PLAIN, [("MILK", 1)]), "NOT-FOR-STAFF")["applied"] is True


def test_the_tier_is_checked_before_the_segment(evaluator, table):
    result = quote(evaluator, table, PLAIN, [("MILK", 1)])
    assert coupon(result, "GOLD-FAMILY")["reason"] == "tier_too_low"


def test_a_segment_redemption_is_available_only_to_the_segment(evaluator, table):
    assert redemption(quote(evaluator, table, FAMILY, []), "BIB")["available"] is True
    refused = redemption(quote(evaluator, table, PLAIN, []), "BIB")
    assert (refused["available"], refused["reason"]) == (False, "segment_not_eligible")
    assert refused["hint"]["code"] == "needs_any_of"
    assert redemption(quote(evaluator, table, PLAIN, []), "MUG")["available"] is True


def test_visitors_may_be_in_a_segment_too(evaluator, table):
    visitor = Member(tags=frozenset({"family-0-3"}))
    result = quote(evaluator, table, visitor, [("FORMULA", 1)])
    assert coupon(result, "FAMILY-20")["applied"] is True


def test_tags_no_segment_names_are_ignored(evaluator, table):
    member = Member(tier="silver", points=500, tags=frozenset({"family-0-3", "fitness", "not-in-this-table"}))
    assert quote(evaluator, table, member, [("FORMULA", 1)]) == quote(evaluator, table, FAMILY, [("FORMULA", 1)])


def test_the_sixty_fourth_tag_works_like_the_first(evaluator):
    # 64 tags: the last one in sorted order is bit 63, the sign bit of the compiled masks
    tags = [f"t{k:02d}" for k in range(64)]
    source = {
        "tiers": [{"id": "silver"}],
        "products": [{"sku": "A", "price": 1000}],
        "coupons": [
            {"id": "LAST", "kind": "amount_off", "amount": 100, "segments": {"any_of": [tags[-1]]}},
            {"id": "NOT-LAST", "kind": "amount_off", "amount": 50, "segments": {"none_of": [tags[-1]]}},
            {"id": "ALL", "kind": "amount_off", "amount": 10, "segments": {"all_of": tags[:-1]}},
        ],
    }
    table = compile_table(build_table(source))
    assert table.tag_bit[tags[-1]] == 63
    last = quote(evaluator, table, Member(tier="silver", tags=frozenset({tags[-1]})), [("A", 1)])
    assert [c["id"] for c in last["coupons_applied"]] == ["LAST"]
    assert coupon(last, "NOT-LAST")["hint"]["value"] == [tags[-1]]
    assert coupon(last, "ALL")["hint"]["value"] == tags[:-1]
    every = quote(evaluator, table, Member(tier="silver", tags=frozenset(tags)), [("A", 1)])
    assert sorted(c["id"] for c in every["coupons_applied"]) == ["ALL", "LAST"]


def test_the_demo_family_coupon(evaluator, demo):
    family = Member(tier="gold", tags=frozenset({"family_0_3"}))
    applied = quote(evaluator, demo, family, [("CHEESE-KIDS", 1)])
    assert coupon(applied, "FAMILY-CHEESE-5OFF")["amount"] == 500
    refused = quote(evaluator, demo, Member(tier="gold", tags=frozenset({"office"})), [("CHEESE-KIDS", 1)])
    assert coupon(refused, "FAMILY-CHEESE-5OFF")["reason"] == "segment_not_eligible"
    assert coupon(refused, "FAMILY-CHEESE-5OFF")["hint"]["value"] == ["family_0_3"]


# -- a member's tags as input -----------------------------------------------------------


def test_member_tags_from_json():
    assert member_from_mapping({"tier": "gold", "tags": ["family-0-3"]}).tags == frozenset({"family-0-3"})
    with pytest.raises(QuoteInputError, match="member.tags"):
        member_from_mapping({"tags": "family-0-3"})
    with pytest.raises(QuoteInputError, match="member.tags"):
        member_from_mapping({"tags": [3]})


# -- validation -------------------------------------------------------------------------

BASE = "tiers:\n  - id: gold\nproducts:\n  - {sku: A, price: 100}\ncoupons:\n"


def problems(coupons_yaml: str) -> list[tuple[int | None, str, str]]:
    with pytest.raises(RulesInvalid) as caught:
        check_source((BASE + coupons_yaml).encode())
    return [(p.line, p.place, p.message) for p in caught.value.problems]


def test_each_segment_mistake_is_reported_with_place_and_line():
    found = problems(
        "  - id: C\n"  # line 6
        "    kind: amount_off\n"
        "    amount: 10\n"
        "    segments:\n"  # line 9
        "      any_of: [family-0-3, family-0-3]\n"  # line 10
        "      all_of: [vip, 'bad tag']\n"  # line 11
        "      none_of: [vip]\n"  # line 12
        "      one_of: [x]\n"  # line 13
    )
    assert found == [
        (10, "coupons[0].segments.any_of[1]", "'family-0-3' is listed twice (also at coupons[0].segments.any_of[0])"),
        (
            11,
            "coupons[0].segments.all_of[1]",
            "'bad tag' is not a tag: a tag starts with a letter or digit and uses only letters, digits "
            "and _ . : - (at most 64 characters), such as family-0-3",
        ),
        (
            12,
            "coupons[0].segments.none_of[0]",
            "'vip' is in both all_of and none_of: no member could be in this segment",
        ),
        (
            13,
            "coupons[0].segments.one_of",
            "unknown field (did you mean 'none_of'?); expected one of: any_of, all_of, none_of",
        ),
    ]


def test_a_segment_must_name_a_tag():
    assert problems("  - {id: C, kind: amount_off, amount: 10, segments: {any_of: []}}\n") == [
        (6, "coupons[0].segments", "names no tags; give at least one of any_of, all_of, none_of")
    ]
    assert problems("  - {id: C, kind: amount_off, amount: 10, segments: [vip]}\n") == [
        (6, "coupons[0].segments", "must be a mapping of fields")
    ]


def test_an_any_of_inside_none_of_admits_nobody():
    assert problems("  - {id: C, kind: amount_off, amount: 10, segments: {any_of: [a], none_of: [a, b]}}\n") == [
        (6, "coupons[0].segments.any_of", "every tag of any_of is also in none_of: no member could be in this segment")
    ]


def test_products_and_redemptions_are_checked_the_same_way():
    source = BASE.replace("{sku: A, price: 100}", "{sku: A, price: 100, segments: {all_of: [x], none_of: [x]}}")
    source += "redemptions:\n  - {id: R, points: 1, segments: {anyof: [x]}}\n"
    with pytest.raises(RulesInvalid) as caught:
        check_source(source.encode())
    assert [(p.line, p.place) for p in caught.value.problems] == [
        (4, "products[0].segments.none_of[0]"),
        (7, "redemptions[0].segments.anyof"),
        (7, "redemptions[0].segments"),  # and so it names no tags
    ]
    assert "did you mean 'any_of'?" in caught.value.problems[1].message


def test_sixty_four_tags_are_accepted_and_a_sixty_fifth_is_refused_by_name():
    tags = [f"tag-{k:02d}" for k in range(65)]
    coupons = [
        {"id": "ALL-BUT-ONE", "kind": "amount_off", "amount": 1, "segments": {"any_of": tags[:64]}},
        {"id": "ONE-MORE", "kind": "amount_off", "amount": 1, "segments": {"none_of": tags[60:]}},
    ]
    source = {"tiers": [{"id": "gold"}], "products": [{"sku": "A", "price": 100}], "coupons": coupons}
    with pytest.raises(Exception) as caught:
        build_table(source)
    (error,) = caught.value.errors
    assert error.place == "coupons[1].segments.none_of[4]"
    assert error.message == "'tag-64' is tag 65 of 65 distinct tags the segments name; a table may name at most 64"
    coupons.pop()
    assert len(compile_table(build_table(source)).tag_bit) == 64


def test_tags_take_bits_in_sorted_order():
    table = compile_table(build_table(parse(TABLE.encode())))
    assert table.tag_bit == {"family-0-3": 0, "family-3-6": 1, "staff": 2, "vip": 3}


def test_a_changed_segment_shows_in_the_rules_diff_as_written():
    from engine.rules.diff import diff_tables

    before = build_table(parse(TABLE.encode()))
    after = build_table(parse(TABLE.replace("{none_of: [staff]}", "{none_of: [staff, intern]}").encode()))
    (change,) = diff_tables(before, after)
    assert change["field"] == "segment"
    assert (change["from"], change["to"]) == ({"none_of": ["staff"]}, {"none_of": ["intern", "staff"]})
    assert change["text"] == "coupon NOT-FOR-STAFF segment: none_of staff -> none_of intern, staff"
