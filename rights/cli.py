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
    rights reset [--data-dir DIR]      delete the embedded Redis's data (refused while a server holds it)
    rights members import|show ...     members in Redis
    rights leaders import FILE         pickup leaders in Redis
    rights consume events ...          credit behaviour events from a Redis stream
    rights alliance set|clearing ...   brands sharing members and points; who owes whom
    rights ledger verify|anchor ...    check the ledger's hash chains; anchor their heads
    rights draw verify FILE|--url URL  recompute a draw's winners from its revealed seed
    rights draw run ID                 draw on a server (admin token), then verify it

Exit codes: 0 done, 1 the input was refused (invalid rules, bad quote input, a target
missed with --check, a ledger that does not verify), 2 the command line itself was wrong.

Each command group lives in its own module; every one is always registered.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

try:  # importing the engine chooses the evaluator RIGHTS_EVALUATOR names
    from . import alliance, bench, consume, draw, leaders, ledger, members, quote, rules, serve
except ValueError as exc:
    if getattr(exc, "exit_code", None) != 2:
        raise
    REFUSED: str | None = str(exc)  # a setting the commands cannot start with, said by `main` in one line
else:
    REFUSED = None


def command_groups() -> tuple:
    """The command modules, in the order `rights --help` lists them."""
    return (rules, quote, bench, serve, members, leaders, consume, ledger, draw, alliance)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rights", description="rights-engine: member benefits, decided in real time")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for group in command_groups():
        group.add_commands(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    if REFUSED is not None:
        print(f"rights: {REFUSED}", file=sys.stderr)
        return 2
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except Exception as exc:  # Redis down or full, or a setting it cannot use: one line, not a traceback
        if getattr(exc, "exit_code", None) == 2:  # the caller's setting (a Redis or server URL it cannot read)
            print(f"rights {args.command}: {exc}", file=sys.stderr)
            return 2
        if isinstance(exc, UnicodeEncodeError) and "surrogates" in str(exc):  # argv bytes that are not UTF-8
            print(f"rights {args.command}: an argument is not UTF-8 text", file=sys.stderr)
            return 2
        if not type(exc).__module__.startswith("redis."):
            raise
        print(f"rights {args.command}: Redis refused or did not answer: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
