"""Tier progression in the rule table and in the quote: validation with places, and the
progress hints both evaluators give (tests/test_differential.py compares them at random)."""

from __future__ import annotations

import copy

import orjson
import pytest

from engine import evaluators, reference
from engine.compiler import compile_table
from engine.model import Member
from engine.rules.checks.common import RuleTableError
from engine.rules.validate import build_table

NOW = 1_800_000_000
TABLE = {
    "tiers": [
        {"id": "silver", "name": "银卡 silver", "reach": {"tasks": ["watch_days"], "spend": 50000, "growth": 300}},
        {"id": "gold", "name": "金卡 gold", "points_multiplier": 1.5, "reach": {"spend": 100000}},
        {"id": "black", "name": "黑金卡 black-gold"},
    ],
    "products": [{"sku": "S0", "price": 1000}],
    "points": {"events": {"watch": {"points": 20, "counts_toward": ["watch_days"], "growth": 5}}},
    "progression": {
        "tasks": {
            "watch_days": {"streak_days": 3, "hint": "watch {left} more day"},
            "invites": {"count": 3, "within_days": 30},
        },
        "growth_per_yuan": 1,
    },
}


def errors(data) -> dict:
    with pytest.raises(RuleTableError) as refused:
        build_table(data)
    return {e.place: e.message for e in refused.value.errors}


def test_the_table_reads():
    model = build_table(TABLE)
    assert model.progression.review_months == 12
    assert model.tiers[0].reach.tasks == ("watch_days",)
    assert model.tiers[2].reach is None
    assert model.points.events["watch"].growth == 5


@pytest.mark.parametrize(
    "change, place, words",
    [
        (
            lambda d: d["points"]["events"]["watch"].update(counts_toward=["watch_day"]),
            "points.events.watch.counts_toward[0]",
            "did you mean 'watch_days'",
        ),
        (
            lambda d: d["tiers"][0]["reach"].update(tasks=["invite"]),
            "tiers[0].reach.tasks[0]",
            "did you mean 'invites'",
        ),
        (lambda d: d["tiers"][1].update(reach={}), "tiers[1].reach", "at least one of"),
        (lambda d: d["progression"]["tasks"].update(x={"streak_days": 2, "count": 2}), "progression.tasks.x", "either"),
        (
            lambda d: d["progression"]["tasks"].update(x={"streak_days": 2, "within_days": 2}),
            "progression.tasks.x.within_days",
            "count",
        ),
        (lambda d: d["progression"].update(review_months=0), "progression.review_months", "between 1 and 120"),
        (lambda d: d.pop("progression"), "tiers[0].reach", "add a `progression` section"),
    ],
)
def test_mistakes_are_refused_with_their_place(change, place, words):
    data = copy.deepcopy(TABLE)
    change(data)
    found = errors(data)
    assert place in found and words in found[place], found


def test_counts_toward_without_progression_is_kept_as_before():
    data = {"tiers": [{"id": "gold"}], "points": {"events": {"share": {"points": 5, "counts_toward": ["daily"]}}}}
    assert build_table(data).points.events["share"].counts_toward == ("daily",)


def quotes(member: Member, lines=(("S0", 1),)) -> dict:
    table = compile_table(build_table(TABLE))
    expected = reference.quote(table, member, None, NOW, list(lines))
    actual = evaluators.get("compiled").quote(table, member, None, NOW, list(lines))
    assert actual.to_raw() == expected.to_raw()
    assert actual.to_dict() == expected.to_dict() == orjson.loads(actual.to_json())
    return expected.to_dict()["tier_progress"]


def test_a_visitor_sees_the_way_to_silver():
    progress = quotes(Member(tasks={"watch_days": 2}, spend_12m=100))
    assert progress["tier"] == "silver"
    assert progress["hints"] == [
        {"code": "spend_more", "value": 48900, "text": "spend 489.00 more to reach 银卡 silver"},
        {"code": "growth_more", "value": 290, "text": "earn 290 more growth to reach 银卡 silver"},
        {"code": "task", "task": "watch_days", "value": 1, "text": "watch 1 more day"},
    ]


def test_this_order_reaches_gold():
    progress = quotes(Member(tier="silver", spend_12m=99_500))
    assert progress == {
        "tier": "gold",
        "name": "金卡 gold",
        "hints": [{"code": "reached", "value": 0, "text": "this order reaches 金卡 gold"}],
    }


def test_no_tier_above_with_a_reach_shows_null():
    assert quotes(Member(tier="gold")) is None
    assert quotes(Member(tier="black")) is None


def test_a_table_without_progression_has_no_tier_progress_key():
    table = compile_table(build_table({"tiers": [{"id": "gold"}], "products": [{"sku": "S0", "price": 100}]}))
    for evaluator in (reference, evaluators.get("compiled")):
        assert "tier_progress" not in evaluator.quote(table, Member(), None, NOW, [("S0", 1)]).to_dict()
    assert b"tier_progress" not in evaluators.get("compiled").quote(table, Member(), None, NOW, [("S0", 1)]).to_json()


def test_the_documented_example_reads_and_quotes_as_written():
    """docs/RULES.md's worked example of tier progression."""
    import pathlib

    import yaml

    text = (pathlib.Path(__file__).parents[1] / "docs" / "RULES.md").read_text(encoding="utf-8")
    section = text.split("## Tier progression", 1)[1].split("### Worked example", 1)[1]
    data = yaml.safe_load(section.split("```yaml\n", 1)[1].split("```", 1)[0])
    data["products"] = [{"sku": "S0", "price": 3000}]
    table = compile_table(build_table(data))
    member = Member(growth=10, tasks={"watch_days": 2})
    for evaluator in (reference, evaluators.get("compiled")):
        progress = evaluator.quote(table, member, None, NOW, [("S0", 1)]).to_dict()["tier_progress"]
        assert progress["tier"] == "silver"
        assert [(h["code"], h["value"], h["text"]) for h in progress["hints"]] == [
            ("growth_more", 260, "earn 260 more growth to reach 银卡 silver"),
            ("task", 1, "watch 1 more day"),
            ("task", 3, "invite 3 more"),
        ]


def test_the_rules_diff_names_progression_changes():
    from engine.rules.diff import diff_tables

    changed = copy.deepcopy(TABLE)
    changed["tiers"][1]["reach"] = {"spend": 60000, "growth": 5}
    changed["progression"]["review_months"] = 6
    texts = [c["text"] for c in diff_tables(build_table(TABLE), build_table(changed))]
    assert texts == ["tier gold reach: spend 1000.00 yuan -> spend 600.00 yuan or growth 5", "progression: changed"]


def test_stored_task_states_read_as_the_service_counts_them():
    from engine.model import Task
    from engine.progression import local_day, task_progress

    streak = Task("watch_days", streak_days=3, count=None, within_days=None, orders=False, hint="")
    today = local_day(NOW, 8 * 3600)
    assert task_progress(streak, f"{today} 2", NOW, 8 * 3600) == 2
    assert task_progress(streak, f"{today - 1} 5", NOW, 8 * 3600) == 3  # alive, at most the target
    assert task_progress(streak, f"{today - 2} 2", NOW, 8 * 3600) == 0  # broken
    invites = Task("invites", streak_days=None, count=3, within_days=30, orders=False, hint="")
    state = f"{NOW - 31 * 86400} {NOW - 86400} {NOW} {NOW + 5}"
    assert task_progress(invites, state, NOW, 8 * 3600) == 2
    assert task_progress(invites, "garbage", NOW, 8 * 3600) == 0


def test_a_members_progression_figures_are_read_and_checked():
    from engine.inputs import QuoteInputError, member_from_mapping

    member = member_from_mapping({"tier": "silver", "spend_12m": 12000, "growth": 40, "tasks": {"watch_days": 2}})
    assert (member.spend_12m, member.growth, member.tasks) == (12000, 40, {"watch_days": 2})
    for bad, field in (
        ({"spend_12m": -1}, "member.spend_12m"),
        ({"spend_12m": 1.5}, "member.spend_12m"),
        ({"growth": 10**14}, "member.growth"),
        ({"tasks": {"watch_days": 1001}}, "member.tasks"),
        ({"tasks": ["watch_days"]}, "member.tasks"),
    ):
        with pytest.raises(QuoteInputError) as refused:
            member_from_mapping(bad)
        assert refused.value.field == field
