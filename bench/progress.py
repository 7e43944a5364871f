"""How far a benchmark is: one line on stderr per round, as each round ends.

    bench api: round 2/3 eligibility 14,210 req/s, p99 11.42 ms

The lines go to stderr whether or not it is a terminal (benchmarks run for minutes, often
under nohup or in CI, where a log is what is read) and are flushed at once; stdout keeps
only the result (the table or the JSON object).
"""

from __future__ import annotations

import sys


def report(bench: str, k: int, n: int, what: str, figure: str, step: str = "round") -> None:
    """`bench BENCH: STEP K/N WHAT FIGURE` on stderr, e.g. what `eligibility`, figure `14,210 req/s`."""
    print(f"bench {bench}: {step} {k}/{n} {what} {figure}", file=sys.stderr, flush=True)


def per_second(value: float, unit: str = "req/s") -> str:
    """`14,210 req/s`."""
    return f"{value:,.0f} {unit}"
