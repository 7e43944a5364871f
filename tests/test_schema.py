"""The JSON Schema of the rule format (engine/schema.py) says what engine/validate.py says.

Field names are read from validate.py's own "unknown field; expected one of: ..." messages
and integer bounds are probed against build_table, so the two cannot drift apart.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path

import jsonschema
import pytest

from engine.model import COUPON_KINDS, MAX_MULTIPLIER_PERCENT
from engine.rules.checks.common import MAX_STOCK, RuleTableError, format_path
from engine.rules.schema import rule_table_schema
from engine.rules.source import parse
from engine.rules.validate import build_table

DEMO = Path(__file__).resolve().parents[1] / "examples" / "rules" / "dairy-gala.yaml"
SCHEMA = rule_table_schema()
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)

# A small valid table that has every section, so a field can be tried in each.
MINIMAL = {
    "tiers": [{"id": "silver", "reach": {"spend": 100}}, {"id": "gold"}],
    "products": [
        {"sku": "MILK", "price": 1000, "category": "milk", "tier_prices": {}, "segments": {"none_of": ["staff"]}}
    ],
    "rooms": [
        {"id": "gala", "start": "2026-11-11T20:00:00+08:00", "end": "2026-11-11T23:00:00+08:00", "live_prices": {}}
    ],
    "fulfillment": {},
    "coupons": [
        {
            "id": "C",
            "kind": "percent_off",
            "percent_off": 10,
            "scope": {"skus": ["MILK"]},
            "room": "gala",
            "window": {"from": "room_start"},
            "segments": {"any_of": ["family-0-3", "family-3-6"], "all_of": ["vip"]},
        }
    ],
    "points": {"events": {"watch": {"points": 1}, "share": {"points": 1}}},
    "redemptions": [
        {"id": "R", "points": 1, "unlock": {"sessions_watched": 1}, "window": {}, "segments": {"all_of": ["vip"]}}
    ],
    "progression": {"tasks": {"s": {"streak_days": 1}, "c": {"count": 1}}},
    "draws": [
        {
            "id": "D",
            "room": "gala",
            "window": {"from": "room_start", "to": "room_end"},
            "weights": {"gold": 2},
            "prizes": [{"id": "P", "sku": "MILK"}],
        }
    ],
}

# Every mapping validate.py checks field by field, as a path into MINIMAL.
SECTIONS = [
    (),
    ("tiers", 0),
    ("products", 0),
    ("products", 0, "segments"),
    ("rooms", 0),
    ("fulfillment",),
    ("coupons", 0),
    ("coupons", 0, "scope"),
    ("coupons", 0, "window"),
    ("coupons", 0, "segments"),
    ("points",),
    ("points", "events", "watch"),
    ("points", "events", "share"),
    ("redemptions", 0),
    ("redemptions", 0, "unlock"),
    ("redemptions", 0, "window"),
    ("redemptions", 0, "segments"),
    ("tiers", 0, "reach"),
    ("progression",),
    ("progression", "tasks", "c"),
    ("draws", 0),
    ("draws", 0, "window"),
    ("draws", 0, "prizes", 0),
]

# A coupon of each kind with its amounts, to host the kind's own fields.
COUPON_OF_KIND = {
    "fixed_price": {"id": "C", "kind": "fixed_price", "price": 0},
    "percent_off": {"id": "C", "kind": "percent_off", "percent_off": 10},
    "amount_off": {"id": "C", "kind": "amount_off", "amount": 500},
    "threshold_off": {"id": "C", "kind": "threshold_off", "threshold": 2000, "amount": 1},
}
KIND_FIELD_VALUES = {"percent_off": 10, "max_discount": 100, "amount": 1, "threshold": 2000, "price": 0, "units": 1}


def schema_errors(data) -> list:
    return list(VALIDATOR.iter_errors(data))


def engine_errors(data) -> list:
    try:
        build_table(copy.deepcopy(data))
    except RuleTableError as exc:
        return exc.errors
    return []


def at(data, path: tuple):
    for part in path:
        data = data[part]
    return data


def schema_at(path: tuple) -> dict:
    """The object schema that describes the mapping at `path` of a table."""

    def resolve(node: dict) -> dict:
        while True:
            if "$ref" in node:
                node = at(SCHEMA, tuple(node["$ref"].lstrip("#/").split("/")))
            elif "anyOf" in node:
                node = next(n for n in node["anyOf"] if n.get("type") in ("object", "array") or "$ref" in n)
            else:
                return node

    node = SCHEMA
    for part in path:
        node = resolve(node)
        if isinstance(part, int):
            node = node["items"]
        elif part in node.get("properties", {}):
            node = node["properties"][part]
        else:  # a mapping keyed by the author's names (progression.tasks)
            node = node["additionalProperties"]
    return resolve(node)


def with_value(path: tuple, key, value, base: dict = MINIMAL) -> dict:
    data = copy.deepcopy(base)
    at(data, path)[key] = value
    return data


def expected_fields(message: str) -> set:
    match = re.search(r"(?:expected one of:|kinds are) (.*)$", message)
    assert match, message
    return set(match.group(1).split(", "))


# -- the demo and the schema itself ---------------------------------------------------------


def test_schema_is_a_valid_draft_2020_12_schema():
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    assert SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert SCHEMA["$id"] and SCHEMA["title"]


def test_demo_table_is_valid_for_schema_and_engine():
    data = parse(DEMO.read_bytes())
    assert schema_errors(data) == []
    assert engine_errors(data) == []


def test_minimal_table_is_valid_for_schema_and_engine():
    assert schema_errors(MINIMAL) == []
    assert engine_errors(MINIMAL) == []


def test_every_field_has_a_description():
    for path in SECTIONS + [("points", "events")]:
        section = schema_at(path)
        assert section.get("description"), path
        for name, prop in section["properties"].items():
            assert prop.get("description"), (path, name)


# -- wrong tables are refused by both ---------------------------------------------------------


def _demo() -> dict:
    return parse(DEMO.read_bytes())


def _set(path: tuple, key, value):
    def change(data):
        at(data, path)[key] = value

    return change


def _drop(path: tuple, key):
    def change(data):
        del at(data, path)[key]

    return change


WRONG = [
    ("float price", _set(("products", 0), "price", 15.9), "products[0].price", "money is written in fen"),
    ("unknown field", _set(("coupons", 1), "colour", "red"), "coupons[1].colour", "unknown field"),
    ("unknown top-level field", _set((), "coupon", []), "coupon", "unknown field"),
    ("unknown coupon kind", _set(("coupons", 2), "kind", "buy_one_get_one"), "coupons[2].kind", "unknown kind"),
    (
        "bad relative window",
        _set(("coupons", 5, "window"), "from", "room_end minus 30m"),
        "coupons[5].window.from",
        "is not understood",
    ),
    (
        "window that is not a time",
        _set(("redemptions", 2, "window"), "to", "tonight at ten"),
        "redemptions[2].window.to",
        "is not a time",
    ),
    (
        "relative window without a room",
        _set(("coupons", 6), "window", {"from": "room_start"}),
        "coupons[6].window.from",
        "name the room",
    ),
    ("room start that is relative", _set(("rooms", 0), "start", "room_start"), "rooms[0].start", "is not a time"),
    ("tiers and min_tier", _set(("coupons", 0), "min_tier", "silver"), "coupons[0].min_tier", "not both"),
    (
        "field of another kind",
        _set(("coupons", 2), "percent_off", 10),
        "coupons[2].percent_off",
        "does not belong to a fixed_price coupon",
    ),
    ("missing kind amount", _drop(("coupons", 3), "threshold"), "coupons[3].threshold", "is required"),
    ("missing id", _drop(("redemptions", 1), "id"), "redemptions[1].id", "is required"),
    (
        "multiplier with three decimals",
        _set(("tiers", 1), "points_multiplier", "1.555"),
        "tiers[1].points_multiplier",
        "at most two decimal places",
    ),
    ("multiplier of zero", _set(("rooms", 0), "points_multiplier", 0), "rooms[0].points_multiplier", "between"),
    ("visitor listed as a tier", _set(("tiers", 0), "id", "visitor"), "tiers[0].id", "implicit tier"),
    ("bad id", _set(("products", 1), "sku", "YOGURT 6"), "products[1].sku", "must start with a letter or digit"),
    ("empty scope", _set(("coupons", 2), "scope", {}), "coupons[2].scope", "names no skus"),
    ("scope that is text", _set(("coupons", 2), "scope", "everything"), "coupons[2].scope", "mapping"),
    ("percent above 100", _set(("coupons", 0), "percent_off", 150), "coupons[0].percent_off", "between 1 and 100"),
    ("timezone name", _set((), "timezone", "Asia/Shanghai"), "timezone", "UTC offset"),
    ("format 2", _set((), "format", 2), "format", "reads format 1"),
    ("flag as text", _set(("coupons", 6), "exclusive", "yes"), "coupons[6].exclusive", "true or false"),
    ("empty stack group", _set(("coupons", 0), "stack_group", ""), "coupons[0].stack_group", "non-empty"),
    ("free redemption", _set(("redemptions", 0), "points", 0), "redemptions[0].points", "must cost points or cash"),
    (
        "event kind with a hyphen",
        _set(("points", "events"), "check-in", {"points": 5}),
        "points.events.check-in",
        "an event kind is a lower-case name",
    ),
    (
        "misspelt event field",
        _set(("points", "events", "share"), "cap_per_wek", 60),
        "points.events.share.cap_per_wek",
        "unknown field (did you mean 'cap_per_week'?)",
    ),
    (
        "author's event kind without points",
        _set(("points", "events"), "check_in", {"cap_per_day": 5}),
        "points.events.check_in.points",
        "is required",
    ),
    (
        "task name with a space",
        _set(("points", "events"), "check_in", {"points": 5, "counts_toward": ["gold tasks"]}),
        "points.events.check_in.counts_toward[0]",
        "a task name starts with a letter or digit",
    ),
    (
        "task named twice",
        _set(("points", "events"), "check_in", {"points": 5, "counts_toward": ["daily", "daily"]}),
        "points.events.check_in.counts_toward[1]",
        "listed twice",
    ),
    (
        "week cap of zero",
        _set(("points", "events", "share"), "cap_per_week", 0),
        "points.events.share.cap_per_week",
        "between 1 and",
    ),
    ("no tiers", _set((), "tiers", []), "tiers", "at least one tier"),
    (
        "points expiry in days and months",
        lambda data: data["points"].update(expire_after_days=365, expire_after_months=12),
        "points.expire_after_months",
        "give either expire_after_days or expire_after_months, not both",
    ),
    (
        "tier price for visitors",
        _set(("products", 0, "tier_prices"), "visitor", 1000),
        "products[0].tier_prices.visitor",
        "unknown tier",
    ),
]


@pytest.mark.parametrize("change, place, message", [w[1:] for w in WRONG], ids=[w[0] for w in WRONG])
def test_wrong_table_is_refused_by_schema_and_engine(change, place, message):
    data = _demo()
    change(data)
    errors = engine_errors(data)
    assert any(e.place == place and message in e.message for e in errors), [str(e) for e in errors]
    refused = schema_errors(data)
    assert refused, "the schema accepts what build_table refuses"
    # the schema points at the same field, or at the mapping that holds it
    schema_places = [format_path(tuple(e.absolute_path)) for e in refused]
    assert any(_within(place, p) for p in schema_places), schema_places


def _within(place: str, holder: str) -> bool:
    """Is `place` the field `holder` or a field of it ("" is the table itself)?"""
    if not holder:
        return not re.search(r"[.\[]", place)
    return place == holder or place.startswith(holder + ".") or place.startswith(holder + "[")


def test_errors_carry_place_and_message():
    data = _demo()
    data["coupons"][3]["window"] = {"from": "room_start", "to": "room_start - 1h"}
    (error,) = engine_errors(data)
    assert (error.place, error.message) == ("coupons[3].window.to", "must end after it starts")
    assert str(error) == "coupons[3].window.to: must end after it starts"


# -- field names and kinds cannot drift ---------------------------------------------------------


@pytest.mark.parametrize("path", SECTIONS, ids=[format_path(p) or "top" for p in SECTIONS])
def test_section_fields_match_validate(path):
    data = with_value(path, "zz_probe", 1)
    (error,) = engine_errors(data)
    assert error.path == path + ("zz_probe",)
    accepted = expected_fields(error.message)
    section = schema_at(path)
    assert section["additionalProperties"] is False
    assert set(section["properties"]) == accepted
    assert schema_errors(data), "the schema accepts an unknown field"


REFERENCE_ERROR = re.compile(r"unknown (sku|room|tier) |no product has category ")
HOSTS = [("minimal", MINIMAL)] + [
    (kind, with_value(("coupons",), 0, coupon)) for kind, coupon in COUPON_OF_KIND.items()
]


@pytest.mark.parametrize("host", [h for _, h in HOSTS], ids=[name for name, _ in HOSTS])
def test_leaving_out_a_field_agrees(host):
    """Required fields (plain or by coupon kind) are the same for both."""
    for path in SECTIONS:
        if path and path[0] == "coupons" and len(path) > 2 and path[2] not in at(host, path[:2]):
            continue
        for name in list(at(host, path)):
            data = copy.deepcopy(host)
            del at(data, path)[name]
            # references to what was left out are for validate.py alone
            engine = [e for e in engine_errors(data) if not REFERENCE_ERROR.match(e.message)]
            required = any(e.path == path + (name,) and e.message == "is required" for e in engine)
            assert (not engine) == (not schema_errors(data)), (path, name, [str(e) for e in engine])
            if required:
                assert name in schema_required(path, data), (path, name)


def schema_required(path: tuple, data: dict) -> set:
    """What the schema requires of the mapping at `path`, kind rules included."""
    section = schema_at(path)
    required = set(section.get("required", ()))
    for rule in section.get("allOf", ()):
        condition = rule.get("if", {}).get("properties", {}).get("kind", {})
        if "const" in condition and at(data, path).get("kind") == condition["const"]:
            required |= set(rule["then"].get("required", ()))
    return required


def test_coupon_kinds_match_validate():
    (error,) = engine_errors(with_value(("coupons", 0), "kind", "zz_probe"))
    assert expected_fields(error.message) == set(COUPON_KINDS)
    assert schema_at(("coupons", 0))["properties"]["kind"]["enum"] == list(COUPON_KINDS)


def test_event_fields_match_validate():
    (error,) = engine_errors(with_value(("points", "events", "share"), "zz_probe", 1))
    events = schema_at(("points", "events"))
    assert expected_fields(error.message) == set(events["additionalProperties"]["properties"])
    for kind in events["properties"]:
        assert set(events["properties"][kind]["properties"]) == set(events["additionalProperties"]["properties"])


# mistakes in how an event rule's fields fit together, or fit the rest of the table: the
# engine refuses them with the place; the schema checks each field's shape only
EVENT_MISTAKES = [
    ({"check_in": {"points": 5, "cap_per_day": 1}}, "points.events.check_in.cap_per_day", "caps count points"),
    (
        {"check_in": {"points": 5, "cap_per_day": 50, "cap_per_week": 20}},
        "points.events.check_in.cap_per_day",
        "above cap_per_week",
    ),
]


@pytest.mark.parametrize("events, place, message", EVENT_MISTAKES)
def test_event_rule_mistakes_are_refused_with_their_place(events, place, message):
    data = _demo()
    data["points"]["events"].update(events)
    errors = engine_errors(data)
    assert any(e.place == place and message in e.message for e in errors), [str(e) for e in errors]


@pytest.mark.parametrize(
    "rule, field",
    [
        ({"points": 5, "session_only": True}, "session_only"),
        ({"points": 5, "cap_per_session": 5}, "cap_per_session"),
        ({"points": 5, "min_seconds": 60}, "min_seconds"),
    ],
)
def test_session_events_need_rooms(rule, field):
    data = {"tiers": [{"id": "gold", "name": "Gold"}], "points": {"events": {"check_in": rule}}}
    errors = [str(e) for e in engine_errors(data)]
    assert errors == [f"points.events.check_in.{field}: {errors[0].split(': ', 1)[1]}"], errors
    assert "the table lists no rooms: add `rooms`" in errors[0]


def test_an_authors_event_kind_is_valid_for_schema_and_engine():
    data = _demo()
    data["points"]["events"]["check_in"] = {
        "points": 5,
        "cap_per_day": 5,
        "cap_per_week": 25,
        "freeze_above_per_hour": 3,
        "counts_toward": ["daily_visits"],
    }
    data["progression"]["tasks"]["daily_visits"] = {"count": 5, "within_days": 7}
    assert schema_errors(data) == []
    assert engine_errors(data) == []


@pytest.mark.parametrize("kind", COUPON_KINDS)
@pytest.mark.parametrize("field", sorted(KIND_FIELD_VALUES))
def test_kind_fields_agree(kind, field):
    base = with_value(("coupons",), 0, COUPON_OF_KIND[kind])
    data = with_value(("coupons", 0), field, KIND_FIELD_VALUES[field], base)
    engine_ok = not engine_errors(data)
    schema_ok = not schema_errors(data)
    assert engine_ok == schema_ok, (kind, field, [str(e) for e in engine_errors(data)])


# -- integer bounds and other values -----------------------------------------------------------

KIND_OWNER = {
    "percent_off": "percent_off",
    "max_discount": "percent_off",
    "amount": "amount_off",
    "threshold": "threshold_off",
    "price": "fixed_price",
    "units": "fixed_price",
}


def _host(path: tuple, field: str) -> dict:
    """MINIMAL, with the coupon swapped for one whose kind owns `field`."""
    if path == ("coupons", 0) and field in KIND_OWNER:
        return with_value(("coupons",), 0, COUPON_OF_KIND[KIND_OWNER[field]])
    if path == ("progression", "tasks", "c") and field == "streak_days":  # a task is a streak or a count
        return with_value(("progression", "tasks"), "c", {}, MINIMAL)
    if path == ("redemptions", 0) and field == "low_stock":  # below the stock, so with the most there is
        return with_value(path, "stock", MAX_STOCK, MINIMAL)
    if path == ("coupons", 0) and field == "valid_days":  # a granted coupon's field
        return with_value(path, "issue", "granted", MINIMAL)
    if path == ("draws", 0, "prizes", 0) and field == "points":  # a prize is goods or points, not both
        return with_value(("draws", 0, "prizes"), 0, {"id": "P"}, MINIMAL)
    return MINIMAL


def _integer_fields():
    for path in SECTIONS:
        for name, prop in schema_at(path)["properties"].items():
            if isinstance(prop, dict) and prop.get("type") == "integer":
                yield path, name, prop["minimum"], prop["maximum"]


INTEGER_FIELDS = list(_integer_fields())


def test_integer_fields_were_found():
    names = {(format_path(p), n) for p, n, _, _ in INTEGER_FIELDS}
    assert ("products[0]", "price") in names and ("coupons[0]", "units") in names
    assert len(INTEGER_FIELDS) >= 20


@pytest.mark.parametrize(
    "path, field, lo, hi", INTEGER_FIELDS, ids=[f"{format_path(p) or 'top'}.{f}" for p, f, _, _ in INTEGER_FIELDS]
)
def test_integer_bounds_match_validate(path, field, lo, hi):
    base = _host(path, field)
    for value, ok in ((lo, True), (hi, True), (lo - 1, False), (hi + 1, False), (True, False), ("1", False)):
        data = with_value(path, field, value, base)
        assert (not engine_errors(data)) is ok, (field, value, [str(e) for e in engine_errors(data)])
        assert (not schema_errors(data)) is ok, (field, value)


@pytest.mark.parametrize(
    "where, value, ok",
    [
        ((("products", 0, "tier_prices"), "gold"), 1000, True),
        ((("products", 0, "tier_prices"), "gold"), -1, False),
        ((("products", 0, "tier_prices"), "gold"), 9.9, False),
        ((("rooms", 0, "live_prices"), "MILK"), 0, True),
        ((("rooms", 0, "live_prices"), "MILK"), "900", False),
        ((("tiers", 0), "points_multiplier"), 0.01, True),
        ((("tiers", 0), "points_multiplier"), MAX_MULTIPLIER_PERCENT // 100, True),
        ((("tiers", 0), "points_multiplier"), "1.50", True),
        ((("tiers", 0), "points_multiplier"), "2", True),
        ((("tiers", 0), "points_multiplier"), MAX_MULTIPLIER_PERCENT // 100 + 0.01, False),
        ((("tiers", 0), "points_multiplier"), "1.505", False),
        ((("tiers", 0), "points_multiplier"), "x1.5", False),
        ((("tiers", 0), "points_multiplier"), True, False),
        (((), "timezone"), "-05:30", True),
        (((), "timezone"), "+8", False),
        (((), "name"), "x" * 200, True),
        (((), "name"), "x" * 201, False),
        ((("products", 0), "category"), "c" * 65, False),
        ((("coupons", 0), "id"), 1001, True),
        ((("products", 0), "sku"), "-MILK", False),
        ((("products", 0), "sku"), "M" * 65, False),
        ((("coupons", 0), "scope"), "all", True),
        ((("redemptions", 0), "room"), None, True),
        ((("coupons", 0), "room"), None, False),
        ((("coupons", 0), "stack_group"), None, True),
        ((("coupons", 0, "window"), "to"), "room_end - 1h30m", True),
        ((("coupons", 0, "window"), "to"), "room_end-90s", True),
        ((("coupons", 0, "window"), "to"), "room_end - 5 m", False),
        ((("coupons", 0, "window"), "to"), "room_end - 5w", False),
        ((("coupons", 0, "window"), "to"), "2026-11-11T22:30:00+08:00", True),
        ((("coupons", 0, "window"), "to"), "2026-11-11 22:30", True),
        ((("coupons", 0, "window"), "to"), "2026-11-11T22:30:00Z", True),
        ((("coupons", 0, "window"), "to"), "22:30", False),
        ((("coupons", 0, "window"), "to"), 1762871400, False),
        ((("rooms", 0), "members_only"), True, True),
        ((("rooms", 0), "members_only"), 1, False),
        (((), "redemptions"), None, True),
        (((), "tiers"), None, False),
        ((("redemptions", 0), "tiers"), [], False),
        ((("redemptions", 0), "min_tier"), "gold", True),
        ((("points",), "expire_after_days"), 30, True),
        ((("points",), "expire_after_days"), 0, False),
        ((("points",), "expire_after_days"), 3651, False),
        ((("points",), "expire_after_months"), 24, True),
        ((("points",), "expire_after_months"), 1, True),
        ((("points",), "expire_after_months"), 120, True),
        ((("points",), "expire_after_months"), 0, False),
        ((("points",), "expire_after_months"), 121, False),
        ((("points",), "expire_after_months"), "24", False),
        ((("points",), "refund"), "debt", True),
        ((("points",), "refund"), "forgive", True),
        ((("points",), "refund"), "keep", False),
        ((("points",), "refund"), None, False),
        ((("points", "events", "watch"), "session_only"), True, True),
        ((("points", "events", "watch"), "session_only"), "yes", False),
    ],
)
def test_values_agree(where, value, ok):
    path, field = where
    data = with_value(path, field, value)
    assert (not engine_errors(data)) is ok, [str(e) for e in engine_errors(data)]
    assert (not schema_errors(data)) is ok, [e.message for e in schema_errors(data)]
