"""The compiled arrays are the contract between engine/ and ext/: check both sides agree
(dtypes, record layouts, reason codes, limits), in the generated .pxd files and in the
compiled module as it was built."""

import re

import numpy as np
from conftest import ROOT

from engine import codes, layout, model
from engine.compiler import CompiledTable
from ext import evaluator, generate_contract

C = evaluator.c_constants()


def test_every_compiled_array_has_a_contract_dtype_and_is_frozen(demo):
    arrays = demo.arrays()
    assert {"product_record", "coupon_record", "live_price", "sku_coupon"} <= set(arrays)
    for name, array in arrays.items():
        assert array.dtype in (layout.VALUE, layout.INDEX), name
        assert array.flags.c_contiguous, name
        assert not array.flags.writeable, name


def test_c_types_match_numpy_dtypes():
    assert C["value_bytes"] == np.dtype(layout.VALUE).itemsize
    assert C["index_bytes"] == np.dtype(layout.INDEX).itemsize


def engine_constants(module, keep=lambda name: True) -> dict:
    return {name: value for name, value in vars(module).items() if name.isupper() and type(value) is int and keep(name)}


def test_generated_pxd_files_are_current():
    """ext/codes.pxd, ext/layout.pxd and ext/limits.pxd are what engine/ gives now
    (`python -m ext.generate_contract` rewrites them; setup.py does before building)."""
    assert generate_contract.stale() == []


def test_generated_pxd_files_define_what_engine_defines():
    """Read back from the .pxd text, independently of the generator's code."""
    for pxd, module, keep in (
        ("codes.pxd", codes, lambda name: True),
        ("layout.pxd", layout, lambda name: True),
        ("limits.pxd", model, lambda name: name.startswith("MAX_")),
    ):
        text = (ROOT / "ext" / pxd).read_text()
        defined = {
            name: int(value.strip("()").removesuffix("LL"))
            for name, value in re.findall(r"#define RIGHTS_(\w+) (\S+)", text)
        }
        assert defined == engine_constants(module, keep), pxd
        for name in defined:
            assert re.search(rf'^    (enum:|const int64_t) {name} "RIGHTS_{name}"$', text, re.M), name
    typedefs = dict(re.findall(r"^ctypedef (\w+)_t (\w+)$", (ROOT / "ext" / "layout.pxd").read_text(), re.M))
    assert typedefs == {np.dtype(layout.VALUE).name: "value_t", np.dtype(layout.INDEX).name: "index_t"}


def test_record_layouts_match():
    assert C["layout"] == engine_constants(layout)


def test_reason_codes_match():
    assert C["codes"] == engine_constants(codes)
    for value, reason in codes.REASONS.items():  # every reason the public quote names is compiled in
        assert C["codes"][(reason or "ok").upper()] == value, reason


def test_limits_match():
    assert C["limits"] == engine_constants(model, lambda name: name.startswith("MAX_"))


def test_a_cart_fits_the_coupon_search_line_bits():
    """Pairs pack as coupon << line_bits | line and allocation keys keep the line in their low
    bits (a static assertion in ext/coupon_search.pxd stops the build otherwise)."""
    assert model.MAX_LINES <= 1 << C["line_bits"]


def test_record_rows_hold_what_the_model_says(demo: CompiledTable):
    model = demo.model
    row = demo.sku_row["CHEESE-LTD"]
    record = demo.product_record[row]
    assert record[layout.P_PRICE] == 12800
    gold, black_gold = demo.tier_rank["gold"], demo.tier_rank["black_gold"]
    assert record[layout.P_TIER_PRICE + gold] == 9900
    assert record[layout.P_TIER_PRICE + black_gold] == 8910
    assert record[layout.P_TIERS] == 1 << black_gold
    coupon = demo.coupon_record[demo.coupon_index["BG-CHEESE-ZERO"]]
    assert coupon[layout.C_KIND] == codes.KIND_FIXED_PRICE
    assert coupon[layout.C_MEMBER_LIMIT] == 1 and coupon[layout.C_STOCK] == 200
    gala = model.rooms[demo.room_index["gala"]]
    assert (coupon[layout.C_FROM], coupon[layout.C_TO]) == (gala.start, gala.end)


def test_live_prices_are_found_from_the_product_row(demo: CompiledTable):
    def live(sku):
        record = demo.product_record[demo.sku_row[sku]]
        span = range(record[layout.P_LIVE_START], record[layout.P_LIVE_END])
        return {demo.model.rooms[demo.live_room[k]].id: int(demo.live_price[k]) for k in span}

    assert live("MILK-1L") == {"gala": 1290}
    assert live("A2-MILK-12") == {"member-day": 7900}
    assert live("CHEESE-LTD") == {}
