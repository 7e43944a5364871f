"""Side-by-side engine benchmark: compiled against reference, demo table against large.

Two figures weigh the large table. `large_over_demo` quotes the large table's own random
carts, which meet more coupons than the demo's do: a bigger catalogue's bigger decisions.
`large_same_shape_over_demo` quotes the demo's carts against the demo table embedded in a
large one (bench/same_shape_table.py), where they meet exactly what they meet in the demo
alone: what the table's size by itself costs a quote.

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

from bench.large_table import ensure_large_table
from bench.progress import report
from bench.same_shape_table import ensure_same_shape_table
from engine import evaluators
from engine.demo import DEMO_RULES as DEMO
from engine.model import Member
from engine.rules.load import load_file

GALA_NIGHT = int(dt.datetime(2026, 11, 11, 21, 0, tzinfo=dt.timezone(dt.timedelta(hours=8))).timestamp())
MEMBER = Member(tier="gold", points=1850, birthday_month=11, sessions_watched=2)


def random_carts(table, count: int, lines: int, seed: int) -> list:
    """Carts of known skus, quantities 1-3, the same for every run of a seed: distinct skus
    while the table has enough, else drawn again (a 200-line cart on the 7-sku demo)."""
    rng = random.Random(seed)
    skus = list(table.sku_row)
    if lines <= len(skus):
        return [[(sku, rng.randint(1, 3)) for sku in rng.sample(skus, lines)] for _ in range(count)]
    return [[(rng.choice(skus), rng.randint(1, 3)) for _ in range(lines)] for _ in range(count)]


def interleaved_us(series: dict) -> dict:
    """Microseconds per call for each series, sampled in turns so that whatever else the
    machine does at a moment weighs on every series alike.

    `series` maps a name to (call, carts, repeat): each sample quotes one cart `repeat`
    times back to back and keeps the mean; the series take turns, cart by cart."""
    samples: dict[str, list[float]] = {name: [] for name in series}
    longest = max(len(carts) for _, carts, _ in series.values())
    gc_was = gc.isenabled()
    gc.disable()
    try:
        for turn in range(longest):
            for name, (call, carts, repeat) in series.items():
                if turn >= len(carts):
                    continue
                cart = carts[turn]
                start = time.perf_counter_ns()
                for _ in range(repeat):
                    call(cart)
                samples[name].append((time.perf_counter_ns() - start) / repeat / 1000)
    finally:
        if gc_was:
            gc.enable()
    return samples


def paired_ratio(numerator: list, denominator: list) -> float:
    """The median of turn-by-turn ratios: each pair was measured within a few milliseconds,
    so a slow moment of the machine divides out instead of skewing one side."""
    return round(statistics.median(a / b for a, b in zip(numerator, denominator)), 2)


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

    large_path = ensure_large_table()
    started = time.perf_counter()
    large = load_file(large_path)
    compile_s = time.perf_counter() - started
    report(
        "engine",
        1,
        3,
        "large table",
        f"compiled in {compile_s:.3f} s ({len(large.sku_row):,} skus, {len(large.coupon_index):,} coupons)",
    )
    same_shape = load_file(ensure_same_shape_table())
    large_carts = random_carts(large, len(carts) * 2, 5, seed=11)
    big_carts = random_carts(large, 10 if quick else 40, 200, seed=13)
    demo_big_carts = random_carts(demo, 10 if quick else 40, 200, seed=17)

    samples = interleaved_us(
        {
            "compiled": (quote_with(compiled, demo), carts, repeat),
            "reference": (quote_with(reference, demo), carts[: len(carts) // 3], max(5, repeat // 20)),
            "to_dict": (
                lambda cart: compiled.quote(demo, MEMBER, "gala", GALA_NIGHT, cart).to_dict(),
                carts[:60],
                max(5, repeat // 10),
            ),
            "large": (quote_with(compiled, large), large_carts, max(10, repeat // 4)),
            "same_shape": (quote_with(compiled, same_shape), carts, repeat),
            "big": (quote_with(compiled, large), big_carts, 10 if quick else 20),
            "demo_big": (quote_with(compiled, demo), demo_big_carts, 10 if quick else 20),
        }
    )
    compiled_us, reference_us, to_dict_us = samples["compiled"], samples["reference"], samples["to_dict"]
    large_us, big_us = samples["large"], samples["big"]
    report(
        "engine",
        2,
        3,
        "5-line quote p50",
        f"{p50(compiled_us)} us compiled ({paired_ratio(reference_us, compiled_us)}x faster than the "
        f"reference's {p50(reference_us)} us), {p50(large_us)} us on the large table, "
        f"{p50(samples['same_shape'])} us with the demo inside it",
    )
    candidates = {
        name: statistics.median(
            len(compiled.quote(table, MEMBER, "gala", GALA_NIGHT, cart).to_raw().coupons) for cart in cart_list[:100]
        )
        for name, table, cart_list in (("demo", demo, carts), ("large", large, large_carts))
    }
    report(
        "engine",
        3,
        3,
        "coupon candidates p50",
        f"{candidates['demo']} on the demo table, {candidates['large']} on the large one",
    )

    return {
        "evaluator": compiled.NAME,
        "compiled_quote_us_p50": p50(compiled_us),
        "compiled_quote_us_p99": p99(compiled_us),
        "reference_quote_us_p50": p50(reference_us),
        "speedup": paired_ratio(reference_us, compiled_us),
        "quote_to_dict_us_p50": p50(to_dict_us),
        "large_table_quote_us_p50": p50(large_us),
        "large_table_quote_us_p99": p99(large_us),
        "large_over_demo": paired_ratio(large_us, compiled_us),
        "large_same_shape_quote_us_p50": p50(samples["same_shape"]),
        "large_same_shape_over_demo": paired_ratio(samples["same_shape"], compiled_us),
        "large_table_compile_s": round(compile_s, 3),
        "demo_candidates_p50": candidates["demo"],
        "large_table_candidates_p50": candidates["large"],
        "large_table_skus": len(large.sku_row),
        "large_table_coupons": len(large.coupon_index),
        "cart_200_lines_us_p50": p50(big_us),
        "cart_200_lines_us_p99": p99(big_us),
        "cart_200_lines_demo_us_p50": p50(samples["demo_big"]),
    }


TARGETS = {
    "compiled_quote_us_p50": ("<=", 5.0),
    "speedup": (">=", 50.0),
    "large_over_demo": ("<=", 1.5),
    "large_same_shape_over_demo": ("<=", 1.2),
    "large_table_compile_s": ("<=", 2.0),
    "cart_200_lines_us_p50": ("<=", 40.0),
}


def verdicts(figures: dict, targets: dict = TARGETS) -> dict:
    """Each target's figure, the bound, and whether this run met it."""
    out = {}
    for name, (op, bound) in targets.items():
        value = figures[name]
        met = value is not None and (value <= bound if op == "<=" else value >= bound)
        out[name] = {"value": value, "target": f"{op} {bound}", "met": met}
    return out
