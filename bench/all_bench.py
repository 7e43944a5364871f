"""`rights bench all`: every side-by-side comparison in one run, as one table.

Each row is a figure of ours, the peer's figure measured in the same run, and their
ratio (how many times better ours is: for times, the peer's over ours; for throughput,
ours over the peer's). The rows come from the other benchmark modules, with durations
short enough for the whole table to take about two minutes (the API rows keep the API
benchmark's own 10-second rounds: a p99 needs them).
"""

from __future__ import annotations

from bench import api_bench, engine_bench, reload_bench, zen_bench
from bench.progress import report


def run(api_seconds: int = 10, api_rounds: int = 3, reload_seconds: float = 6.0) -> dict:
    engine = engine_bench.run(quick=True)
    report(
        "all",
        1,
        4,
        "engine",
        f"compiled {engine['speedup']}x faster than the reference, "
        f"large table {engine['large_over_demo']}x the demo's time, "
        f"the demo inside it {engine['large_same_shape_over_demo']}x",
        step="section",
    )
    zen = zen_bench.run()
    report(
        "all",
        2,
        4,
        "zen-engine",
        f"compiled {zen['zen_over_compiled']}x faster, "
        f"{zen['carts_with_the_same_prices_and_coupons']}/{zen['carts']} carts agreeing",
        step="section",
    )
    api = api_bench.run(seconds=api_seconds, rounds=api_rounds)
    report(
        "all",
        3,
        4,
        "api",
        f"eligibility {api['throughput_ratio']} of the no-op throughput, {api['p99_ratio']}x its p99",
        step="section",
    )
    reload = reload_bench.run(seconds=reload_seconds)
    report("all", 4, 4, "reload", f"p99 {reload['p99_ratio']}x the quiet p99 while tables are pushed", step="section")
    rows = [
        _row(
            "5-line quote, compiled vs pure-Python reference (us, p50)",
            engine["compiled_quote_us_p50"],
            "reference",
            engine["reference_quote_us_p50"],
            engine["speedup"],
            "x faster",
            ">= 50",
        ),
        _row(
            "5-line quote vs GoRules zen-engine, same tier-price and coupon decision (us, p50)",
            zen["compiled_quote_us_p50"],
            "zen-engine",
            zen["zen_engine_decision_us_p50"],
            zen["zen_over_compiled"],
            "x faster",
            ">= 20",
            agreed=zen["carts_with_the_same_prices_and_coupons"] == zen["carts"],  # else two decisions compared
        ),
        _row(
            "5-line quote, large table vs demo table (us, p50)",
            engine["large_table_quote_us_p50"],
            "demo table",
            engine["compiled_quote_us_p50"],
            engine["large_over_demo"],
            "x the time",
            "<= 1.5",
        ),
        _row(
            "5-line demo cart, demo inside a large table vs the demo table alone (us, p50)",
            engine["large_same_shape_quote_us_p50"],
            "demo table",
            engine["compiled_quote_us_p50"],
            engine["large_same_shape_over_demo"],
            "x the time",
            "<= 1.2",
        ),
        _row(
            "eligibility route vs no-op route, 64 connections (requests/s)",
            api["eligibility_rps"],
            "no-op",
            api["noop_rps"],
            api["throughput_ratio"],
            "of the throughput",
            ">= 0.8",
        ),
        _row(
            "eligibility route vs no-op route (p99 ms)",
            api["eligibility_p99_ms"],
            "no-op",
            api["noop_p99_ms"],
            api["p99_ratio"],
            "x the p99",
            "<= 1.5",
        ),
        _row(
            "eligibility p99 while 10 tables are pushed vs quiet (ms)",
            reload["p99_reloading_ms"],
            "quiet",
            reload["p99_quiet_ms"],
            reload["p99_ratio"],
            "x the p99",
            "<= 2",
        ),
    ]
    return {
        "rows": rows,
        "zen_agreeing_carts": f"{zen['carts_with_the_same_prices_and_coupons']}/{zen['carts']}",
        "api_errors": api["errors"],
        "reload_failed": reload["failed"],
        "reload_wrong_version": reload["wrong_version"],
    }


def _row(what: str, ours, peer_name: str, peer, ratio, unit: str, target: str, agreed: bool = True) -> dict:
    """One comparison; not met when the two sides did not decide the same (`agreed`)."""
    op, bound = target.split()
    met = agreed and (ratio >= float(bound) if op == ">=" else ratio <= float(bound))
    return {
        "figure": what,
        "ours": ours,
        "peer": peer_name,
        "peer_figure": peer,
        "ratio": ratio,
        "unit": unit,
        "target": target,
        "met": met,
    }


def table(result: dict) -> str:
    """The rows as a plain-text table."""
    header = ("figure", "ours", "peer", "peer's", "ratio", "target")
    lines = [
        (
            r["figure"],
            str(r["ours"]),
            r["peer"],
            str(r["peer_figure"]),
            f"{r['ratio']} {r['unit']}",
            f"{r['target']} {'met' if r['met'] else 'MISSED'}",
        )
        for r in result["rows"]
    ]
    widths = [max(len(row[k]) for row in [header] + lines) for k in range(len(header))]
    out = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in [header] + lines]
    out.insert(1, "  ".join("-" * width for width in widths))
    out.append("")
    out.append(
        f"zen-engine agreed on prices and usable coupons for {result['zen_agreeing_carts']} carts; "
        f"API errors {result['api_errors']}; reload: {result['reload_failed']} failed, "
        f"{result['reload_wrong_version']} with a version not active"
    )
    return "\n".join(out)
