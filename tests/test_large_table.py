"""The large benchmark table generator: valid, of the asked size, and deterministic."""

import hashlib

import orjson
import pytest

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


# The bytes of known tables: a change to the generator's output must bump GENERATOR_VERSION
# (the stamp) and these hashes together, or every cached large.json would be silently stale.
SMALL_SHA256 = "98dadb8495f735bc49e587e00d819926d6f89151f8c40ead1fdbefbc7589e4ed"  # 2000 skus, 400 coupons, seed 3
DEFAULT_SHA256 = "126af15f91efa0507f3b8cd76ad5af41eea56c46cca638fa67e5a647e75d577a"  # 100,000 skus, 20,000 coupons


def test_progress_is_told_every_item_and_changes_no_byte():
    told = []
    data = generate(skus=2000, coupons=400, seed=3, progress=lambda stage, items: told.append((stage, items)))
    assert hashlib.sha256(orjson.dumps(data)).hexdigest() == SMALL_SHA256
    assert hashlib.sha256(orjson.dumps(generate(skus=2000, coupons=400, seed=3))).hexdigest() == SMALL_SHA256
    assert [stage for stage, _ in told] == ["products"] * 2 + ["coupons"]
    assert sum(n for stage, n in told if stage == "products") == 2000
    assert sum(n for stage, n in told if stage == "coupons") == 400


def test_ensure_tells_progress_only_when_it_writes(tmp_path):
    from bench.large_table import ensure_large_table

    told = []
    path = ensure_large_table(tmp_path / "t.json", skus=1500, coupons=20, seed=1, progress=lambda *a: told.append(a))
    assert told == [("products", 1000), ("products", 500), ("coupons", 20), ("writing", 0)]
    told.clear()
    ensure_large_table(path, skus=1500, coupons=20, seed=1, progress=lambda *a: told.append(a))
    assert told == []


@pytest.mark.slow  # builds the 100,000-sku table
def test_generate_large_writes_the_same_bytes_and_no_bar_off_a_terminal(tmp_path, capsys):
    from rights.cli import main

    out = tmp_path / "large.json"
    assert main(["rules", "generate-large", "--out", str(out)]) == 0
    said = capsys.readouterr()
    assert said.out == f"{out}\n" and said.err == ""  # stderr is not a terminal here: no bar
    assert hashlib.sha256(out.read_bytes()).hexdigest() == DEFAULT_SHA256
