"""`rights quote`: a cart quoted locally against a rule table, no server and no Redis."""

from __future__ import annotations

import argparse
import datetime as dt
import sys

import orjson

from engine.demo import DEMO_RULES

from .output import fail, print_json


def add_commands(commands: argparse._SubParsersAction) -> None:
    quote = commands.add_parser("quote", help="quote a cart locally against a rule table, no server")
    quote.add_argument("--rules", default=str(DEMO_RULES), help="rule table file (default: the demo table)")
    quote.add_argument(
        "--member",
        help='member snapshot as JSON, e.g. \'{"tier": "gold", "points": 1850, "tags": ["family_0_3"]}\' '
        "(default: a visitor)",
    )
    quote.add_argument("--room", help="live room id")
    quote.add_argument("--item", action="append", type=_item, metavar="SKU:QTY", help="a cart line (repeatable)")
    quote.add_argument(
        "--at",
        help="the instant, ISO 8601 or Unix seconds (default: now); ISO without an offset is in the table's timezone",
    )
    quote.add_argument("--pickup", action="store_true", help="self-pickup instead of delivery")
    quote.add_argument("--stock", help='stock left as JSON, e.g. \'{"coupons": {"BG-CHEESE-ZERO": 0}}\'')
    quote.add_argument("--evaluator", choices=("compiled", "reference"), help="default: compiled")
    quote.add_argument("--compact", action="store_true", help="one line of JSON")
    quote.set_defaults(run=cmd_quote)


def _item(text: str) -> tuple:
    sku, sep, qty = text.rpartition(":")
    if not sep or not sku:
        raise argparse.ArgumentTypeError(f"{text!r}: write SKU:QTY, e.g. MILK-1L:2")
    try:
        return (sku, int(qty))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: the quantity after ':' must be a whole number") from None


def cmd_quote(args: argparse.Namespace) -> int:
    from engine import evaluators
    from engine.inputs import QuoteInputError, member_from_mapping, stock_from_mapping
    from engine.instants import parse_instant
    from engine.rules.load import RulesInvalid, load_file

    try:
        evaluator = evaluators.get(args.evaluator)
    except (ImportError, ValueError) as exc:
        return fail(str(exc))
    try:
        table = load_file(args.rules)
    except RulesInvalid as exc:
        for problem in exc.problems:
            print(problem.render(args.rules), file=sys.stderr)
        return 1
    except OSError as exc:
        return fail(f"{args.rules}: {exc.strerror}")
    try:
        member = member_from_mapping(orjson.loads(args.member) if args.member else None)
        stock = stock_from_mapping(orjson.loads(args.stock) if args.stock else None)
    except orjson.JSONDecodeError as exc:
        return fail(f"--member/--stock is not valid JSON: {exc}")
    except QuoteInputError as exc:
        return fail(str(exc))
    try:
        now = parse_instant(args.at, table.utc_offset) if args.at else int(dt.datetime.now(dt.UTC).timestamp())
    except ValueError:
        return fail(f"--at {args.at!r} is not a time; write e.g. 2026-11-11T21:00:00+08:00")
    try:
        quote = evaluator.quote(
            table, member, args.room, now, args.item or [], "pickup" if args.pickup else "delivery", stock
        )
    except QuoteInputError as exc:
        return fail(str(exc))
    result = quote.to_dict()
    result["rules_version"] = table.version
    result["evaluator"] = evaluator.NAME
    result["at"] = now
    print_json(result, compact=args.compact)
    return 0
