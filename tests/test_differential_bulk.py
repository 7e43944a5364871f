"""The compiled evaluator against the reference at volume: 100,000 seeded random carts over
200 generated rule tables (tests/situations.py: tiers, rooms and instants, every coupon kind
and scope, stock, points and debts, redemptions, pickup and delivery), every field of every
quote compared as tests/test_differential.py compares them.

A mismatch fails with the seed, the table and cart numbers, the first field that differs
and the whole case. Replay it with `RIGHTS_BULK_SEED=<seed>`, and only its table with
`RIGHTS_BULK_TABLE=<n>` (table n's carts come from the seed and n alone).
"""

from __future__ import annotations

import dataclasses
import json
import os

import orjson
import pytest
from situations import Seeded, make_situation, table_data

from engine import evaluators, reference
from engine.compiler import compile_table
from engine.inputs import QuoteInputError
from engine.rules.validate import build_table

compiled = evaluators.get("compiled")

SEED = int(os.environ.get("RIGHTS_BULK_SEED", "20261111"))
TABLES, CARTS = 200, 500


def outcome(evaluator, case) -> tuple:
    """(raw, dict, JSON) of the quote, or the input error both evaluators must raise alike."""
    try:
        quote = evaluator.quote(*case)
    except QuoteInputError as exc:
        return ("refused", exc.field, str(exc)), None, None
    return quote.to_raw(), quote.to_dict(), (quote.to_json() if evaluator is compiled else None)


def first_difference(actual, expected, path: str = "quote"):
    """The path of the first field where `actual` and `expected` differ, with both values."""
    if dataclasses.is_dataclass(actual) and dataclasses.is_dataclass(expected):
        actual, expected = dataclasses.asdict(actual), dataclasses.asdict(expected)
    if isinstance(actual, dict) and isinstance(expected, dict):
        for key in sorted(set(actual) | set(expected), key=str):
            if actual.get(key, "<missing>") != expected.get(key, "<missing>"):
                return first_difference(actual.get(key, "<missing>"), expected.get(key, "<missing>"), f"{path}.{key}")
    elif isinstance(actual, (list, tuple)) and isinstance(expected, (list, tuple)) and len(actual) == len(expected):
        for k, (a, e) in enumerate(zip(actual, expected)):
            if a != e:
                return first_difference(a, e, f"{path}[{k}]")
    return f"{path}: compiled {actual!r:.500}, reference {expected!r:.500}"


def disagreement(case) -> str | None:
    """Where the compiled quote of `case` differs from the reference's, or None."""
    raw, as_dict, as_json = outcome(compiled, case)
    expected_raw, expected_dict, _ = outcome(reference, case)
    if raw != expected_raw:
        return "raw " + first_difference(raw, expected_raw)
    if as_dict != expected_dict:
        return "public " + first_difference(as_dict, expected_dict)
    if as_json is not None and orjson.loads(as_json) != expected_dict:  # the JSON the API sends
        return "JSON " + first_difference(orjson.loads(as_json), expected_dict)
    return None


def report(seed: int, number: int, cart: int, data: dict, case: tuple, difference: str) -> str:
    _, member, room, now, lines, fulfillment, stock = case
    return "\n".join(
        [
            f"compiled and reference disagree: seed {seed}, table {number}, cart {cart}",
            f"  replay: RIGHTS_BULK_SEED={seed} RIGHTS_BULK_TABLE={number} "
            "python -m pytest tests/test_differential_bulk.py",
            f"  first difference: {difference}",
            f"  member: {member!r}",
            f"  room: {room!r}, now: {now}, fulfillment: {fulfillment!r}",
            f"  lines: {lines!r}",
            f"  stock: {stock!r}",
            f"  table: {json.dumps(data, ensure_ascii=False)}",
        ]
    )


@pytest.mark.slow
def test_compiled_and_reference_agree_on_100000_seeded_carts():
    only = os.environ.get("RIGHTS_BULK_TABLE")
    numbers = [int(only)] if only else range(TABLES)
    print(f"seed {SEED} (RIGHTS_BULK_SEED), tables {numbers}, {CARTS} carts each")
    compared = 0
    for number in numbers:
        pick = Seeded(f"{SEED}:{number}")
        data = table_data(pick)
        table = compile_table(build_table(json.loads(json.dumps(data))))  # the generated source stays as printed
        for cart in range(CARTS):
            case = make_situation(pick, table)
            difference = disagreement(case)
            if difference:
                pytest.fail(report(SEED, number, cart, data, case, difference), pytrace=False)
            compared += 1
    assert compared == len(numbers) * CARTS


def test_a_disagreement_names_the_first_field_that_differs():
    """The report of a mismatch points at the field, inside the nested quote."""
    actual = {"lines": [{"sku": "S0", "final": 100}], "totals": {"payable": 100}}
    expected = {"lines": [{"sku": "S0", "final": 90}], "totals": {"payable": 100}}
    assert first_difference(actual, expected) == "quote.lines[0].final: compiled 100, reference 90"
    assert first_difference({"a": 1}, {}) == "quote.a: compiled 1, reference '<missing>'"
