"""The compiled arrays are the contract between engine/ and ext/: check both sides agree
(dtypes, record layouts, reason codes) the way the compiled module was built."""
import numpy as np

from engine import codes, layout
from engine.compiler import CompiledTable
from ext import evaluator
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


def test_record_layouts_match():
    for name, value in C["layout"].items():
        assert getattr(layout, name) == value, name


def test_reason_codes_match():
    for name, value in C["codes"].items():
        assert getattr(codes, name) == value, name
    reasons = {value for name, value in C["codes"].items() if not name.startswith(("LAYER", "KIND", "SEARCH"))}
    assert reasons == set(codes.REASONS), "a reason code exists on one side only"


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
