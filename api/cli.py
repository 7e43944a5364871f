"""`rights serve` and `rights members`: the server and its member store, from the CLI.

Without a Redis URL (flag or REDIS_URL) both use the embedded default: a redis-server
child with its data under ./var (AOF on), owned by whoever holds the data directory's
lock (api/data_lock.py). `rights serve` is a supervisor (api/supervisor.py) and names
its Redis in the lock file, so `rights members ...` reaches the running server's Redis;
with no server running, they take the lock and start the embedded redis-server for the
command, and stop it after.
"""
from __future__ import annotations

import contextlib
import os
import sys
import time
from pathlib import Path
from typing import Iterator, Optional

import orjson
from redis.exceptions import RedisClusterException, RedisError

from .data_lock import DYING_HOLDER_WAIT_S, DataDirBusy, DataDirLock, alive
from .parent_watch import die_with_parent
from .redis.connect import sync_client
from .redis.embedded import EmbeddedRedis, answers_ping
from .settings import Settings



def add_serve_commands(commands) -> None:
    serve = commands.add_parser("serve", help="run the eligibility API (embedded Redis unless REDIS_URL is set)")
    serve.add_argument("--host", help="listen address (RIGHTS_HOST, default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="listen port (RIGHTS_PORT, default 8000)")
    serve.add_argument("--workers", type=int, help="worker processes (RIGHTS_WORKERS, default 1)")
    serve.add_argument("--rules", help="rule table file (RIGHTS_RULES, default the demo table)")
    serve.add_argument("--redis-url", help="use this Redis (REDIS_URL); without it a local redis-server is started")
    serve.add_argument("--data-dir", help="the embedded Redis's data directory (RIGHTS_DATA_DIR, default ./var)")
    serve.add_argument("--appendfsync", choices=("everysec", "always"), default="everysec",
                       help="the embedded Redis's AOF fsync policy (default everysec)")
    serve.add_argument("--demo", action="store_true",
                       help="load the demo rules and about 10,000 demo members; requests may then set the "
                            "instant with an X-Rights-Now header (a rehearsal of the gala night)")
    serve.add_argument("--no-access-log", action="store_true", help="no JSON access log lines on stdout")
    serve.add_argument("--push-rules", action="store_true",
                       help="when Redis already holds another active rule table, push the --rules file as a new "
                            "version, active at once (without it, Redis's active version is served)")
    serve.set_defaults(run=cmd_serve)

    members = commands.add_parser("members", help="load and look up members in Redis")
    actions = members.add_subparsers(dest="members_command", required=True, metavar="ACTION")
    load = actions.add_parser("import", help="bulk-load members from JSON lines or CSV")
    load.add_argument("file")
    load.add_argument("--redis-url", help="default: REDIS_URL, else the embedded Redis under --data-dir")
    load.add_argument("--data-dir", default=None)
    load.add_argument("--rules", help="check tiers against this rule table (default: the demo table)")
    load.set_defaults(run=cmd_members_import)
    show = actions.add_parser("show", help="print one member as JSON")
    show.add_argument("member_id")
    show.add_argument("--redis-url")
    show.add_argument("--data-dir", default=None)
    show.set_defaults(run=cmd_members_show)

    leaders = commands.add_parser("leaders", help="load pickup leaders into Redis")
    leader_actions = leaders.add_subparsers(dest="leaders_command", required=True, metavar="ACTION")
    load_leaders = leader_actions.add_parser("import", help="load leaders from CSV or JSON lines "
                                                            "(id, name, lat, lon, active)")
    load_leaders.add_argument("file")
    load_leaders.add_argument("--redis-url", help="default: REDIS_URL, else the embedded Redis under --data-dir")
    load_leaders.add_argument("--data-dir", default=None)
    load_leaders.set_defaults(run=cmd_leaders_import)


@contextlib.contextmanager
def redis_for(url: Optional[str], data_dir: Optional[str], command: str) -> Iterator[str]:
    """A Redis URL to use: the one given, the running server's (named in the data
    directory's lock), or a redis-server started for the command under the lock.

    When the directory's holder offers no Redis that answers (another command still
    starting, a server whose Redis stays down), the command stops with one line."""
    url = url or os.environ.get("REDIS_URL")
    if url:
        yield url
        return
    lock = DataDirLock(data_dir or os.environ.get("RIGHTS_DATA_DIR", "var"))
    deadline = time.monotonic() + DYING_HOLDER_WAIT_S
    while not lock.try_acquire(command):
        holder = lock.holder()
        known = str(holder.get("url") or "")
        port = known.rsplit(":", 1)[-1].split("/")[0]
        if alive(holder.get("pid")) and port.isdigit() and answers_ping(int(port)):
            yield known
            return
        if time.monotonic() > deadline:  # a holder still starting, or one whose Redis does not answer
            print(f"{command}: {DataDirBusy(lock.directory, holder)}", file=sys.stderr)
            raise SystemExit(1)
        time.sleep(0.1)
    server = EmbeddedRedis(lock.directory, pass_fds=(lock.fd,), preexec_fn=die_with_parent(os.getpid()))
    try:
        server.start()
        lock.write(url=server.url)
        yield server.url
    finally:
        server.stop()
        lock.release()


def cmd_serve(args) -> int:
    """The supervisor's exit code: 0 after a stop signal, 1 when the server could not
    start, 2 for a wrong setting, 3 when a child kept dying (api/supervisor.py)."""
    from engine.rules import Problem, RulesInvalid, compile_source
    from engine.source import SourceError, read_bytes

    from .access import ApiKeys
    from .supervisor import Supervisor

    try:
        settings = Settings.from_env(host=args.host, port=args.port, workers=args.workers, rules=args.rules,
                                     redis_url=args.redis_url, data_dir=args.data_dir,
                                     access_log=False if args.no_access_log else None, demo=args.demo or None,
                                     allow_clock_override=True if args.demo else None)
    except ValueError as exc:
        print(f"rights serve: {exc}", file=sys.stderr)
        return 2
    try:
        ApiKeys(settings.api_keys, settings.api_keys_file or None)  # a bad entry is named here, not in a worker
    except ValueError as exc:
        print(f"rights serve: {exc}", file=sys.stderr)
        return 2
    try:
        source = read_bytes(settings.rules)
        table = compile_source(source)
    except (RulesInvalid, SourceError, OSError) as exc:
        problems = getattr(exc, "problems", None)
        if isinstance(exc, SourceError):
            problems = [Problem("", exc.line, exc.message)]
        for problem in problems or [exc]:
            print(problem.render(settings.rules) if problems else f"rights serve: {settings.rules}: {exc}",
                  file=sys.stderr)
        return 1
    return Supervisor(settings, table, source, appendfsync=args.appendfsync, push_rules=args.push_rules).run()


def cmd_members_import(args) -> int:

    from engine.demo import DEMO_RULES
    from engine.rules import RulesInvalid, load_file

    from .members_io import RowError, read_rows, record_from_row
    from .store import write_members

    text = _read_text(args.file, "rights members import")
    if text is None:
        return 1
    try:
        tiers = set(load_file(args.rules or DEMO_RULES).model.tier_ids())
    except RulesInvalid:
        print(f"rights members import: {args.rules} is not a valid rule table", file=sys.stderr)
        return 1
    rows = list(read_rows(text, args.file))
    total, good, bad, batch = len(rows), 0, 0, []
    with redis_for(args.redis_url, args.data_dir, "rights members import") as url:
        client = sync_client(url, socket_timeout=10)
        for done, (line, row) in enumerate(rows, start=1):
            try:
                if isinstance(row, RowError):
                    raise row
                batch.append(record_from_row(row, tiers))
            except RowError as exc:
                bad += 1
                place = f"{exc.field}: " if exc.field else ""
                print(f"\r{args.file}:{line}: {place}{exc.reason}", file=sys.stderr)
            if len(batch) >= 1000 or done == total:
                try:
                    good += write_members(client, batch) if batch else 0
                except (RedisError, RedisClusterException) as exc:  # e.g. a full Redis: say how far it got
                    print(f"\nrights members import: Redis refused the rows up to {args.file}:{line}: "
                          f"{type(exc).__name__}: {exc}; imported {good} before them", file=sys.stderr)
                    return 1
                batch = []
                _progress(done, total)
        if total == 0:
            _progress(0, 0)
    print(f"\nimported {good} member{'s' if good != 1 else ''}, refused {bad} row{'s' if bad != 1 else ''}",
          file=sys.stderr)
    return 1 if bad else 0


def _read_text(path: str, command: str) -> Optional[str]:
    """A UTF-8 file's text, or None after saying why not."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        print(f"{command}: {path}: {exc}", file=sys.stderr)
        return None


def _progress(done: int, total: int) -> None:
    width = 30
    filled = width * done // total if total else width
    sys.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} rows")
    sys.stderr.flush()


def cmd_members_show(args) -> int:
    from .store import read_member

    with redis_for(args.redis_url, args.data_dir, "rights members show") as url:
        record = read_member(sync_client(url, socket_timeout=5), args.member_id)
    if record is None:
        print(f"rights members show: no member {args.member_id!r}", file=sys.stderr)
        return 1
    sys.stdout.write(orjson.dumps(record.public(), option=orjson.OPT_INDENT_2).decode() + "\n")
    return 0


def cmd_leaders_import(args) -> int:
    """Every good row is stored; every bad one is reported as FILE:LINE: field: reason."""
    from .leaders import read_leader_rows, write_leaders
    from .members_io import RowError

    text = _read_text(args.file, "rights leaders import")
    if text is None:
        return 1
    good, bad = [], 0
    for line, row in read_leader_rows(text, args.file):
        if isinstance(row, RowError):
            bad += 1
            place = f"{row.field}: " if row.field else ""
            print(f"{args.file}:{line}: {place}{row.reason}", file=sys.stderr)
        else:
            good.append(row)
    with redis_for(args.redis_url, args.data_dir, "rights leaders import") as url:
        write_leaders(sync_client(url, socket_timeout=10), good)
    active = sum(1 for leader in good if leader.active)
    print(f"imported {len(good)} leader{'s' if len(good) != 1 else ''} ({active} active), refused {bad} "
          f"row{'s' if bad != 1 else ''}", file=sys.stderr)
    return 1 if bad else 0
