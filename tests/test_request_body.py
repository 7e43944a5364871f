"""The compiled reader of plain eligibility bodies (ext/request_body.pyx) against the
reference, `parse_request` over orjson: for any body, it either declines (None: the route
reads the body the long way) or gives exactly what the reference gives. Differential, over
hand-written bodies, generated ones and byte-level mutations of both; and its character
classes held against the route's patterns."""

from __future__ import annotations

import random
import string

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from api.brands import BRAND_ID
from api.checkout.request import RequestInvalid, parse_request, plain_reader, read_request
from api.store import CHANNELS, IDENTITY_VALUE, MEMBER_ID
from engine import evaluators
from engine.model import MAX_LINES, MAX_QTY

read = plain_reader(evaluators.get("compiled"))
CHANNEL_SET = frozenset(CHANNELS)
CART = [{"sku": "MILK-1L", "qty": 2}, {"sku": "YOGURT-6", "qty": 1}]
BODIES = [
    {"member_id": "G1", "room": "gala", "lines": CART},
    {"identity": {"channel": "openid", "value": "oGOLD1"}, "room": "gala", "lines": CART},
    {"member_id": "BG1", "lines": [{"sku": "CHEESE-LTD", "qty": 1}], "fulfillment": "pickup"},
    {"room": "gala", "lines": [{"sku": "MILK-1L", "qty": 1}]},
    {"member_id": "NOBODY", "lines": []},
    {"lines": CART, "location": None, "brand": None, "member_id": None, "identity": None, "room": None},
    {"lines": CART, "brand": "grain", "fulfillment": "delivery"},
    {"lines": [{"qty": MAX_QTY, "sku": "x" * 64}] * MAX_LINES},
    {"member_id": "A" + "b" * 63, "lines": []},
    {"identity": {"value": "+_.:@-" + "9" * 122, "channel": "app"}, "lines": []},
]
REFUSED = [
    b"",
    b"{",
    b"[]",
    b"{}",
    b'{"lines": 1}',
    b'{"lines": null}',
    b'{"lines": [{"sku": "MILK-1L", "qty": 0}]}',
    b'{"lines": [{"sku": "MILK-1L", "qty": 01}]}',
    b'{"lines": [{"sku": "MILK-1L", "qty": 1.0}]}',
    b'{"lines": [{"sku": "MILK-1L", "qty": 1e0}]}',
    b'{"lines": [{"sku": "MILK-1L", "qty": -1}]}',
    b'{"lines": [{"sku": "MILK-1L", "qty": 10000}]}',
    b'{"lines": [{"sku": "", "qty": 1}]}',
    b'{"lines": [{"sku": "MILK-1L", "qty": 1, "qty": 2}]}',
    b'{"lines": [{"sku": "MILK-1L"}]}',
    b'{"lines": [], "lines": []}',
    b'{"bogus": 1, "lines": []}',
    b'{"member_id": "G1", "identity": {"channel": "openid", "value": "x"}, "lines": []}',
    b'{"identity": {"channel": "fax", "value": "x"}, "lines": []}',
    b'{"identity": {"channel": "openid", "value": ""}, "lines": []}',
    b'{"identity": {"channel": "openid"}, "lines": []}',
    b'{"member_id": "_G1", "lines": []}',
    b'{"member_id": "", "lines": []}',
    b'{"brand": "Grain", "lines": []}',
    b'{"brand": "-grain", "lines": []}',
    b'{"room": "", "lines": []}',
    b'{"lines": [], "fulfillment": "drone"}',
    b'{"lines": [], "fulfillment": null}',
    b'{"lines": []} x',
    b'{"lines": [],}',
    b'{"lines": [{"sku": "MILK-1L", "qty": 1},]}',
]
DECLINED = [  # valid, but not plain: the reference reads them
    b'{"lines": [{"sku": "MI\\u004cK-1L", "qty": 1}]}',
    '{"lines": [{"sku": "牛奶", "qty": 1}]}'.encode(),
    b'{"lines": [], "location": {"lat": 31.2, "lon": 121.5}}',
    b'{"line\\u0073": []}',
]


def reference(body: bytes):
    """What the route makes of `body` without the compiled reader: its fields, or the refusal."""
    try:
        req = parse_request(orjson.loads(body))
    except orjson.JSONDecodeError:
        return "malformed"
    except RequestInvalid as exc:
        return ("refused", exc.field, exc.reason)
    return (req.member_id, req.identity, req.room, req.lines, req.fulfillment, req.location, req.brand)


def agrees(body: bytes) -> object:
    """The compiled reader declines `body` or reads it as the reference does; what it gave."""
    got = read(body, CHANNEL_SET)
    expected = reference(body)
    if got is not None:
        assert got == expected, body
        assert [type(v) for v in got] == [type(v) for v in expected], body  # no bool for an int, no bytes
    return got


def test_the_compiled_reader_is_there_with_the_compiled_evaluator():
    assert read is not None
    assert plain_reader(evaluators.get("reference")) is None


@pytest.mark.parametrize("body", BODIES, ids=range(len(BODIES)))
def test_plain_bodies_are_read_in_c_as_the_reference_reads_them(body):
    for encoded in (
        orjson.dumps(body),
        orjson.dumps(body, option=orjson.OPT_INDENT_2),
        b" \r\n\t" + orjson.dumps(body),
    ):
        assert agrees(encoded) is not None


@pytest.mark.parametrize("body", REFUSED + DECLINED)
def test_anything_else_is_left_to_the_reference(body):
    assert agrees(body) is None


def test_read_request_answers_as_the_reference_either_way():
    plain = read
    for body in [orjson.dumps(b) for b in BODIES] + REFUSED + DECLINED:
        outcomes = []
        for reader in (plain, None):
            try:
                req = read_request(body, reader)
                outcomes.append((req.member_id, req.identity, req.room, req.lines, req.fulfillment, req.brand))
            except orjson.JSONDecodeError as exc:
                outcomes.append(("malformed", str(exc)))
            except RequestInvalid as exc:
                outcomes.append(("refused", exc.code, exc.field, exc.reason))
        assert outcomes[0] == outcomes[1], body


PRINTABLE = [chr(c) for c in range(32, 127) if chr(c) not in '"\\']


@pytest.mark.parametrize(
    "field, pattern, longest",
    [("member_id", MEMBER_ID, 64), ("value", IDENTITY_VALUE, 128), ("brand", BRAND_ID, 32)],
)
def test_the_character_classes_are_the_routes(field, pattern, longest):
    rng = random.Random(7)
    texts = [a + b for a in PRINTABLE for b in ("", "a", "-", "_", ".", ":", "@", "+", "A", "0")]
    texts += ["a" * n for n in (longest - 1, longest, longest + 1)]
    texts += ["".join(rng.choice(PRINTABLE) for _ in range(rng.randint(1, longest + 2))) for _ in range(300)]
    for text in texts:
        if field == "value":
            body = {"identity": {"channel": "phone", "value": text}, "lines": []}
        else:
            body = {field: text, "lines": []}
        got = agrees(orjson.dumps(body))
        assert (got is not None) == bool(pattern.match(text)), text


JSON_TEXT = st.text(alphabet=string.printable + 'é\\"/', max_size=70)
VALUE = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-2, max_value=MAX_QTY + 2),
    st.floats(allow_nan=False, allow_infinity=False),
    JSON_TEXT,
    st.sampled_from(["G1", "gala", "grain", "delivery", "pickup", "openid", "MILK-1L"]),
)
LINE = st.fixed_dictionaries(
    {"sku": st.one_of(JSON_TEXT, st.sampled_from(["MILK-1L", "YOGURT-6"]), VALUE), "qty": VALUE},
    optional={"extra": VALUE},
)
BODY = st.fixed_dictionaries(
    {"lines": st.one_of(st.lists(LINE, max_size=4), VALUE)},
    optional={
        "member_id": st.one_of(VALUE, st.from_regex(MEMBER_ID)),
        "identity": st.one_of(
            VALUE,
            st.fixed_dictionaries(
                {"channel": st.one_of(st.sampled_from(CHANNELS), VALUE), "value": st.one_of(JSON_TEXT, VALUE)}
            ),
        ),
        "room": VALUE,
        "fulfillment": VALUE,
        "brand": st.one_of(VALUE, st.from_regex(BRAND_ID)),
        "location": st.one_of(VALUE, st.fixed_dictionaries({"lat": VALUE, "lon": VALUE})),
        "unknown": VALUE,
    },
)


@settings(max_examples=400, deadline=None, derandomize=True)
@given(BODY)
def test_generated_bodies(body):
    agrees(orjson.dumps(body))


@settings(max_examples=400, deadline=None, derandomize=True)
@given(st.sampled_from([orjson.dumps(b) for b in BODIES]), st.data())
def test_mutated_bodies(body, data):
    """A byte of a plain body replaced, dropped or doubled, or the body cut short."""
    position = data.draw(st.integers(min_value=0, max_value=len(body) - 1))
    how = data.draw(st.sampled_from(["replace", "drop", "double", "cut"]))
    if how == "replace":
        mutated = body[:position] + bytes([data.draw(st.integers(0, 255))]) + body[position + 1 :]
    elif how == "drop":
        mutated = body[:position] + body[position + 1 :]
    elif how == "double":
        mutated = body[: position + 1] + body[position:]
    else:
        mutated = body[:position]
    agrees(mutated)
