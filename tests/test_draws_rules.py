"""The `draws` section of a rule table: defaults, and every mistake reported with its
line, its place and, for a misspelt name, a suggestion."""

from __future__ import annotations

import pytest

from engine.demo import DEMO_RULES
from engine.rules.diff import diff_tables
from engine.rules.load import RulesInvalid, check_source
from engine.rules.validate import build_table

HEAD = """\
tiers: [{id: silver}, {id: gold}, {id: black_gold}]
products: [{sku: CHEESE, price: 9900}]
rooms:
  - {id: gala, start: "2026-11-11T20:00:00+08:00", end: "2026-11-11T23:00:00+08:00"}
coupons:
  - {id: AUTO, kind: amount_off, amount: 100}
  - {id: BOUGHT, kind: amount_off, amount: 100, issue: granted, valid_days: 7}
draws:
"""


def problems(draw: str) -> list[tuple]:
    with pytest.raises(RulesInvalid) as caught:
        check_source((HEAD + draw).encode())
    return [(p.line, p.place, p.message) for p in caught.value.problems]


def test_the_demo_draw_and_the_defaults():
    table = check_source(DEMO_RULES.read_bytes())
    (lucky,) = table.draws
    assert (lucky.room, lucky.cost, lucky.entries_per_member, lucky.max_entries) == ("gala", 0, 1, 100_000)
    assert sum(p.stock for p in lucky.prizes) == 10 == len(lucky.prize_slots())
    assert (lucky.weight("black_gold"), lucky.weight("gold"), lucky.weight("silver")) == (3, 2, 1)
    plain = check_source((HEAD + "  - {id: D, room: gala, prizes: [{id: P, points: 5}]}\n").encode())
    (d,) = plain.draws
    room = plain.rooms[0]
    assert (d.opens, d.closes, d.weights, d.prizes[0].stock) == (room.start, room.end, {}, 1)


def test_a_misspelt_room_tier_sku_or_field_is_named_with_its_line():
    found = problems(
        "  - id: D\n"  # line 9
        "    room: galla\n"
        "    window: {from: room_start}\n"
        "    weights: {gold: 2, goldd: 3, visitor: 1}\n"
        "    prizes:\n"
        "      - {id: P, sku: CHEES}\n"  # line 14
        "      - {id: Q, coupon: AUTO}\n"
        "      - {id: R, coupon: NOPE}\n"
        "      - {id: S, points: 5, sku: CHEESE}\n"
        "      - {id: T, pointz: 5}\n"
    )
    text = {(line, place): message for line, place, message in found}
    assert "did you mean 'gala'" in text[(10, "draws[0].room")]
    assert "both ends" in text[(11, "draws[0].window.to")]  # said beside the unknown room
    assert "did you mean 'gold'" in text[(12, "draws[0].weights.goldd")]
    assert "visitors may not enter" in text[(12, "draws[0].weights.visitor")]
    assert "did you mean 'CHEESE'" in text[(14, "draws[0].prizes[0].sku")]
    assert "issue: granted" in text[(15, "draws[0].prizes[1].coupon")]
    assert "unknown coupon 'NOPE'" in text[(16, "draws[0].prizes[2].coupon")]
    assert "not sku and points" in text[(17, "draws[0].prizes[3]")]
    assert "did you mean 'points'" in text[(18, "draws[0].prizes[4].pointz")]


@pytest.mark.parametrize(
    ("draw", "place", "words"),
    [
        ("{id: D, room: gala, prizes: []}", "draws[0].prizes", "at least one prize"),
        (
            "{id: D, room: gala, prizes: [{id: P, points: 1, stock: 600}, {id: Q, points: 1, stock: 401}]}",
            "draws[0].prizes",
            "at most 1000 prizes",
        ),
        ("{id: D, room: gala, weights: {gold: 0}, prizes: [{id: P, points: 1}]}", "draws[0].weights.gold", "between 1"),
        ("{id: D, room: gala, cost: -1, prizes: [{id: P, points: 1}]}", "draws[0].cost", "between 0"),
        (
            "{id: D, room: gala, entries_per_member: 0, prizes: [{id: P, points: 1}]}",
            "draws[0].entries_per_member",
            "between 1",
        ),
        (
            "{id: D, room: gala, max_entries: 200001, prizes: [{id: P, points: 1}]}",
            "draws[0].max_entries",
            "between 1 and 200000",
        ),
        (
            "{id: D, room: gala, window: {from: room_start}, prizes: [{id: P, points: 1}]}",
            "draws[0].window.to",
            "both ends",
        ),
        (
            "{id: D, room: gala, window: {from: room_end, to: room_start}, prizes: [{id: P, points: 1}]}",
            "draws[0].window.to",
            "after it starts",
        ),
        ("{id: D, prizes: [{id: P, points: 1}]}", "draws[0].room", "is required"),
        (
            "{id: D, room: gala, prizes: [{id: P, points: 1}, {id: P, points: 2}]}",
            "draws[0].prizes[1].id",
            "used twice",
        ),
    ],
)
def test_wrong_draws_are_refused(draw, place, words):
    found = problems(f"  - {draw}\n")
    assert any(p == place and words in m for _, p, m in found), found


def test_two_draws_with_one_id_are_refused():
    found = problems("  - {id: D, room: gala, prizes: [{id: P, points: 1}]}\n" * 2)
    assert any(p == "draws[1].id" and "used twice" in m for _, p, m in found)


def test_a_changed_draw_is_told_by_the_diff():
    data = {"tiers": [{"id": "gold"}], "rooms": [{"id": "r", "start": "2026-01-01", "end": "2026-01-02"}]}
    old = build_table({**data, "draws": [{"id": "D", "room": "r", "prizes": [{"id": "P", "points": 5}]}]})
    new = build_table({**data, "draws": [{"id": "D", "room": "r", "prizes": [{"id": "P", "points": 5, "stock": 3}]}]})
    (change,) = diff_tables(old, new)
    assert (change["item"], change["id"], change["field"]) == ("draw", "D", "prizes")
    assert change["to"] == ["P x3: points 5"]
