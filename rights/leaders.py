"""`rights leaders import`: pickup leaders into Redis, where every worker's nearest-leader index reads them."""

from __future__ import annotations

import argparse
import sys

from api.redis.connect import sync_client

from .loading import command_redis, read_text, redis_options
from .output import counted, refused_row


def add_commands(commands: argparse._SubParsersAction) -> None:
    leaders = commands.add_parser("leaders", help="load pickup leaders into Redis")
    leader_actions = leaders.add_subparsers(dest="leaders_command", required=True, metavar="ACTION")
    load_leaders = leader_actions.add_parser(
        "import", help="load leaders from CSV or JSON lines (id, name, lat, lon, active)"
    )
    load_leaders.add_argument("file")
    redis_options(load_leaders)
    load_leaders.set_defaults(run=cmd_leaders_import)


def cmd_leaders_import(args: argparse.Namespace) -> int:
    """Every good row is stored; every bad one is reported as FILE:LINE: field: reason."""
    from api.leaders import read_leader_rows, write_leaders
    from api.members_io import RowError

    text = read_text(args.file, "rights leaders import")
    if text is None:
        return 1
    good, bad = [], 0
    for line, row in read_leader_rows(text, args.file):
        if isinstance(row, RowError):
            bad += 1
            refused_row(args.file, line, row.field, row.reason)
        else:
            good.append(row)
    with command_redis(args.redis_url, args.data_dir, "rights leaders import") as url:
        write_leaders(sync_client(url, socket_timeout=10), good)
    active = sum(1 for leader in good if leader.active)
    print(f"imported {counted(len(good), 'leader')} ({active} active), refused {counted(bad, 'row')}", file=sys.stderr)
    return 1 if bad else 0
