"""The large benchmark table generator: valid, of the asked size, and deterministic."""

import orjson

from bench.large_table import generate, read_stamp, stamp, write
from engine.rules.validate import build_table


def test_generated_table_validates_with_the_asked_sizes():
    data = generate(skus=2000, coupons=400, seed=3)
    table = build_table(data)  # raises RuleTableError listing every problem
    assert len(data["products"]) == len(table.products) == 2000
    assert len(data["coupons"]) == len(table.coupons) == 400
    assert {c.kind for c in table.coupons} == {"percent_off", "amount_off", "threshold_off", "fixed_price"}
    assert any(c.scope_all for c in table.coupons)
    assert any(c.scope_categories for c in table.coupons)
    assert "gala" in {r.id for r in table.rooms}
    assert table.name == stamp(2000, 400, 3)


def test_same_seed_same_output():
    first = orjson.dumps(generate(skus=2000, coupons=400, seed=3))
    assert orjson.dumps(generate(skus=2000, coupons=400, seed=3)) == first
    assert orjson.dumps(generate(skus=2000, coupons=400, seed=4)) != first


def test_written_file_carries_its_stamp(tmp_path):
    path = write(tmp_path / "t.json", generate(skus=50, coupons=20, seed=1))
    assert read_stamp(path) == stamp(50, 20, 1)
    assert orjson.loads(path.read_bytes())["name"] == stamp(50, 20, 1)


def test_ensure_generates_only_when_missing_or_stale(tmp_path):
    from bench.large_table import ensure_large_table

    path = tmp_path / "large.json"
    assert ensure_large_table(path, skus=50, coupons=20, seed=1) == path
    before = path.stat().st_mtime_ns
    ensure_large_table(path, skus=50, coupons=20, seed=1)
    assert path.stat().st_mtime_ns == before  # same stamp: left alone
    ensure_large_table(path, skus=60, coupons=20, seed=1)
    assert read_stamp(path) == stamp(60, 20, 1)
