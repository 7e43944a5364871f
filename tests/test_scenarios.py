"""The gala-night scenarios a checkout must get right, each through both evaluators."""

from __future__ import annotations

from conftest import at, coupon, redemption

from engine.model import Member, Stock

GALA_21 = at("2026-11-11 21:00")


def quote(evaluator, demo, member, lines, room="gala", now=GALA_21, fulfillment="delivery", stock=None):
    return evaluator.quote(demo, member, room, now, lines, fulfillment, stock).to_dict()


# -- visibility and tier prices ----------------------------------------------------------


def test_black_gold_buys_limited_cheese_ten_percent_below_gold(evaluator, demo):
    result = quote(evaluator, demo, Member(tier="black_gold"), [("CHEESE-LTD", 1)], room=None)
    line = result["lines"][0]
    assert line["eligible"] is True
    assert line["price_layer"] == "tier"
    assert line["unit_price"] == 8910 == 9900 * 90 // 100


def test_gold_is_refused_limited_cheese_with_a_reason(evaluator, demo):
    result = quote(evaluator, demo, Member(tier="gold"), [("CHEESE-LTD", 1)], room=None)
    line = result["lines"][0]
    assert line["eligible"] is False
    assert line["reason"] == "tier_too_low"
    assert line["hint"]["value"] == "black_gold"
    assert line["unit_price"] is None
    assert result["totals"] == {"subtotal": 0, "discount": 0, "payable": 0}


def test_tier_price_holds_for_higher_tiers_without_their_own(evaluator, demo):
    # MILK-1L sets silver and gold prices; black-gold inherits gold's.
    result = quote(evaluator, demo, Member(tier="black_gold"), [("MILK-1L", 1)], room=None)
    assert (result["lines"][0]["unit_price"], result["lines"][0]["price_layer"]) == (1390, "tier")


def test_unknown_sku_is_a_line_not_an_error(evaluator, demo):
    result = quote(evaluator, demo, Member(tier="gold"), [("NO-SUCH-SKU", 2), ("MILK-1L", 1)], room=None)
    assert result["lines"][0]["reason"] == "unknown_sku"
    assert result["lines"][1]["eligible"] is True
    assert result["totals"]["subtotal"] == 1390


def test_members_only_room_refuses_visitors(evaluator, demo):
    day = at("2026-11-28 20:30")
    visitor = quote(evaluator, demo, Member(), [("A2-MILK-12", 1)], room="member-day", now=day)
    assert visitor["lines"][0]["reason"] == "members_only_room"
    assert visitor["lines"][0]["hint"]["code"] == "join_membership"
    member = quote(evaluator, demo, Member(tier="silver"), [("A2-MILK-12", 1)], room="member-day", now=day)
    assert (member["lines"][0]["unit_price"], member["lines"][0]["price_layer"]) == (7900, "live")


def test_per_member_quantity_limit_counts_past_purchases_and_earlier_lines(evaluator, demo):
    member = Member(tier="black_gold", sku_bought={"CHEESE-LTD": 1})
    result = quote(evaluator, demo, member, [("CHEESE-LTD", 1), ("CHEESE-LTD", 1)], room=None)
    assert result["lines"][0]["eligible"] is True
    assert result["lines"][1]["reason"] == "member_limit_reached"
    assert result["lines"][1]["hint"] is None  # nothing more allowed
    over = quote(evaluator, demo, member, [("CHEESE-LTD", 2)], room=None)
    assert over["lines"][0]["reason"] == "member_limit_reached"
    assert over["lines"][0]["hint"] == {"code": "quantity_left", "value": 1, "text": "at most 1 more for you"}


# -- live prices and coupons -------------------------------------------------------------


def test_gold_gets_85_percent_storewide_inside_the_gala_window_only(evaluator, demo):
    cart = [("MILK-1L", 2), ("YOGURT-6", 1)]
    inside = quote(evaluator, demo, Member(tier="gold"), cart)
    assert [line["price_layer"] for line in inside["lines"]] == ["live", "live"]
    assert coupon(inside, "GOLD-GALA-85") == {
        "applied": True,
        "id": "GOLD-GALA-85",
        "name": coupon(inside, "GOLD-GALA-85")["name"],
        "kind": "percent_off",
        "amount": 387 + 449,
    }
    assert [line["coupons"] for line in inside["lines"]] == [
        [{"id": "GOLD-GALA-85", "amount": 387}],
        [{"id": "GOLD-GALA-85", "amount": 449}],
    ]
    assert inside["totals"] == {"subtotal": 5570, "discount": 836, "payable": 4734}

    before = quote(evaluator, demo, Member(tier="gold"), cart, now=at("2026-11-11 19:50"))
    early = coupon(before, "GOLD-GALA-85")
    assert (early["applied"], early["reason"]) == (False, "outside_window")
    assert early["hint"] == {"code": "opens_in", "value": 600, "text": "opens in 10 minutes"}
    assert [line["price_layer"] for line in before["lines"]] == ["tier", "tier"]  # room not live yet

    after = quote(evaluator, demo, Member(tier="gold"), cart, now=at("2026-11-11 23:00"))
    late = coupon(after, "GOLD-GALA-85")
    assert (late["reason"], late["hint"]) == ("outside_window", None)


def test_coupon_of_another_room_says_which_room(evaluator, demo):
    result = quote(evaluator, demo, Member(tier="gold"), [("MILK-1L", 1)], room=None)
    gold = coupon(result, "GOLD-GALA-85")
    assert gold["reason"] == "not_in_room"
    assert gold["hint"]["code"] == "join_room" and gold["hint"]["value"] == "gala"


def test_black_gold_zero_price_cheese_once_then_member_limit(evaluator, demo):
    first = quote(evaluator, demo, Member(tier="black_gold"), [("CHEESE-LTD", 1)])
    assert coupon(first, "BG-CHEESE-ZERO")["amount"] == 8910
    assert first["lines"][0]["final"] == 0
    assert coupon(first, "BG-GALA-88")["reason"] == "lost_to_better_combination"
    assert first["totals"]["payable"] == 0

    again = quote(evaluator, demo, Member(tier="black_gold", coupon_uses={"BG-CHEESE-ZERO": 1}), [("CHEESE-LTD", 1)])
    assert coupon(again, "BG-CHEESE-ZERO")["reason"] == "member_limit_reached"
    assert coupon(again, "BG-GALA-88")["amount"] == 1069  # 12% of 89.10, rounded half up
    assert again["totals"]["payable"] == 8910 - 1069


def test_coupon_out_of_stock(evaluator, demo):
    result = quote(
        evaluator, demo, Member(tier="black_gold"), [("CHEESE-LTD", 1)], stock=Stock(coupons={"BG-CHEESE-ZERO": 0})
    )
    assert coupon(result, "BG-CHEESE-ZERO")["reason"] == "out_of_stock"


def test_threshold_and_percent_in_one_stack_group_give_the_better(evaluator, demo):
    silver = quote(evaluator, demo, Member(tier="silver"), [("POWDER-900", 1)])
    assert coupon(silver, "SPEND199-SAVE30")["amount"] == 3000  # beats 5% of 268.00 = 13.40
    assert coupon(silver, "SILVER-95")["reason"] == "lost_to_better_combination"
    assert silver["totals"]["payable"] == 26800 - 3000

    gold = quote(evaluator, demo, Member(tier="gold"), [("POWDER-900", 1)])
    assert coupon(gold, "GOLD-GALA-85")["amount"] == 3720  # 15% of 248.00 beats 30.00
    assert coupon(gold, "SPEND199-SAVE30")["reason"] == "lost_to_better_combination"
    assert len(gold["coupons_applied"]) == 1


def test_threshold_not_met_says_how_much_to_add(evaluator, demo):
    result = quote(evaluator, demo, Member(tier="silver"), [("YOGURT-6", 5)])  # 5 x 29.90 live
    spend = coupon(result, "SPEND199-SAVE30")
    assert spend["reason"] == "threshold_not_met"
    assert spend["hint"] == {"code": "add_amount", "value": 19900 - 14950, "text": "add 49.50 yuan more of these items"}
    assert coupon(result, "SILVER-95")["amount"] == 748  # 5% of 149.50, half up


def test_coupon_for_a_higher_tier_says_which(evaluator, demo):
    result = quote(evaluator, demo, Member(tier="silver"), [("POWDER-900", 1)])
    assert coupon(result, "BG-GALA-88")["hint"]["value"] == "black_gold"
    assert coupon(result, "GOLD-GALA-85")["hint"]["value"] == "gold"
    gold = quote(evaluator, demo, Member(tier="gold"), [("POWDER-900", 1)])
    silver_only = coupon(gold, "SILVER-95")  # no upgrade reaches a silver-only coupon
    assert (silver_only["reason"], silver_only["hint"]) == ("tier_not_eligible", None)


def test_exclusive_newcomer_coupon_for_visitors(evaluator, demo):
    result = quote(evaluator, demo, Member(), [("BUTTER-250", 1)], room=None)
    assert coupon(result, "NEWCOMER-10")["amount"] == 1000
    assert result["points"]["total"] == 0 and result["points"]["note"]


# -- points ------------------------------------------------------------------------------


def test_points_paid_yuan_times_ten_times_multipliers_plus_50_per_live_order(evaluator, demo):
    cart = [("MILK-1L", 2), ("YOGURT-6", 1)]
    result = quote(evaluator, demo, Member(tier="gold", birthday_month=3), cart)
    points = result["points"]
    assert result["totals"]["payable"] == 4734
    assert points["base"] == 473  # 47.34 yuan x 10, whole points
    assert [(m["source"], m["percent"]) for m in points["multipliers"]] == [("tier", 150), ("room", 200)]
    assert points["after_multipliers"] == 473 * 3 // 2 * 2 == 1418
    assert points["bonuses"] == [{"source": "room_order", "id": "gala", "points": 50}]
    assert points["total"] == 1418 + 50


def test_points_doubled_in_birthday_month(evaluator, demo):
    cart = [("MILK-1L", 2), ("YOGURT-6", 1)]
    result = quote(evaluator, demo, Member(tier="gold", birthday_month=11), cart)
    assert result["points"]["multipliers"][-1] == {"source": "birthday_month", "id": None, "percent": 200}
    assert result["points"]["total"] == 1418 * 2 + 50


def test_no_live_bonus_outside_the_room(evaluator, demo):
    result = quote(evaluator, demo, Member(tier="gold"), [("MILK-1L", 2)], room=None)
    assert result["points"]["bonuses"] == []
    assert result["points"]["total"] == 2780 * 10 // 100 * 150 // 100


# -- redemptions -------------------------------------------------------------------------


def test_oatmeal_open_and_flash_eggs_only_in_the_last_five_minutes(evaluator, demo):
    member = Member(tier="gold", points=1850)
    early = quote(evaluator, demo, member, [], now=at("2026-11-11 22:54"))
    assert redemption(early, "OATMEAL-LOWGI")["available"] is True
    eggs = redemption(early, "FLASH-EGGS")
    assert (eggs["available"], eggs["reason"]) == (False, "outside_window")
    assert eggs["hint"]["text"] == "opens in 1 minute"

    flash = quote(evaluator, demo, member, [], now=at("2026-11-11 22:55"))
    assert redemption(flash, "FLASH-EGGS")["available"] is True
    closed = quote(evaluator, demo, member, [], now=at("2026-11-11 23:00"))
    assert redemption(closed, "FLASH-EGGS")["reason"] == "outside_window"


def test_redemption_refusals_say_why(evaluator, demo):
    result = quote(evaluator, demo, Member(tier="gold", points=900), [], now=at("2026-11-11 22:56"))
    assert redemption(result, "OATMEAL-LOWGI")["hint"] == {
        "code": "earn_points",
        "value": 900,
        "text": "earn 900 more points",
    }
    assert redemption(result, "TRIAL-PACK")["reason"] == "task_locked"
    assert redemption(result, "TRIAL-PACK")["hint"]["value"] == 3
    assert redemption(result, "BG-TEA-SET")["reason"] == "tier_too_low"
    unlocked = quote(evaluator, demo, Member(tier="gold", sessions_watched=3), [], room=None)
    assert redemption(unlocked, "TRIAL-PACK")["available"] is True
    assert redemption(unlocked, "FLASH-EGGS")["reason"] == "not_in_room"
    used = quote(
        evaluator,
        demo,
        Member(tier="gold", points=5000, redemption_uses={"OATMEAL-LOWGI": 2}),
        [],
        room=None,
        stock=Stock(redemptions={"OLIVE-OIL": 0}),
    )
    assert redemption(used, "OATMEAL-LOWGI")["reason"] == "member_limit_reached"
    assert redemption(used, "OLIVE-OIL")["reason"] == "out_of_stock"


def test_a_member_owing_points_redeems_nothing_that_costs_points_until_paid(evaluator, demo):
    owing = Member(tier="gold", points=5000, sessions_watched=3, points_debt=120)
    result = quote(evaluator, demo, owing, [], room=None)
    assert redemption(result, "OATMEAL-LOWGI")["reason"] == "points_debt"
    assert redemption(result, "OATMEAL-LOWGI")["hint"] == {
        "code": "pay_debt",
        "value": 120,
        "text": "120 points are owed from a refund; the next points earned pay them",
    }
    assert redemption(result, "TRIAL-PACK")["available"] is True  # costs no points: a debt does not stop it
    paid = quote(evaluator, demo, Member(tier="gold", points=5000, sessions_watched=3), [], room=None)
    assert redemption(paid, "OATMEAL-LOWGI")["available"] is True


# -- fulfillment -------------------------------------------------------------------------


def test_pickup_is_ten_percent_below_delivery(evaluator, demo):
    cart = [("MILK-1L", 1), ("BUTTER-250", 1)]
    delivery = quote(evaluator, demo, Member(tier="gold"), cart, room=None)
    pickup = quote(evaluator, demo, Member(tier="gold"), cart, room=None, fulfillment="pickup")
    for d, p in zip(delivery["lines"], pickup["lines"]):
        assert p["price_layer"] == "pickup"
        assert p["unit_price"] == d["unit_price"] - (d["unit_price"] * 10 + 50) // 100
    assert [p["unit_price"] for p in pickup["lines"]] == [1251, 2601]


def test_both_evaluators_name_the_applied_coupons_alike(evaluator, demo):
    from engine.model import Member

    quote = evaluator.quote(demo, Member(tier="black_gold"), "gala", at("2026-11-11 21:00"), [("CHEESE-LTD", 1)])
    assert [demo.model.coupons[k].id for k in quote.applied_coupons()] == [
        c["id"] for c in quote.to_dict()["coupons_applied"]
    ]
    assert quote.applied_coupons()
    offered = [demo.model.redemptions[k].id for k in quote.available_redemptions()]
    assert offered == [r["id"] for r in quote.to_dict()["redemptions"] if r["available"]]
