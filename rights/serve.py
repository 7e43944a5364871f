"""`rights serve`: the API under its supervisor (api/serve/supervisor.py), with its settings checked first.

A wrong setting or API key is named here, in one line, before any process starts.
"""

from __future__ import annotations

import argparse
import os
import sys

from engine.demo import DEMO_GRAIN_RULES

DEMO_BRANDS = f"grain={DEMO_GRAIN_RULES}"  # the demo's second brand


def add_commands(commands: argparse._SubParsersAction) -> None:
    serve = commands.add_parser("serve", help="run the eligibility API (embedded Redis unless REDIS_URL is set)")
    serve.add_argument("--host", help="listen address (RIGHTS_HOST, default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="listen port (RIGHTS_PORT, default 8000)")
    serve.add_argument("--workers", type=int, help="worker processes (RIGHTS_WORKERS, default 1)")
    serve.add_argument("--rules", help="rule table file (RIGHTS_RULES, default the demo table)")
    serve.add_argument("--brand", help="the home brand's id (RIGHTS_BRAND, default main; dairy with --demo)")
    serve.add_argument(
        "--brand-rules",
        help="further brands and their tables, BRAND=FILE entries separated by ; (RIGHTS_BRAND_RULES; "
        "with --demo, grain and its demo table)",
    )
    serve.add_argument("--redis-url", help="use this Redis (REDIS_URL); without it a local redis-server is started")
    serve.add_argument("--data-dir", help="the embedded Redis's data directory (RIGHTS_DATA_DIR, default ./var)")
    serve.add_argument(
        "--appendfsync",
        choices=("everysec", "always"),
        default="everysec",
        help="the embedded Redis's AOF fsync policy (default everysec)",
    )
    serve.add_argument(
        "--demo",
        action="store_true",
        help="load the demo rules and about 10,000 demo members; requests may then set the "
        "instant with an X-Rights-Now header (a rehearsal of the gala night)",
    )
    serve.add_argument("--no-access-log", action="store_true", help="no JSON access log lines on stdout")
    serve.add_argument(
        "--push-rules",
        action="store_true",
        help="when Redis already holds another active rule table, push the --rules file as a new "
        "version, active at once (without it, Redis's active version is served)",
    )
    serve.set_defaults(run=cmd_serve)
    reset = commands.add_parser(
        "reset", help="delete the embedded Redis's data directory (members, ledgers, pushed tables, stock)"
    )
    reset.add_argument("--data-dir", help="the directory (RIGHTS_DATA_DIR, default ./var)")
    reset.set_defaults(run=cmd_reset)


def cmd_serve(args: argparse.Namespace) -> int:
    """The supervisor's exit code: 0 after a stop signal, 1 when the server could not
    start, 2 for a wrong setting, 3 when a child kept dying (api/serve/supervisor.py)."""
    from api.access import ApiKeys, brand_admin_tokens
    from api.serve.supervisor import Supervisor
    from api.settings import Settings  # pydantic-settings: imported by the one command that reads it
    from engine.rules.load import Problem, RulesInvalid, compile_source
    from engine.rules.source import SourceError, read_bytes

    try:
        settings = Settings.from_env(
            host=args.host,
            port=args.port,
            workers=args.workers,
            rules=args.rules,
            redis_url=args.redis_url,
            data_dir=args.data_dir,
            access_log=False if args.no_access_log else None,
            demo=args.demo or None,
            allow_clock_override=True if args.demo else None,
            brand=args.brand or ("dairy" if args.demo else None),
            brand_rules=args.brand_rules if args.brand_rules is not None else (DEMO_BRANDS if args.demo else None),
        )
    except ValueError as exc:
        print(f"rights serve: {exc}", file=sys.stderr)
        return 2
    try:
        ApiKeys(settings.api_keys, settings.api_keys_file or None)  # a bad entry is named here, not in a worker
        brand_admin_tokens(strict=True)
    except ValueError as exc:
        print(f"rights serve: {exc}", file=sys.stderr)
        return 2
    try:
        brands = brand_files(settings.brand_rules, settings.brand)
    except ValueError as exc:
        print(f"rights serve: --brand-rules: {exc}", file=sys.stderr)
        return 2
    tables = []
    for brand, path in [("", settings.rules), *brands]:
        try:
            source = read_bytes(path)
            tables.append((brand, path, compile_source(source), source))
        except (RulesInvalid, SourceError, OSError) as exc:
            problems = getattr(exc, "problems", None)
            if isinstance(exc, SourceError):
                problems = [Problem("", exc.line, exc.message)]
            for problem in problems or [exc]:
                print(problem.render(path) if problems else f"rights serve: {path}: {exc}", file=sys.stderr)
            return 1
    _, _, table, source = tables[0]
    return Supervisor(
        settings, table, source, appendfsync=args.appendfsync, push_rules=args.push_rules, brands=tables[1:]
    ).run()


def brand_files(text: str, home: str) -> list[tuple[str, str]]:
    """`brand=FILE;...` as (brand, path) pairs; ValueError names a wrong entry."""
    from api.brands import BRAND_ID, BRAND_ID_HELP, MAX_BRANDS

    out: list[tuple[str, str]] = []
    for entry in filter(None, (part.strip() for part in text.split(";"))):
        brand, sep, path = (part.strip() for part in entry.partition("="))
        if not sep or not path:
            raise ValueError(f"{entry!r}: expected BRAND=FILE")
        if not BRAND_ID.match(brand):
            raise ValueError(f"{brand!r}: must be {BRAND_ID_HELP}")
        if brand == home or brand in dict(out):
            raise ValueError(f"brand {brand} is named twice (the home brand is {home})")
        out.append((brand, path))
    if len(out) + 1 > MAX_BRANDS:
        raise ValueError(f"at most {MAX_BRANDS} brands, the home brand among them")
    return out


def cmd_reset(args: argparse.Namespace) -> int:
    """Start over from the demo state: refused, with the holder named, while a server or
    command holds the directory; nothing is stopped."""
    from api.serve.data_lock import DataDirBusy, NotADataDir, reset

    directory = args.data_dir or os.environ.get("RIGHTS_DATA_DIR") or "var"
    try:
        deleted = reset(directory)
    except (DataDirBusy, NotADataDir) as exc:
        print(f"rights reset: {exc}", file=sys.stderr)
        return 1
    print(f"rights reset: {'deleted' if deleted else 'nothing to delete:'} {directory}/", file=sys.stderr)
    return 0
