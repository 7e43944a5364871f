"""`rights members import|show`: members in Redis, loaded in bulk or looked up one by one.

An import draws a progress bar on stderr when stderr is a terminal, and always ends with a
line of how many members it imported and how many rows it refused.

Without a Redis URL the commands use the running server's Redis, else the embedded one
under the data directory (api/serve/command_redis.py).
"""

from __future__ import annotations

import argparse
import sys

import orjson

from api.redis.connect import sync_client

from .loading import command_redis, read_text, redis_options
from .output import counted, progress_bar, refused_row
from .stopping import Stopped, end_as_interrupted, stop_signals_raise, stopped_by


def add_commands(commands: argparse._SubParsersAction) -> None:
    members = commands.add_parser("members", help="load and look up members in Redis")
    actions = members.add_subparsers(dest="members_command", required=True, metavar="ACTION")
    load = actions.add_parser("import", help="bulk-load members from JSON lines or CSV")
    load.add_argument("file")
    redis_options(load)
    load.add_argument("--rules", help="check tiers against this rule table (default: the demo table)")
    load.add_argument("--brand", help="the brand the members are of (default: the home brand)")
    load.set_defaults(run=cmd_members_import)
    show = actions.add_parser("show", help="print one member as JSON")
    show.add_argument("member_id")
    show.add_argument("--brand", help="the brand whose member to show (default: the home brand)")
    redis_options(show)
    show.set_defaults(run=cmd_members_show)


def cmd_members_import(args: argparse.Namespace) -> int:
    from api.members_io import read_rows
    from engine.demo import DEMO_RULES
    from engine.rules.load import RulesInvalid, load_file

    text = read_text(args.file, "rights members import")
    if text is None:
        return 1
    try:
        tiers = set(load_file(args.rules or DEMO_RULES).model.tier_ids())
    except RulesInvalid:
        print(f"rights members import: {args.rules} is not a valid rule table", file=sys.stderr)
        return 1
    rows = read_rows(text, args.file)  # read as the import goes: while Redis writes a batch
    done = [0]  # rows past, as the bar counts them
    try:
        with stop_signals_raise():
            return _import(args, rows, tiers, text, done)
    except (Stopped, KeyboardInterrupt) as exc:  # its Redis and the data directory's lock let go on the way out
        name, code = stopped_by(exc)
        print(
            f"rights members import: stopped by {name} after {counted(done[0], 'row')} of {args.file} "
            "(the batch under way may be written in part); importing the file again writes every row as given",
            file=sys.stderr,
        )
        end_as_interrupted(exc)
        return code


def _import(args: argparse.Namespace, rows, tiers: set, text: str, done: list) -> int:
    from api.brands import scope_in_redis, scoped
    from api.members_import import import_rows
    from api.members_io import count_rows

    with command_redis(args.redis_url, args.data_dir, "rights members import") as url:
        client = sync_client(url, socket_timeout=10)
        try:
            scope = scope_in_redis(client, args.brand)
        except ValueError as exc:
            print(f"rights members import: --brand: {exc}", file=sys.stderr)
            return 1
        with scoped(scope), progress_bar(count_rows(text, args.file), "rows") as bar:  # refused rows print above it
            result = import_rows(
                client,
                rows,
                tiers,
                on_refused=lambda line, field, reason: refused_row(args.file, line, field, reason),
                on_done=lambda past: (done.__setitem__(0, past), bar.update(past - bar.n)),
            )
        if result.error is not None:  # e.g. a full Redis: say how far it got
            print(
                f"rights members import: Redis refused the rows up to {args.file}:{result.stopped_at}: "
                f"{type(result.error).__name__}: {result.error}; imported {result.written} before them "
                "(the batch refused may be written in part; importing the file again writes every row as given)",
                file=sys.stderr,
            )
            return 1
    good, bad = result.written, result.refused
    print(f"imported {counted(good, 'member')}, refused {counted(bad, 'row')}", file=sys.stderr)
    return 1 if bad else 0


def cmd_members_show(args: argparse.Namespace) -> int:
    from api.brands import scope_in_redis, scoped
    from api.serve.command_redis import NoServer, running_redis
    from api.store import read_member

    try:
        url = running_redis(args.redis_url, args.data_dir)
    except NoServer as exc:
        print(f"rights members show: {exc}", file=sys.stderr)
        return 1
    client = sync_client(url, socket_timeout=5)
    try:
        scope = scope_in_redis(client, args.brand)
    except ValueError as exc:
        print(f"rights members show: --brand: {exc}", file=sys.stderr)
        return 1
    with scoped(scope):
        record = read_member(client, args.member_id)
    if record is None:
        print(f"rights members show: no member {args.member_id!r}", file=sys.stderr)
        return 1
    sys.stdout.write(orjson.dumps(record.public(), option=orjson.OPT_INDENT_2).decode() + "\n")
    return 0
