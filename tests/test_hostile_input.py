"""Hostile rule tables: an entity-expansion ("billion laughs") YAML file is refused quickly,
an oversized one before it is parsed, and nothing in a table is ever run as code."""

from __future__ import annotations

import pytest

from engine.rules.load import RulesInvalid, compile_source
from engine.rules.source import MAX_SOURCE_BYTES, SourceError, parse

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
