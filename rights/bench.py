"""`rights bench ...`: the benchmarks, each printed with its targets met or missed.

The suites are imported when run: they pull in what only a benchmark needs.
"""

from __future__ import annotations

import argparse
import functools
import sys
from collections.abc import Callable

from .output import print_json
from .stopping import Stopped, end_as_interrupted, stop_signals_raise, stopped_by

MAX_SECONDS = 600  # a round's length: load runs are bounded


def _whole(low: int, high: int | None = None) -> Callable[[str], int]:
    """argparse's type for a whole number from `low` (to `high`): a wrong one is exit 2 with a line."""

    def read(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < low or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"{value}: must be from {low}" + (f" to {high}" if high else " up"))
        return value

    return read


def _stoppable(run: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """A suite that SIGTERM, SIGHUP and Ctrl-C stop by an exception, so that every server,
    redis-server and wrk it started is stopped on the way out."""

    @functools.wraps(run)
    def stoppable(args: argparse.Namespace) -> int:
        try:
            with stop_signals_raise():
                return run(args)
        except (Stopped, KeyboardInterrupt) as exc:
            name, code = stopped_by(exc)
            print(f"rights bench: stopped by {name}; what it started is stopped", file=sys.stderr)
            end_as_interrupted(exc)
            return code

    return stoppable


def add_commands(commands: argparse._SubParsersAction) -> None:
    bench = commands.add_parser("bench", help="benchmarks, side by side in one run")
    bench_commands = bench.add_subparsers(dest="bench_command", required=True, metavar="SUITE")
    engine = bench_commands.add_parser("engine", help="compiled vs reference, demo vs large table")
    engine.add_argument("--quick", action="store_true", help="fewer samples (a smoke run)")
    _report_flags(engine)
    engine.set_defaults(run=_stoppable(cmd_bench_engine))
    api = bench_commands.add_parser(
        "api", help="the eligibility route against a no-op route and a raw ASGI app, 2 workers, wrk"
    )
    api.add_argument("--seconds", type=_whole(1, MAX_SECONDS), default=10, help="length of each round (default 10)")
    api.add_argument("--rounds", type=_whole(1, 100), default=3, help="rounds of each route, alternating (default 3)")
    api.add_argument("--connections", type=_whole(1, 10_000), default=64)
    _report_flags(api)
    api.set_defaults(run=_stoppable(cmd_bench_api))
    reload = bench_commands.add_parser("reload", help="eligibility load while a table is pushed ten times")
    reload.add_argument("--seconds", type=_whole(1, MAX_SECONDS), default=10, help="length of each phase (default 10)")
    _report_flags(reload)
    reload.set_defaults(run=_stoppable(cmd_bench_reload))
    ledger = bench_commands.add_parser("ledger", help="leaders by location; settlement and redemption under load")
    ledger.add_argument(
        "--seconds", type=_whole(1, MAX_SECONDS), default=5, help="length of each wrk round (default 5)"
    )
    ledger.add_argument("--rounds", type=_whole(1, 100), default=2, help="rounds per route (default 2)")
    _report_flags(ledger)
    ledger.set_defaults(run=_stoppable(cmd_bench_ledger))
    memory = bench_commands.add_parser(
        "memory", help="100,000 members imported into a redis-server of its own: bytes a member, import rate"
    )
    memory.add_argument(
        "--members",
        type=_whole(1_000, 10_000_000),
        default=100_000,
        help="members imported, 1,000 or more (default 100,000)",
    )
    memory.add_argument(
        "--stream-node-max-bytes",
        type=_whole(1, 1_048_576),
        default=None,
        help="the Redis setting the ledgers' streams are measured at (default: the embedded Redis's, 512)",
    )
    _report_flags(memory)
    memory.set_defaults(run=_stoppable(cmd_bench_memory))
    rush = bench_commands.add_parser(
        "rush",
        help="2,000 redemptions at once for 100 units, N times in a row: "
        "every answer 200 or 409, never 503, the books right",
    )
    rush.add_argument("--runs", type=_whole(1, 1_000), default=20, help="rushes in a row (default 20)")
    rush.add_argument("--json", action="store_true", help="one JSON object")
    rush.set_defaults(run=_stoppable(cmd_bench_rush))
    every = bench_commands.add_parser(
        "all", help="every side-by-side comparison, as one table (reference, zen-engine, no-op route, reloads)"
    )
    _report_flags(every)
    every.set_defaults(run=_stoppable(cmd_bench_all))


def cmd_bench_engine(args: argparse.Namespace) -> int:
    from bench import engine_bench

    figures = engine_bench.run(quick=args.quick)
    return _report(figures, engine_bench.verdicts(figures, engine_bench.TARGETS), args)


def cmd_bench_api(args: argparse.Namespace) -> int:
    from bench import api_bench, engine_bench

    figures = api_bench.run(seconds=args.seconds, rounds=args.rounds, connections=args.connections)
    return _report(figures, engine_bench.verdicts(figures, api_bench.TARGETS), args)


def cmd_bench_reload(args: argparse.Namespace) -> int:
    from bench import engine_bench, reload_bench

    figures = reload_bench.run(seconds=args.seconds)
    return _report(figures, engine_bench.verdicts(figures, reload_bench.TARGETS), args)


def cmd_bench_memory(args: argparse.Namespace) -> int:
    from bench import engine_bench, memory_bench

    figures = memory_bench.run(members=args.members, stream_node_max_bytes=args.stream_node_max_bytes)
    return _report(figures, engine_bench.verdicts(figures, memory_bench.TARGETS), args)


def cmd_bench_rush(args: argparse.Namespace) -> int:
    from bench import rush_bench

    return rush_bench.run(runs=args.runs, as_json=args.json)


def cmd_bench_ledger(args: argparse.Namespace) -> int:
    from bench import engine_bench, ledger_bench

    figures = ledger_bench.run(seconds=args.seconds, rounds=args.rounds)
    return _report(figures, engine_bench.verdicts(figures, ledger_bench.TARGETS), args)


def cmd_bench_all(args: argparse.Namespace) -> int:
    from bench import all_bench

    result = all_bench.run()
    if args.json:
        print_json(result, compact=True)
    else:
        print(all_bench.table(result))
    return 1 if args.check and not all(row["met"] for row in result["rows"]) else 0


def _report_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="one JSON object")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")


def _report(figures: dict, verdicts: dict, args: argparse.Namespace) -> int:
    """Print a benchmark's figures (a table, or one JSON object), each target met or not."""
    if args.json:
        print_json({**figures, "targets": verdicts}, compact=True)
    else:
        width = max(len(k) for k in figures)
        for key, value in figures.items():
            mark = ""
            if key in verdicts:
                mark = f"   target {verdicts[key]['target']}: {'met' if verdicts[key]['met'] else 'MISSED'}"
            print(f"{key:<{width}}  {value}{mark}")
    return 1 if args.check and not all(v["met"] for v in verdicts.values()) else 0
