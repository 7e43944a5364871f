"""Hostile rule tables: an entity-expansion ("billion laughs") YAML file is refused quickly,
an oversized one before it is parsed, and nothing in a table is ever run as code."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from engine import evaluators
from engine.model import Member
from engine.rules.load import RulesInvalid, compile_source
from engine.rules.source import MAX_NESTING, MAX_SOURCE_BYTES, NESTED, SourceError, parse

LAUGHS = b"""a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
"""


def test_a_billion_laughs_file_is_refused_by_counting_not_by_expanding():
    with pytest.raises(SourceError, match="would expand to more than"):  # the count, made on the unexpanded graph
        parse(LAUGHS)


def test_a_table_over_the_size_limit_is_refused_before_parsing():
    with pytest.raises(SourceError, match="larger than"):
        parse(b"#" * (MAX_SOURCE_BYTES + 1))


@pytest.mark.parametrize(
    "payload",
    [
        b"name: !!python/object/apply:os.system ['touch /tmp/rights-pwned']\n",
        b"name: !!python/name:os.system\n",
        b"{\"name\": \"__import__('os').system('touch /tmp/rights-pwned')\"}",
    ],
)
def test_nothing_in_a_table_runs_as_code(payload, tmp_path):
    import os

    if os.path.exists("/tmp/rights-pwned"):
        os.unlink("/tmp/rights-pwned")
    with pytest.raises((SourceError, RulesInvalid)):
        compile_source(payload)
    assert not os.path.exists("/tmp/rights-pwned")


def test_a_recursive_alias_is_refused():
    with pytest.raises(SourceError, match="refers to itself"):
        parse(b"a: &a [1, *a]\n")


def test_a_few_honest_aliases_still_work():
    data = parse(b"w: &w {from: room_start, to: room_end}\nx: *w\ny: *w\n")
    assert data["x"] == data["y"] == {"from": "room_start", "to": "room_end"}


DEEP = {
    "YAML flow lists": "a: " + "[" * 100_000 + "]" * 100_000 + "\n",
    "YAML block lists on one line": "a:\n" + "- " * 50_000 + "x\n",
    "JSON lists": '{"a": ' + "[" * 100_000 + "]" * 100_000 + "}\n",
    "JSON, deep inside a field with an error": '{"tiers": [{"id": "x", "name": '
    + "[" * 100_000
    + "]" * 100_000
    + "}]}\n",
}


@pytest.mark.parametrize("text", DEEP.values(), ids=DEEP.keys())
def test_a_table_nested_a_hundred_thousand_deep_is_refused_without_killing_the_process(text, tmp_path):
    """YAML's composer recurses in C: a deep enough file overflowed the stack and killed the
    process (the CLI, or the server that a rules push reached). Run apart, so that a crash
    fails this test rather than the run."""
    path = tmp_path / ("deep.json" if text.startswith("{") else "deep.yaml")
    path.write_text(text)
    done = subprocess.run(
        [sys.executable, "-m", "rights", "rules", "validate", str(path)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 1, done.stderr[-2000:]  # refused: not 0, and not a signal (negative)
    first = done.stderr.splitlines()[0]
    assert "Traceback" not in done.stderr
    # at the line where it happens, when the parser says (YAML; JSON from orjson's own depth limit, where it has one)
    assert re.fullmatch(rf"{re.escape(str(path))}(:[12])?: {re.escape(NESTED)}", first), first


def test_nesting_is_refused_past_the_limit_and_not_at_it():
    def nested(levels: int) -> bytes:  # levels of lists and mappings in all, the top mapping included
        return ("a: " + "[" * (levels - 1) + "]" * (levels - 1) + "\n").encode()

    kept = parse(nested(MAX_NESTING))["a"]
    for _ in range(MAX_NESTING - 2):
        kept = kept[0]
    assert kept == []
    with pytest.raises(SourceError, match=f"nested more than {MAX_NESTING} levels deep") as refused:
        parse(nested(MAX_NESTING + 1))
    assert refused.value.line == 1


def test_a_table_with_no_product_compiles_and_quotes_alike_in_both_evaluators():
    table = compile_source(b"tiers: [{id: gold}]\nproducts: []\nredemptions: [{id: R, name: r, points: 5}]\n")
    member = Member(tier="gold", points=10)
    quotes = [
        evaluators.get(name).quote(table, member, None, 0, [("A", 1)]).to_dict() for name in ("compiled", "reference")
    ]
    assert quotes[0] == quotes[1]
    assert quotes[0]["lines"][0]["reason"] == "unknown_sku" and quotes[0]["redemptions"][0]["available"]
