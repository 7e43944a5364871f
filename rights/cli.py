"""`rights`: the one command for people (rule authors, checkout developers, SREs).

    rights rules validate FILE...      check rule tables; every error with file:line
    rights rules schema                the rule format as JSON Schema
    rights rules generate-large        write the large benchmark table
    rights rules push|status|diff|simulate|rollback
                                       rule tables on a running server (admin token)
    rights quote --rules FILE ...      quote a cart locally, no server
    rights bench engine [--json]       compiled vs reference, demo vs large table
    rights bench api [--json]          eligibility vs a no-op route, 2 workers, wrk
    rights bench ledger [--json]       leaders by location; settlement and redemption under load
    rights bench all [--json]          every side-by-side comparison as one table (incl. zen-engine)
    rights serve [--demo] ...          the eligibility API (see `rights serve --help`)
    rights members import|show ...     members in Redis

Exit codes: 0 done, 1 the input was refused (invalid rules, bad quote input, a target
missed with --check), 2 the command line itself was wrong.
"""
from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path
from typing import Optional, Sequence

import orjson

from .demo import DEMO_RULES


def _print_json(data, compact: bool = False) -> None:
    option = orjson.OPT_NON_STR_KEYS | (0 if compact else orjson.OPT_INDENT_2)
    sys.stdout.write(orjson.dumps(data, option=option).decode() + "\n")


def _fail(message: str, code: int = 1) -> int:
    print(f"rights: {message}", file=sys.stderr)
    return code


# -- rules ---------------------------------------------------------------------------------

def cmd_rules_validate(args) -> int:
    from .rules import RulesInvalid, load_file

    failed = 0
    for name in args.files:
        path = Path(name)
        if not path.is_file():
            print(f"{name}: no such file", file=sys.stderr)
            failed += 1
            continue
        try:
            table = load_file(path)
        except RulesInvalid as exc:
            for problem in exc.problems:
                print(problem.render(name), file=sys.stderr)
            print(f"{name}: {len(exc.problems)} error{'s' if len(exc.problems) != 1 else ''}", file=sys.stderr)
            failed += 1
            continue
        model = table.model
        print(f"{name}: ok, version {table.version}: {len(model.tiers)} tiers, {len(model.products)} products, "
              f"{len(model.rooms)} rooms, {len(model.coupons)} coupons, {len(model.redemptions)} redemptions")
    return 1 if failed else 0


def cmd_rules_schema(args) -> int:
    from .schema import rule_table_schema

    _print_json(rule_table_schema())
    return 0


def cmd_rules_generate_large(args) -> int:
    from .large_table import ensure_large_table

    path = ensure_large_table(Path(args.out) if args.out else None)
    print(path)
    return 0


# -- quote ---------------------------------------------------------------------------------

def _item(text: str) -> tuple:
    sku, sep, qty = text.rpartition(":")
    if not sep or not sku:
        raise argparse.ArgumentTypeError(f"{text!r}: write SKU:QTY, e.g. MILK-1L:2")
    try:
        return (sku, int(qty))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: the quantity after ':' must be a whole number") from None


def cmd_quote(args) -> int:
    from . import evaluators
    from .inputs import QuoteInputError, member_from_mapping, stock_from_mapping
    from .instants import parse_instant
    from .rules import RulesInvalid, load_file

    try:
        evaluator = evaluators.get(args.evaluator)
    except (ImportError, ValueError) as exc:
        return _fail(str(exc))
    try:
        table = load_file(args.rules)
    except RulesInvalid as exc:
        for problem in exc.problems:
            print(problem.render(args.rules), file=sys.stderr)
        return 1
    except OSError as exc:
        return _fail(f"{args.rules}: {exc.strerror}")
    try:
        member = member_from_mapping(orjson.loads(args.member) if args.member else None)
        stock = stock_from_mapping(orjson.loads(args.stock) if args.stock else None)
    except orjson.JSONDecodeError as exc:
        return _fail(f"--member/--stock is not valid JSON: {exc}")
    except QuoteInputError as exc:
        return _fail(str(exc))
    try:
        now = parse_instant(args.at, table.utc_offset) if args.at else int(dt.datetime.now(dt.timezone.utc).timestamp())
    except ValueError:
        return _fail(f"--at {args.at!r} is not a time; write e.g. 2026-11-11T21:00:00+08:00")
    try:
        quote = evaluator.quote(table, member, args.room, now, args.item or [],
                                "pickup" if args.pickup else "delivery", stock)
    except QuoteInputError as exc:
        return _fail(str(exc))
    result = quote.to_dict()
    result["rules_version"] = table.version
    result["evaluator"] = evaluator.NAME
    result["at"] = now
    _print_json(result, compact=args.compact)
    return 0


# -- bench ---------------------------------------------------------------------------------

def cmd_bench_engine(args) -> int:
    from bench import engine_bench

    figures = engine_bench.run(quick=args.quick)
    return _report(figures, engine_bench.verdicts(figures, engine_bench.TARGETS), args)


def cmd_bench_api(args) -> int:
    from bench import api_bench, engine_bench

    figures = api_bench.run(seconds=args.seconds, rounds=args.rounds, connections=args.connections)
    return _report(figures, engine_bench.verdicts(figures, api_bench.TARGETS), args)


def cmd_bench_reload(args) -> int:
    from bench import engine_bench, reload_bench

    figures = reload_bench.run(seconds=args.seconds)
    return _report(figures, engine_bench.verdicts(figures, reload_bench.TARGETS), args)


def cmd_bench_rush(args) -> int:
    from bench import rush_bench

    return rush_bench.run(runs=args.runs, as_json=args.json)


def cmd_bench_ledger(args) -> int:
    from bench import engine_bench, ledger_bench

    figures = ledger_bench.run(seconds=args.seconds, rounds=args.rounds)
    return _report(figures, engine_bench.verdicts(figures, ledger_bench.TARGETS), args)


def cmd_bench_all(args) -> int:
    from bench import all_bench

    result = all_bench.run()
    if args.json:
        _print_json(result, compact=True)
    else:
        print(all_bench.table(result))
    return 1 if args.check and not all(row["met"] for row in result["rows"]) else 0


def _report_flags(parser) -> None:
    parser.add_argument("--json", action="store_true", help="one JSON object")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")


def _report(figures: dict, verdicts: dict, args) -> int:
    """Print a benchmark's figures (a table, or one JSON object), each target met or not."""
    if args.json:
        _print_json({**figures, "targets": verdicts}, compact=True)
    else:
        width = max(len(k) for k in figures)
        for key, value in figures.items():
            mark = ""
            if key in verdicts:
                mark = f"   target {verdicts[key]['target']}: {'met' if verdicts[key]['met'] else 'MISSED'}"
            print(f"{key:<{width}}  {value}{mark}")
    return 1 if args.check and not all(v["met"] for v in verdicts.values()) else 0


# -- the parser ----------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rights", description="rights-engine: member benefits, decided in real time")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    rules = commands.add_parser("rules", help="validate and inspect rule tables")
    rules_commands = rules.add_subparsers(dest="rules_command", required=True, metavar="ACTION")
    validate = rules_commands.add_parser("validate", help="check rule table files; every error with file:line")
    validate.add_argument("files", nargs="+", metavar="FILE")
    validate.set_defaults(run=cmd_rules_validate)
    schema = rules_commands.add_parser("schema", help="print the rule format as JSON Schema")
    schema.set_defaults(run=cmd_rules_schema)
    large = rules_commands.add_parser("generate-large", help="write the large benchmark table (100k skus)")
    large.add_argument("--out", help="where to write it (default examples/rules/large.json)")
    large.set_defaults(run=cmd_rules_generate_large)
    _add_remote_rules(rules_commands)

    quote = commands.add_parser("quote", help="quote a cart locally against a rule table, no server")
    quote.add_argument("--rules", default=str(DEMO_RULES), help="rule table file (default: the demo table)")
    quote.add_argument("--member", help='member snapshot as JSON, e.g. \'{"tier": "gold", "points": 1850}\' '
                                        "(default: a visitor)")
    quote.add_argument("--room", help="live room id")
    quote.add_argument("--item", action="append", type=_item, metavar="SKU:QTY", help="a cart line (repeatable)")
    quote.add_argument("--at", help="the instant, ISO 8601 or Unix seconds (default: now); ISO without an "
                                    "offset is in the table's timezone")
    quote.add_argument("--pickup", action="store_true", help="self-pickup instead of delivery")
    quote.add_argument("--stock", help='stock left as JSON, e.g. \'{"coupons": {"BG-CHEESE-ZERO": 0}}\'')
    quote.add_argument("--evaluator", choices=("compiled", "reference"), help="default: compiled")
    quote.add_argument("--compact", action="store_true", help="one line of JSON")
    quote.set_defaults(run=cmd_quote)

    bench = commands.add_parser("bench", help="benchmarks, side by side in one run")
    bench_commands = bench.add_subparsers(dest="bench_command", required=True, metavar="SUITE")
    engine = bench_commands.add_parser("engine", help="compiled vs reference, demo vs large table")
    engine.add_argument("--quick", action="store_true", help="fewer samples (a smoke run)")
    _report_flags(engine)
    engine.set_defaults(run=cmd_bench_engine)
    api = bench_commands.add_parser("api", help="the eligibility route against a no-op route, 2 workers, wrk")
    api.add_argument("--seconds", type=int, default=10, help="length of each round (default 10)")
    api.add_argument("--rounds", type=int, default=3, help="rounds of each route, alternating (default 3)")
    api.add_argument("--connections", type=int, default=64)
    _report_flags(api)
    api.set_defaults(run=cmd_bench_api)
    reload = bench_commands.add_parser("reload", help="eligibility load while a table is pushed ten times")
    reload.add_argument("--seconds", type=float, default=10.0, help="length of each phase (default 10)")
    _report_flags(reload)
    reload.set_defaults(run=cmd_bench_reload)
    ledger = bench_commands.add_parser("ledger", help="leaders by location; settlement and redemption under load")
    ledger.add_argument("--seconds", type=int, default=5, help="length of each wrk round (default 5)")
    ledger.add_argument("--rounds", type=int, default=2, help="rounds per route (default 2)")
    _report_flags(ledger)
    ledger.set_defaults(run=cmd_bench_ledger)
    rush = bench_commands.add_parser("rush", help="2,000 redemptions at once for 100 units, N times in a row: "
                                                  "every answer 200 or 409, never 503, the books right")
    rush.add_argument("--runs", type=int, default=20, help="rushes in a row (default 20)")
    rush.add_argument("--json", action="store_true", help="one JSON object")
    rush.set_defaults(run=cmd_bench_rush)
    every = bench_commands.add_parser("all", help="every side-by-side comparison, as one table "
                                                  "(reference, zen-engine, no-op route, reloads)")
    _report_flags(every)
    every.set_defaults(run=cmd_bench_all)

    _add_serve(commands)
    return parser


def _add_remote_rules(rules_commands) -> None:
    try:
        from api.rules_cli import add_rules_remote_commands
    except ImportError:
        return
    add_rules_remote_commands(rules_commands)


def _add_serve(commands) -> None:
    try:
        from api.cli import add_serve_commands
    except ImportError:
        return
    add_serve_commands(commands)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except Exception as exc:  # Redis down or full: one line, not a traceback
        if not type(exc).__module__.startswith("redis."):
            raise
        print(f"rights {args.command}: Redis refused or did not answer: {type(exc).__name__}: {exc}",
              file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
