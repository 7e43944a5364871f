"""`rights ledger verify|anchor`: check the ledger's hash chains, and anchor their heads.

    rights ledger verify --member ID     one member's chain
    rights ledger verify --all           every member (SCAN over every primary) and the brand chain;
                                         redemptions and handovers (those the pick lists still
                                         hold) missing from the brand chain are findings, linked
                                         by --repair
    rights ledger verify --anchor FILE   the chains still extend the heads of an anchor
    rights ledger anchor [--out FILE]    every chain's head and their digest, as JSON; kept in Redis too

A finding is printed as one line on stdout: the member, the entry's stream id, its number
in the chain and what is wrong (edited, deleted, reordered). Exit codes: 0 all chains
check (a one-line summary), 1 a finding (or Redis not reached), 2 a wrong command line.
What is hashed, and what a chain proves: docs/API.md#verifying-the-ledger.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from api.redis.connect import sync_client

from .loading import redis_options
from .output import counted


def add_commands(commands: argparse._SubParsersAction) -> None:
    ledger = commands.add_parser("ledger", help="verify the points ledger's hash chains; anchor their heads")
    actions = ledger.add_subparsers(dest="ledger_command", required=True, metavar="ACTION")
    verify = actions.add_parser("verify", help="recompute the hash chains; exit 1 on any finding")
    which = verify.add_mutually_exclusive_group(required=True)
    which.add_argument("--member", help="one member's chain")
    which.add_argument("--all", action="store_true", help="every member's chain and the brand chain")
    which.add_argument("--anchor", metavar="FILE", help="check the chains extend this anchor's heads")
    verify.add_argument(
        "--repair", action="store_true", help="with --all: link the redemptions and handovers the brand chain misses"
    )
    verify.add_argument(
        "--grace-seconds",
        type=float,
        default=None,
        help="with --all: a redemption younger than this may still be on its way to the brand chain (default 60)",
    )
    redis_options(verify)
    verify.set_defaults(run=cmd_verify)
    anchor = actions.add_parser("anchor", help="every chain's head and their digest, as JSON (kept in Redis too)")
    anchor.add_argument("--out", metavar="FILE", help="write the anchor here (default: stdout)")
    redis_options(anchor)
    anchor.set_defaults(run=cmd_anchor)


def _client(args: argparse.Namespace, command: str):
    from api.serve.command_redis import NoServer, running_redis

    try:
        url = running_redis(args.redis_url, args.data_dir)
    except NoServer as exc:
        print(f"{command}: {exc}", file=sys.stderr)
        return None
    return sync_client(url, socket_timeout=30)


def cmd_verify(args: argparse.Namespace) -> int:
    from api import ledger_chain as chain

    if (args.repair or args.grace_seconds is not None) and not args.all:
        print("rights ledger verify: --repair and --grace-seconds go with --all", file=sys.stderr)
        return 2
    client = _client(args, "rights ledger verify")
    if client is None:
        return 1
    findings: list = []
    members = entries = 0
    if args.anchor:
        try:
            doc = json.loads(Path(args.anchor).read_text(encoding="utf-8"))
            found, members, entries = chain.check_anchor(client, doc)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            print(f"rights ledger verify: {args.anchor}: not an anchor: {exc}", file=sys.stderr)
            return 1
        findings += found
    elif args.member:
        from api.redis.keys import member_key

        if not client.exists(member_key(args.member)):
            print(f"rights ledger verify: no member {args.member!r}", file=sys.stderr)
            return 1
        report = chain.verify_member(client, args.member)
        members, entries = 1, report.entries
        if report.finding is not None:
            findings.append(report.finding)
    else:
        grace = chain.LINK_GRACE_SECONDS if args.grace_seconds is None else args.grace_seconds
        linked = 0
        for batch in chain.members(client):
            for member_id in batch:
                report = chain.verify_member(client, member_id)
                members, entries = members + 1, entries + report.entries
                if report.finding is not None:
                    findings.append(report.finding)
                    continue
                missing, wrong = chain.unlinked(client, report, grace)
                if wrong is not None:
                    findings.append(wrong)
                for n, h, entry_id, at in missing:
                    if args.repair:
                        chain.link_redemption(chain.Scripts(client), member_id, n, h, at)
                        linked += 1
                    else:
                        findings.append(
                            chain.Finding(
                                member_id, entry_id, n, "a redemption missing from the brand chain (--repair)"
                            )
                        )
        handed = 0
        for listed in chain.handovers(client):
            for member_id, leader, code, at in chain.unlinked_handovers(client, listed):
                if args.repair:
                    chain.link_handover(chain.Scripts(client), member_id, leader, code, at)
                    handed += 1
                else:
                    findings.append(
                        chain.Finding(
                            member_id,
                            "",
                            None,
                            f"the handover of {code} by {leader} is missing from the brand chain (--repair)",
                        )
                    )
        brand = chain.verify_brand(client)
        entries += brand.entries
        if brand.finding is not None:
            findings.append(brand.finding)
        if linked:
            print(f"linked {counted(linked, 'redemption')} into the brand chain")
        if handed:
            print(f"linked {counted(handed, 'handover')} into the brand chain")
    for finding in findings:
        print(finding)
    if findings:
        print(f"rights ledger verify: {counted(len(findings), 'finding')}", file=sys.stderr)
        return 1
    print(
        f"ledger verified: {counted(members, 'member')}, {counted(entries, 'entry')} checked".replace(
            "entrys", "entries"
        )
    )
    return 0


def cmd_anchor(args: argparse.Namespace) -> int:
    from api import ledger_chain as chain

    out = Path(args.out) if args.out else None
    if out is not None and (out.is_dir() or not (out.parent.is_dir() and os.access(out.parent, os.W_OK))):
        # before the anchor is recorded in Redis: an anchor must not be listed there that never left the machine
        print(f"rights ledger anchor: --out {args.out}: not a file in a directory this user may write", file=sys.stderr)
        return 1
    client = _client(args, "rights ledger anchor")
    if client is None:
        return 1
    doc = chain.make_anchor(client)
    text = json.dumps(doc, sort_keys=True) + "\n"
    if out is not None:
        try:
            out.write_text(text, encoding="utf-8")
        except OSError as exc:
            print(f"rights ledger anchor: --out {args.out}: {exc} (the anchor is recorded in Redis)", file=sys.stderr)
            return 1
        print(
            f"anchored {counted(doc['members'], 'member')} and the brand chain at seq {doc['brand']['seq']}: "
            f"{doc['digest']}",
            file=sys.stderr,
        )
    else:
        sys.stdout.write(text)
    return 0
