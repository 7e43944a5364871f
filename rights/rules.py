"""`rights rules ...`: rule tables checked, described and compared locally, and changed on running servers.

validate, schema, generate-large and a diff of two files need no server. push, status,
diff, simulate, cancel and rollback call the admin routes: the server is `--server URL`
(or RIGHTS_SERVER, default http://127.0.0.1:8000); the admin token is read from
RIGHTS_ADMIN_TOKEN, never from the command line (where shell history and `ps` would keep it).
"""

from __future__ import annotations

import argparse
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import orjson

from engine.instants import format_instant

from .output import counted, print_json, progress_bar


def add_commands(commands: argparse._SubParsersAction) -> None:
    rules = commands.add_parser("rules", help="validate and inspect rule tables")
    rules_commands = rules.add_subparsers(dest="rules_command", required=True, metavar="ACTION")
    validate = rules_commands.add_parser("validate", help="check rule table files; every error with file:line")
    validate.add_argument("files", nargs="+", metavar="FILE")
    validate.set_defaults(run=cmd_validate)
    schema = rules_commands.add_parser("schema", help="print the rule format as JSON Schema")
    schema.set_defaults(run=cmd_schema)
    large = rules_commands.add_parser("generate-large", help="write the large benchmark table (100k skus)")
    large.add_argument("--out", help="where to write it (default examples/rules/large.json)")
    large.set_defaults(run=cmd_generate_large)
    _add_remote_commands(rules_commands)


def _add_remote_commands(rules_commands: argparse._SubParsersAction) -> None:
    def server_arg(parser):
        parser.add_argument(
            "--server",
            default=os.environ.get("RIGHTS_SERVER", "http://127.0.0.1:8000"),
            help="the API (RIGHTS_SERVER, default http://127.0.0.1:8000)",
        )
        parser.add_argument("--brand", help="the brand whose rule tables (default: the server's home brand)")

    push = rules_commands.add_parser("push", help="push a rule table to a running server (validated there first)")
    push.add_argument("file")
    push.add_argument("--at", help="activate at this instant (ISO 8601 or Unix seconds); default: at once")
    push.add_argument("--author", default=os.environ.get("USER", "rule-author"), help="who is pushing")
    push.add_argument("--label", help="a name for this version (default: the table's name)")
    server_arg(push)
    push.set_defaults(run=cmd_push)

    status = rules_commands.add_parser("status", help="active and scheduled versions, and which worker serves which")
    server_arg(status)
    status.set_defaults(run=cmd_status)

    diff = rules_commands.add_parser("diff", help="what changed between two versions (or two files, no server)")
    diff.add_argument("files", nargs="*", metavar="FILE", help="two rule table files to compare locally")
    diff.add_argument("--from", dest="old", help="server: the older version (default: the previous one)")
    diff.add_argument("--to", dest="new", help="server: the newer version (default: the active one)")
    diff.add_argument("--json", action="store_true", help="the changes as JSON")
    server_arg(diff)
    diff.set_defaults(run=cmd_diff)

    sim = rules_commands.add_parser("simulate", help="quote carts under a candidate table, against the active one")
    sim.add_argument("file", nargs="?", help="the candidate rule table (default: the active table)")
    sim.add_argument("--carts", help="a JSON file: a list of eligibility requests (member may be inline)")
    sim.add_argument("--at", help="the instant to quote at (ISO 8601 or Unix seconds); default: now")
    sim.add_argument("--replay", type=int, default=0, help="also replay the latest N real eligibility requests")
    sim.add_argument("--json", action="store_true", help="the whole answer as JSON")
    server_arg(sim)
    sim.set_defaults(run=cmd_simulate)

    cancel = rules_commands.add_parser("cancel", help="cancel a scheduled version before it goes live")
    cancel.add_argument("version")
    server_arg(cancel)
    cancel.set_defaults(run=cmd_cancel)

    rollback = rules_commands.add_parser("rollback", help="back to the previous version, or --to VERSION")
    rollback.add_argument("--to", help="the version to activate (default: the one before the active one)")
    server_arg(rollback)
    rollback.set_defaults(run=cmd_rollback)


def cmd_validate(args: argparse.Namespace) -> int:
    from engine.rules.load import RulesInvalid, load_file

    failed = 0
    for name in args.files:
        path = Path(name)
        if not path.is_file():
            print(f"{name}: {'a directory, not a file' if path.is_dir() else 'no such file'}", file=sys.stderr)
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
        print(
            f"{name}: ok, version {table.version}: {len(model.tiers)} tiers, {len(model.products)} products, "
            f"{len(model.rooms)} rooms, {len(model.coupons)} coupons, {len(model.redemptions)} redemptions"
        )
    return 1 if failed else 0


def cmd_schema(args: argparse.Namespace) -> int:
    from engine.rules.schema import rule_table_schema

    print_json(rule_table_schema())
    return 0


def cmd_generate_large(args: argparse.Namespace) -> int:
    from bench.large_table import DEFAULT_COUPONS, DEFAULT_SKUS, ensure_large_table

    # A bar on a terminal only; `delay` keeps it away when the table is already there.
    with progress_bar(DEFAULT_SKUS + DEFAULT_COUPONS, "items", unit_scale=True, delay=0.5) as bar:

        def built(stage: str, items: int) -> None:  # products, then coupons, then writing
            bar.set_description_str(stage, refresh=False)
            if items:
                bar.update(items)
            else:
                bar.refresh()

        path = ensure_large_table(Path(args.out) if args.out else None, progress=built)
    print(path)
    return 0


class ServerUrlInvalid(ValueError):
    """--server (RIGHTS_SERVER) is not a URL the commands can call: refused in one line (exit 2)."""

    exit_code = 2


def request(
    server: str,
    method: str,
    path: str,
    body: bytes | None = None,
    params: dict | None = None,
    content_type: str = "application/json",
    brand: str | None = None,
) -> tuple:
    """(status, parsed JSON or text) of one admin call (for `brand`'s tables, when given);
    network faults become (0, message)."""
    if not server.startswith(("http://", "https://")) or not urllib.parse.urlsplit(server).hostname:
        raise ServerUrlInvalid(f"--server {server!r}: not an http:// or https:// URL (RIGHTS_SERVER)")
    if brand:
        params = {**(params or {}), "brand": brand}
    url = server.rstrip("/") + path + ("?" + urllib.parse.urlencode(params) if params else "")
    headers = {"Content-Type": content_type}
    token = os.environ.get("RIGHTS_ADMIN_TOKEN")
    if token:
        headers["Authorization"] = f"Bearer {token}"
    req = urllib.request.Request(url, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=120) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    except urllib.error.URLError as exc:
        return 0, f"cannot reach {server}: {exc.reason}"
    try:
        return status, orjson.loads(raw)
    except orjson.JSONDecodeError:
        return status, raw.decode(errors="replace")


def _fail(status: int, answer, what: str, file: str | None = None) -> int:
    if status == 0:
        print(f"rights rules {what}: {answer}", file=sys.stderr)
        return 1
    if isinstance(answer, dict) and "problems" in answer:
        for problem in answer["problems"]:
            where = f"{file}:{problem['line']}" if problem.get("line") else file
            place = f"{problem['place']}: " if problem.get("place") else ""
            print(f"{where}: {place}{problem['message']}", file=sys.stderr)
        print(f"{file}: refused by the server, nothing changed", file=sys.stderr)
        return 1
    error = answer.get("error", {}) if isinstance(answer, dict) else {}
    print(f"rights rules {what}: HTTP {status}: {error.get('reason', answer)}", file=sys.stderr)
    return 1


def cmd_push(args: argparse.Namespace) -> int:
    try:
        source = Path(args.file).read_bytes()
    except OSError as exc:
        print(f"rights rules push: {args.file}: {exc.strerror}", file=sys.stderr)
        return 1
    params = {"author": args.author}
    if args.label:
        params["label"] = args.label
    if args.at:
        params["activate_at"] = args.at
    status, answer = request(args.server, "POST", "/v1/rules", source, params, "application/yaml", brand=args.brand)
    if status != 201:
        return _fail(status, answer, "push", args.file)
    when = "active now" if answer["activated"] else f"scheduled for {answer['activate_at']}"
    print(f"{answer['version']}: {when}")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    status, answer = request(args.server, "GET", "/v1/rules", brand=args.brand)
    if status != 200:
        return _fail(status, answer, "status")
    sys.stdout.write(orjson.dumps(with_readable_times(answer), option=orjson.OPT_INDENT_2).decode() + "\n")
    return 0


def with_readable_times(value: Any) -> Any:
    """The answer as the server gave it, each instant (`..._at`, Unix seconds) followed by
    the same instant in ISO 8601, UTC, under `..._at_utc`, for a reader."""
    if isinstance(value, list):
        return [with_readable_times(item) for item in value]
    if not isinstance(value, dict):
        return value
    out = {}
    for key, item in value.items():
        out[key] = with_readable_times(item)
        if key.endswith("_at") and isinstance(item, int | float) and not isinstance(item, bool):
            out[f"{key}_utc"] = format_instant(item)
    return out


def cmd_diff(args: argparse.Namespace) -> int:
    if args.files:
        if len(args.files) != 2:
            print("rights rules diff: give two files (old, new), or none to ask the server", file=sys.stderr)
            return 2
        from engine.rules.diff import describe, diff_tables
        from engine.rules.load import RulesInvalid, load_file

        tables = []
        for name in args.files:
            try:
                tables.append(load_file(name))
            except RulesInvalid as exc:
                for problem in exc.problems:
                    print(problem.render(name), file=sys.stderr)
                return 1
            except OSError as exc:
                print(f"rights rules diff: {name}: {exc.strerror}", file=sys.stderr)
                return 1
        old, new = tables
        answer = describe(old.version, new.version, diff_tables(old.model, new.model))
    else:
        params = {k: v for k, v in (("from", args.old), ("to", args.new)) if v}
        status, answer = request(args.server, "GET", "/v1/rules/diff", params=params, brand=args.brand)
        if status != 200:
            return _fail(status, answer, "diff")
    if args.json:
        sys.stdout.write(orjson.dumps(answer, option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        print(f"{answer['from']} -> {answer['to']}: {len(answer['changes'])} change(s)")
        for change in answer["changes"]:
            print(f"  {change['text']}")
    return 0


def cmd_simulate(args: argparse.Namespace) -> int:
    body: dict = {"replay": args.replay}
    reading = args.file
    try:
        if args.file:
            body["rules"] = Path(args.file).read_text(encoding="utf-8")
        if args.carts:
            reading = args.carts
            body["carts"] = orjson.loads(Path(args.carts).read_bytes())
    except OSError as exc:
        print(f"rights rules simulate: {reading}: {exc.strerror}", file=sys.stderr)
        return 1
    except UnicodeDecodeError as exc:
        print(f"rights rules simulate: {reading}: not UTF-8 text: {exc}", file=sys.stderr)
        return 1
    except orjson.JSONDecodeError as exc:  # the carts: JSON
        print(f"{reading}:{exc.lineno}: not valid JSON: {exc.msg}", file=sys.stderr)
        return 1
    if args.at:
        body["at"] = args.at
    status, answer = request(args.server, "POST", "/v1/rules/simulate", orjson.dumps(body), brand=args.brand)
    if status != 200:
        return _fail(status, answer, "simulate", args.file)
    if args.json:
        sys.stdout.write(orjson.dumps(answer, option=orjson.OPT_INDENT_2).decode() + "\n")
        return 0
    print(
        f"{answer['active']} -> {answer['candidate']}: {counted(answer['carts'], 'cart')}, "
        f"{answer['changed']} changed, "
        f"payable {answer['payable_change']:+d} fen, points {answer['points_change']:+d}"
    )
    for result in answer["results"]:
        change = result["change"]
        if change["payable"] or change["points"] or change["coupons_added"] or change["coupons_removed"]:
            which = (
                f"cart {result['cart'] + 1}"
                if "cart" in result
                else f"replay of {format_instant(result['replayed_at'])}"
            )
            extra = "".join(f" +{c}" for c in change["coupons_added"]) + "".join(
                f" -{c}" for c in change["coupons_removed"]
            )
            print(f"  {which}: payable {change['payable']:+d}, points {change['points']:+d}{extra}")
    return 0


def cmd_cancel(args: argparse.Namespace) -> int:
    status, answer = request(
        args.server, "DELETE", f"/v1/rules/scheduled/{urllib.parse.quote(args.version, safe='')}", brand=args.brand
    )
    if status != 200:
        return _fail(status, answer, "cancel")
    print(f"{answer['version']}: cancelled; it will not go live")
    return 0


def cmd_rollback(args: argparse.Namespace) -> int:
    body = orjson.dumps({"to": args.to}) if args.to else b""
    status, answer = request(args.server, "POST", "/v1/rules/rollback", body, brand=args.brand)
    if status != 200:
        return _fail(status, answer, "rollback")
    print(f"{answer['version']}: active now")
    return 0
