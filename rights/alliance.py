"""`rights alliance`: declare an alliance of brands, and read the clearing between them
(api/alliance.py), through a running server's admin routes."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import orjson


def add_commands(commands: argparse._SubParsersAction) -> None:
    alliance = commands.add_parser("alliance", help="brands sharing members and points; their clearing")
    actions = alliance.add_subparsers(dest="alliance_command", required=True, metavar="ACTION")
    declare = actions.add_parser("set", help="declare (or replace) an alliance from a YAML or JSON file")
    declare.add_argument("file")
    declare.add_argument("--name", help="the alliance's name (default: the file's `name`)")
    declare.set_defaults(run=cmd_set)
    report = actions.add_parser("clearing", help="issued, redeemed and who owes whom, per brand, from the ledgers")
    report.add_argument("name")
    report.add_argument("--from", dest="since", help="entries at or after this instant (ISO 8601 or Unix seconds)")
    report.add_argument("--to", dest="until", help="entries before this instant (default: now)")
    report.add_argument("--json", action="store_true", help="the whole report as JSON")
    report.set_defaults(run=cmd_clearing)
    for parser in (declare, report):
        parser.add_argument(
            "--server",
            default=os.environ.get("RIGHTS_SERVER", "http://127.0.0.1:8000"),
            help="the API (RIGHTS_SERVER, default http://127.0.0.1:8000); RIGHTS_ADMIN_TOKEN is sent",
        )


def cmd_set(args: argparse.Namespace) -> int:
    from engine.rules.source import SourceError, parse

    from .rules import request

    try:
        doc = parse(Path(args.file).read_bytes())
    except OSError as exc:
        print(f"rights alliance set: {args.file}: {exc.strerror}", file=sys.stderr)
        return 1
    except SourceError as exc:
        print(f"{args.file}:{exc.line}: {exc.message}" if exc.line else f"{args.file}: {exc.message}", file=sys.stderr)
        return 1
    if not isinstance(doc, dict):
        print(f"{args.file}: an alliance is a mapping (name, brands, point_value, ...)", file=sys.stderr)
        return 1
    name = args.name or doc.get("name")
    if not isinstance(name, str) or not name:
        print(f"{args.file}: name the alliance (`name:` in the file, or --name)", file=sys.stderr)
        return 2
    try:
        body = orjson.dumps({**doc, "name": name})
    except orjson.JSONEncodeError as exc:  # nested past orjson's limit: no alliance is shaped so
        print(f"{args.file}: not an alliance: {exc}", file=sys.stderr)
        return 1
    status, answer = request(args.server, "PUT", f"/v1/alliances/{name}", body)
    if status != 200:
        return _fail(status, answer, "set", args.file)
    print(f"alliance {name}: {', '.join(answer['brands'])} share members and points")
    return 0


def cmd_clearing(args: argparse.Namespace) -> int:
    from .rules import request

    params = {k: v for k, v in (("from", args.since), ("to", args.until)) if v}
    status, answer = request(args.server, "GET", f"/v1/alliances/{args.name}/clearing", params=params)
    if status != 200:
        return _fail(status, answer, "clearing")
    if args.json:
        sys.stdout.write(orjson.dumps(answer, option=orjson.OPT_INDENT_2).decode() + "\n")
        return 0
    print(f"alliance {answer['alliance']}: {answer['members']} members, {answer['entries']} ledger entries")
    print(f"{'brand':<16}{'issued':>12}{'redeemed':>12}{'owed (fen)':>14}{'owes (fen)':>14}{'net (fen)':>14}")
    for b in answer["brands"]:
        print(
            f"{b['brand']:<16}{b['issued']:>12,}{b['redeemed']:>12,}{b['owed_fen']:>14,}"
            f"{b['owes_fen']:>14,}{b['net_fen']:>+14,}"
        )
    for flow in answer["flows"]:
        print(f"  {flow['issued_by']} owes {flow['redeemed_at']} {flow['fen']:,} fen for {flow['points']:,} points")
    print(f"balance {answer['balance_fen']} fen")
    return 0


def _fail(status: int, answer, what: str, file: str | None = None) -> int:
    if status == 0:
        print(f"rights alliance {what}: {answer}", file=sys.stderr)
        return 1
    error = answer.get("error", {}) if isinstance(answer, dict) else {}
    where = f"{file}: " if file else ""
    field = f"{error['field']}: " if error.get("field") else ""
    print(f"rights alliance {what}: {where}{field}{error.get('reason', answer)} (HTTP {status})", file=sys.stderr)
    return 1
