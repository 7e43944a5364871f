"""The redemption rush of a flash sale, on loopback, bounded in time: 500 members send 4
redemption requests each (2,000 at once, 200 connections) for an item with stock 100 to
`rights serve --workers 2` over one real redis-server, with the server's default Redis
timeout. Each run must answer every request with 200 or 409 (never a 503 while Redis is
healthy), sell exactly 100 units and leave every balance equal to its ledger and lots.

`rights bench rush --runs 20` repeats it on a fresh Redis each time and says on stderr, per
run, the answers by status, the slowest answer and whether the books hold.
"""

from __future__ import annotations

import asyncio
import collections
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson
import yaml

from api.ledger import ledger_entries
from api.redis.connect import sync_client
from api.redis.embedded import EmbeddedRedis, free_port
from api.redis.keys import REDEMPTIONS, lots_key, member_key, reservations_key, stock_key
from api.store import MemberRecord, write_members
from bench.demo_server import stop_group, with_the_benchmark
from bench.progress import report
from engine.demo import DEMO_RULES

ROOT = Path(__file__).resolve().parent.parent
MEMBERS, TRIES, STOCK, CONNECTIONS = 500, 4, 100, 200


def race_rules(directory: Path) -> Path:
    data = yaml.safe_load(DEMO_RULES.read_text(encoding="utf-8"))
    data["redemptions"].append({"id": "RACE-ITEM", "points": 300, "stock": STOCK})
    path = directory / "race.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def run_once(redis_url: str, directory: Path, extra_env: dict | None = None) -> dict:
    """One rush against a fresh server on `redis_url` (flushed first); what it saw."""
    client = sync_client(redis_url)
    client.flushall()
    members = [MemberRecord(id=f"R{k:03d}", tier="gold", points=700) for k in range(MEMBERS)]  # two units each
    write_members(client, members)
    port = free_port()
    env = {
        **os.environ,
        "REDIS_URL": redis_url,
        "RIGHTS_DATA_DIR": str(directory),
        "RIGHTS_ACCESS_LOG": "0",
        "RIGHTS_RULES": str(race_rules(directory)),
        **(extra_env or {}),
    }
    log = open(directory / "server.log", "w")
    server = subprocess.Popen(
        [sys.executable, "-m", "rights", "serve", "--workers", "2", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log,
        start_new_session=True,
        preexec_fn=with_the_benchmark(),
    )

    async def burst() -> list:
        await _until_ready(port)
        queue = [(m.id, n) for n in range(TRIES) for m in members]
        queue.reverse()
        results: list = []

        async def connection() -> None:  # one keep-alive connection, requests one after another
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            try:
                while queue:
                    member, n = queue.pop()
                    body = orjson.dumps({"member_id": member, "redemption_id": "RACE-ITEM"})
                    started = time.perf_counter()
                    writer.write(
                        b"POST /v1/redemptions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                        b"Content-Type: application/json\r\nIdempotency-Key: try-%d\r\n"
                        b"Content-Length: %d\r\n\r\n%s" % (n, len(body), body)
                    )
                    status, answer = await _read_response(reader)
                    results.append((status, answer, time.perf_counter() - started))
            finally:
                writer.close()

        await asyncio.gather(*[connection() for _ in range(CONNECTIONS)])
        return results

    try:
        results = asyncio.run(burst())
    finally:
        stop_group(server)
        log.close()
    statuses = collections.Counter(status for status, _, _ in results)
    codes = collections.Counter(
        orjson.loads(answer).get("error", {}).get("code") for status, answer, _ in results if status != 200
    )
    books = all(_books_hold(client, m.id) for m in members)
    left = int(client.get(stock_key(REDEMPTIONS, "RACE-ITEM")) or -1)
    open_reservations = client.hlen(reservations_key(REDEMPTIONS, "RACE-ITEM"))
    client.close()
    return {
        "requests": len(results),
        "statuses": dict(sorted(statuses.items())),
        "codes": dict(codes),
        "sold": statuses.get(200, 0),
        "stock_left": left,
        "open_reservations": open_reservations,
        "books_hold": books,
        "slowest_s": round(max(s for _, _, s in results), 3),
        "ok": set(statuses) <= {200, 409}
        and statuses.get(200, 0) == STOCK
        and left == 0
        and books
        and open_reservations == 0,
    }


async def _until_ready(port: int, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"GET /readyz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            status, _ = await _read_response(reader)
            writer.close()
            if status == 200:
                return
        except OSError:
            pass
        await asyncio.sleep(0.1)
    raise RuntimeError("the server did not become ready")


async def _read_response(reader) -> tuple:
    """(status, body) of one HTTP/1.1 response with a Content-Length (what the API sends)."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    length = next(int(line.split(b":", 1)[1]) for line in lines if line.lower().startswith(b"content-length:"))
    return int(lines[0].split(b" ")[1]), await reader.readexactly(length)


def _books_hold(client, member_id: str) -> bool:
    """The balance is the sum of the ledger's entries and of the lots; a member whose ledger
    has not begun (never charged: imported, then refused) holds its balance alone."""
    points = int(client.hget(member_key(member_id), "points"))
    raw_lots = client.hgetall(lots_key(member_id))
    entries = ledger_entries(client, member_id, count=None)
    if not raw_lots and not entries:
        return points >= 0
    deltas = [int(fields[b"delta"]) for _, fields in entries]
    lots = {k: v for k, v in raw_lots.items() if k != b"#"}
    return points >= 0 and points == sum(deltas) == sum(int(v.split()[0]) for v in lots.values())


def run(runs: int = 20, as_json: bool = False) -> int:
    """`rights bench rush`: `runs` rushes in a row; exit 1 if any went wrong."""
    outcomes = []
    with tempfile.TemporaryDirectory(prefix="rights-rush-") as tmp:
        with EmbeddedRedis(Path(tmp) / "redis", preexec_fn=with_the_benchmark()) as redis:
            for n in range(1, runs + 1):
                outcome = run_once(redis.url, Path(tmp))
                outcomes.append(outcome)
                report(
                    "rush",
                    n,
                    runs,
                    "sold",
                    f"{outcome['sold']}, answers {outcome['statuses']} {outcome['codes']}, "
                    f"slowest {outcome['slowest_s']} s, books {'hold' if outcome['books_hold'] else 'BROKEN'}"
                    f"{'' if outcome['ok'] else '  <- FAILED'}",
                    step="run",
                )
    failed = sum(not o["ok"] for o in outcomes)
    unavailable = sum(o["statuses"].get(503, 0) for o in outcomes)
    summary = {
        "runs": runs,
        "failed_runs": failed,
        "answers_503": unavailable,
        "slowest_s": max(o["slowest_s"] for o in outcomes),
        "outcomes": outcomes,
    }
    if as_json:
        sys.stdout.write(orjson.dumps(summary, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS).decode() + "\n")
    else:
        print(
            f"{runs - failed}/{runs} rushes right; 503 answers: {unavailable}; slowest answer {summary['slowest_s']} s"
        )
    return 1 if failed else 0
