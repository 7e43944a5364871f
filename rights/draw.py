"""`rights draw verify`: recompute a draw's winners from its results document (the seed
revealed, the entry list, the prizes) and say whether they match (engine/draws.py).
`rights draw run ID`: draw on a running server (the admin token from RIGHTS_ADMIN_TOKEN),
then verify what it answered."""

from __future__ import annotations

import argparse
import os
import sys
import urllib.error
import urllib.request

import orjson


def add_commands(commands: argparse._SubParsersAction) -> None:
    draw = commands.add_parser("draw", help="check a live-room draw's winners")
    actions = draw.add_subparsers(dest="draw_command", required=True, metavar="ACTION")
    check = actions.add_parser(
        "verify",
        help="recompute the winners from a results document and the commitment; exit 0 match, 1 mismatch",
    )
    source = check.add_mutually_exclusive_group(required=True)
    source.add_argument("file", nargs="?", help="the results document (JSON of GET /v1/draws/<id>); - for stdin")
    source.add_argument("--url", help="fetch it: the results route, e.g. http://host:8000/v1/draws/GALA-LUCKY")
    source.add_argument("--redis-url", help="read the stored result from this Redis (with --draw)")
    check.add_argument("--draw", help="the draw id, with --redis-url")
    check.add_argument("--api-key", help="the X-Api-Key header for --url (a checkout key)")
    check.set_defaults(run=cmd_verify)
    run = actions.add_parser(
        "run", help="draw a closed draw on a server (RIGHTS_ADMIN_TOKEN), print its results, verify them"
    )
    run.add_argument("draw", metavar="ID")
    run.add_argument(
        "--server",
        default=os.environ.get("RIGHTS_SERVER", "http://127.0.0.1:8000"),
        help="the API (RIGHTS_SERVER, default http://127.0.0.1:8000)",
    )
    run.add_argument("--out", help="write the results document here (default: standard output)")
    run.set_defaults(run=cmd_run)


def cmd_run(args: argparse.Namespace) -> int:
    """POST /v1/draws/<id>/draw, then the document written out and verified: exit 0 drawn
    and matching, 1 refused or mismatching."""
    import urllib.parse

    from engine.draws import verify

    from .rules import request

    status, answer = request(args.server, "POST", f"/v1/draws/{urllib.parse.quote(args.draw, safe='')}/draw")
    if status != 200 or not isinstance(answer, dict):
        reason = answer.get("error", answer) if isinstance(answer, dict) else answer
        print(f"rights draw run: {status or 'no answer'}: {reason}", file=sys.stderr)
        return 1
    text = orjson.dumps(answer, option=orjson.OPT_INDENT_2).decode()
    if args.out:
        with open(args.out, "w", encoding="utf-8") as out:
            out.write(text + "\n")
    else:
        print(text)
    problems = verify(answer)
    for problem in problems:
        print(f"rights draw run: {problem}", file=sys.stderr)
    print(f"{'mismatch' if problems else 'match'}: draw {args.draw}, {len(answer['winners'])} winners", file=sys.stderr)
    return 1 if problems else 0


def _document(args: argparse.Namespace) -> tuple[dict | None, str]:
    if args.url:
        request = urllib.request.Request(args.url, headers={"X-Api-Key": args.api_key} if args.api_key else {})
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310 - an operator's URL
                return orjson.loads(answer.read()), args.url
        except (urllib.error.URLError, OSError) as exc:
            return None, f"{args.url}: {exc}"
    if args.redis_url:
        if not args.draw:
            return None, "--redis-url needs --draw ID"
        from api.redis.connect import sync_client
        from api.redis.keys import draw_key

        raw = sync_client(args.redis_url, socket_timeout=10).hget(draw_key(args.draw), "result")
        if raw is None:
            return None, f"draw {args.draw!r} is not drawn in that Redis"
        return orjson.loads(raw), f"{args.draw} in Redis"
    try:
        text = sys.stdin.buffer.read() if args.file == "-" else open(args.file, "rb").read()  # noqa: SIM115
    except OSError as exc:
        return None, f"{args.file}: {exc.strerror}"
    return orjson.loads(text), args.file


def cmd_verify(args: argparse.Namespace) -> int:
    from engine.draws import verify

    try:
        document, where = _document(args)
    except orjson.JSONDecodeError as exc:
        print(f"rights draw verify: not JSON: {exc}", file=sys.stderr)
        return 1
    if document is None:
        print(f"rights draw verify: {where}", file=sys.stderr)
        return 1
    if not isinstance(document, dict):
        print(f"rights draw verify: {where}: not a results document", file=sys.stderr)
        return 1
    problems = verify(document)
    name = document.get("draw_id", "?")
    if problems:
        for problem in problems:
            print(f"{where}: {problem}", file=sys.stderr)
        print(f"mismatch: draw {name}")
        return 1
    print(
        f"match: draw {name}, {len(document['winners'])} winners among {len(document['entries'])} entries, "
        f"SHA-256(seed) = commitment {document['commitment'][:16]}..."
    )
    return 0
