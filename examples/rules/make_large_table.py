#!/usr/bin/env python3
"""Write a large, deterministic rule table for benchmarks: 100,000 skus and 20,000 coupons.

    python examples/rules/make_large_table.py [--out PATH] [--skus N] [--coupons N] [--seed S]

The default output, examples/rules/large.json, is git-ignored; the generator itself lives
in bench/large_table.py (tests and benchmarks call bench.large_table.ensure_large_table).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run from a checkout

from bench.large_table import (  # noqa: E402
    DEFAULT_COUPONS,
    DEFAULT_PATH,
    DEFAULT_SEED,
    DEFAULT_SKUS,
    generate,
    write,
)


def main(argv: list | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_PATH, help=f"output file (default {DEFAULT_PATH})")
    parser.add_argument("--skus", type=int, default=DEFAULT_SKUS, help="number of products")
    parser.add_argument("--coupons", type=int, default=DEFAULT_COUPONS, help="number of coupons")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="random seed")
    args = parser.parse_args(argv)
    if args.skus < 1 or args.coupons < 0:
        parser.error("--skus must be at least 1 and --coupons not negative")
    started = time.perf_counter()
    table = generate(args.skus, args.coupons, args.seed)
    path = write(args.out, table)
    elapsed = time.perf_counter() - started
    print(
        f"{path}: {table['name']}, {len(table['products'])} products, {len(table['coupons'])} coupons, "
        f"{path.stat().st_size / 1e6:.1f} MB in {elapsed:.2f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
