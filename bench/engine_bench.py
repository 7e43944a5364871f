"""Side-by-side engine benchmark: compiled against reference, demo table against large.

Every figure comes from the same run on the same machine, so the ratios hold even when
the machine is busy. Each cart is quoted in a tight batch and timed per call; the p50
is over carts, so a figure is what a typical cart costs, conversion from Python inputs
included (the quote's dict form is timed separately: a server serialises it once).
"""
from __future__ import annotations

import datetime as dt
import gc
import random
import statistics
import time
from typing import Callable

from engine import evaluators
from engine.large_table import ensure_large_table
from engine.model import Member
from engine.rules import load_file

from engine.demo import DEMO_RULES as DEMO

GALA_NIGHT = int(dt.datetime(2026, 11, 11, 21, 0, tzinfo=dt.timezone(dt.timedelta(hours=8))).timestamp())
MEMBER = Member(tier="gold", points=1850, birthday_month=11, sessions_watched=2)


def random_carts(table, count: int, lines: int, seed: int) -> list:
    """Carts of distinct known skus, quantities 1-3, the same for every run of a seed."""
    rng = random.Random(seed)
    skus = list(table.sku_row)
    return [[(sku, rng.randint(1, 3)) for sku in rng.sample(skus, min(lines, len(skus)))] for _ in range(count)]


def per_call_us(call: Callable, carts: list, repeat: int) -> list:
    """Microseconds per call for each cart, each the mean of `repeat` back-to-back calls."""
    out = []
    gc_was = gc.isenabled()
    gc.disable()
    try:
        for cart in carts:
            start = time.perf_counter_ns()
            for _ in range(repeat):
                call(cart)
            out.append((time.perf_counter_ns() - start) / repeat / 1000)
    finally:
        if gc_was:
            gc.enable()
    return out


def p50(values: list) -> float:
    return round(statistics.median(values), 3)


def p99(values: list) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))], 3)


def run(quick: bool = False) -> dict:
    """All the engine figures, as one flat dict of numbers."""
    compiled = evaluators.get("compiled")
    reference = evaluators.get("reference")
    demo = load_file(DEMO)
    carts = random_carts(demo, 60 if quick else 300, 5, seed=7)
    repeat = 50 if quick else 200

    def quote_with(evaluator, table):
        return lambda cart: evaluator.quote(table, MEMBER, "gala", GALA_NIGHT, cart)

    compiled_us = per_call_us(quote_with(compiled, demo), carts, repeat)
    reference_us = per_call_us(quote_with(reference, demo), carts[: len(carts) // 3], max(5, repeat // 20))
    to_dict_us = per_call_us(lambda cart: compiled.quote(demo, MEMBER, "gala", GALA_NIGHT, cart).to_dict(),
                             carts[:60], max(5, repeat // 10))

    large_path = ensure_large_table()
    started = time.perf_counter()
    large = load_file(large_path)
    compile_s = time.perf_counter() - started
    large_carts = random_carts(large, 100 if quick else 600, 5, seed=11)
    large_us = per_call_us(quote_with(compiled, large), large_carts, max(10, repeat // 4))
    big_carts = random_carts(large, 10 if quick else 40, 200, seed=13)
    big_us = per_call_us(quote_with(compiled, large), big_carts, 10 if quick else 40)

    return {
        "evaluator": compiled.NAME,
        "compiled_quote_us_p50": p50(compiled_us),
        "compiled_quote_us_p99": p99(compiled_us),
        "reference_quote_us_p50": p50(reference_us),
        "speedup": round(p50(reference_us) / p50(compiled_us), 1),
        "quote_to_dict_us_p50": p50(to_dict_us),
        "large_table_quote_us_p50": p50(large_us),
        "large_table_quote_us_p99": p99(large_us),
        "large_over_demo": round(p50(large_us) / p50(compiled_us), 2),
        "large_table_compile_s": round(compile_s, 3),
        "large_table_skus": len(large.sku_row),
        "large_table_coupons": len(large.coupon_index),
        "cart_200_lines_us_p50": p50(big_us),
        "cart_200_lines_us_p99": p99(big_us),
    }


TARGETS = {
    "compiled_quote_us_p50": ("<=", 5.0),
    "speedup": (">=", 50.0),
    "large_over_demo": ("<=", 1.5),
    "large_table_compile_s": ("<=", 2.0),
    "cart_200_lines_us_p50": ("<=", 40.0),
}


def verdicts(figures: dict) -> dict:
    """Each target's figure, the bound, and whether this run met it."""
    out = {}
    for name, (op, bound) in TARGETS.items():
        value = figures[name]
        out[name] = {"value": value, "target": f"{op} {bound}", "met": value <= bound if op == "<=" else value >= bound}
    return out
