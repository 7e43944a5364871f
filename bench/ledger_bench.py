"""Benchmarks of the write paths, on loopback only, bounded in time.

- Leaders: 20,000 orders assigned to the nearest of 800 leaders (a city-sized area,
  ~10% of the leaders inactive) through engine.geo.LeaderIndex, side by side with a
  vectorised numpy scan of every leader for the same points (the two must agree).
- Settlement and redemption: `rights serve --demo --workers 2` (embedded redis-server)
  driven by wrk at 64 connections, rounds alternating with the no-op route: every
  settlement is a new order (a 2-line pickup cart in the gala room), every redemption a
  new idempotency key for an item with ample stock that costs one point, each round with
  ids of its own, so the figures are of work that writes, not of replays or refusals. `<route>_over_noop` is the
  route's rate over the no-op route's in the same run.
- What each request asks of Redis: INFO commandstats before and after each route's
  rounds, per request (`<route>_scripts_per_request`: script calls; `..._redis_commands_
  per_request`: every command, those a script runs included), and the round trips,
  counted at the client by sending 200 more of each request through the app in this
  process, on the same Redis (bench/round_trips.py).
- CPU per request, by the server (its workers and its embedded Redis: every process
  under it, from /proc) and by Redis alone (INFO cpu), per route: on a shared machine
  whose speed drifts the rates move with it, what a request costs much less.
"""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np
import orjson
import yaml

from api.redis.connect import sync_client
from bench.api_bench import _wrk, headline
from bench.demo_server import cpu_seconds, demo_server_and_redis
from bench.engine_bench import GALA_NIGHT
from bench.progress import report
from bench.round_trips import per_request, running
from engine.demo import DEMO_GRAIN_RULES, DEMO_RULES
from engine.geo import Leader, LeaderIndex

_LUA = """
local members = {%(members)s}
local counter = 0
local ids = 0
setup = function(thread)
  ids = ids + 1
  thread:set("thread_id", ids)
end
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-Rights-Now"] = "%(now)d"
request = function()
  counter = counter + 1
  local n = thread_id * 100000000 + counter
  local member = members[counter %% #members + 1]
  %(request)s
end
"""
_SETTLE = """local body = string.format('{"order_id":"B%%d-%(run)s","member_id":"%%s","room":"gala","fulfillment":"pickup","rules_version":"%(version)s","lines":[{"sku":"MILK-1L","qty":1},{"sku":"YOGURT-6","qty":1}]}', n, member)
  return wrk.format(nil, nil, nil, body)"""
_REDEEM = """wrk.headers["Idempotency-Key"] = string.format("b%%d-%(run)s", n)
  local body = string.format('{"member_id":"%%s","redemption_id":"BENCH-SAMPLE"}', member)
  return wrk.format(nil, nil, nil, body)"""


def leaders_figures(n_leaders: int = 800, n_orders: int = 20_000, seed: int = 5) -> dict:
    rng = random.Random(seed)
    leaders = [
        Leader(f"L{k:04d}", "", 31.05 + rng.random() * 0.35, 121.25 + rng.random() * 0.45, rng.random() > 0.1)
        for k in range(n_leaders)
    ]
    lats = np.array([31.0 + rng.random() * 0.45 for _ in range(n_orders)])
    lons = np.array([121.2 + rng.random() * 0.55 for _ in range(n_orders)])
    started = time.perf_counter()
    index = LeaderIndex(leaders)
    built = time.perf_counter() - started
    found = index.nearest_many(lats, lons)
    assigned = time.perf_counter() - started
    # the same by a numpy scan of every active leader, in chunks
    started = time.perf_counter()
    active = [one for one in leaders if one.active]
    ids = sorted(range(len(active)), key=lambda k: active[k].id)
    ax = np.array([active[k].lon for k in ids]) * index.cos0
    ay = np.array([active[k].lat for k in ids])
    scanned = []
    for lo in range(0, n_orders, 2000):
        d2 = (ax[None, :] - (lons[lo : lo + 2000] * index.cos0)[:, None]) ** 2 + (
            ay[None, :] - lats[lo : lo + 2000][:, None]
        ) ** 2
        scanned += [active[ids[k]].id for k in np.argmin(d2, axis=1)]
    scan_s = time.perf_counter() - started
    agree = sum(1 for (leader_id, _), other in zip(found, scanned) if leader_id == other)
    return {
        "leaders": n_leaders,
        "orders": n_orders,
        "leader_index_build_s": round(built, 4),
        "assign_orders_s": round(assigned, 3),
        "numpy_scan_s": round(scan_s, 3),
        "assignments_agreeing_with_scan": agree,
    }


_WHAT = {"settle": "settlement", "redeem": "redemption"}  # the routes, as a progress line names them


def write_figures(seconds: int = 5, rounds: int = 2, connections: int = 64) -> dict:
    if shutil.which("wrk") is None:
        raise SystemExit("the write benchmark needs wrk: apt-get install wrk")
    data = yaml.safe_load(DEMO_RULES.read_text(encoding="utf-8"))
    data["redemptions"].append({"id": "BENCH-SAMPLE", "name": "bench sample", "points": 1, "stock": 1_000_000_000})
    requests: dict = {}
    with tempfile.TemporaryDirectory() as scratch:
        rules = Path(scratch) / "bench-rules.yaml"
        rules.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
        with demo_server_and_redis(
            2, RIGHTS_RULES=str(rules), RIGHTS_REDEMPTIONS_PER_MINUTE="0", RIGHTS_EVENTS_PER_MINUTE="0"
        ) as (base, redis_url, server):
            version = orjson.loads(_post(base + "/v1/eligibility", b'{"lines":[]}'))["rules_version"]
            members = _members_who_can_redeem(2000)
            scripts = {
                (name, k): _wrk_script(Path(scratch), name, request, k, version, members)
                for name, request in (("settle", _SETTLE), ("redeem", _REDEEM))
                for k in range(1, rounds + 1)
            }
            route = {"settle": "/v1/orders", "redeem": "/v1/redemptions"}
            redis = sync_client(redis_url)
            _wrk(base + "/v1/noop", 2, connections)
            rows: dict = {"noop": [], "settle": [], "redeem": []}
            commands: dict = {"settle": Counter(), "redeem": Counter()}
            cpu: dict = {"noop": [0.0, 0.0], "settle": [0.0, 0.0], "redeem": [0.0, 0.0]}  # server, of it Redis
            for k in range(1, rounds + 1):
                for name in ("noop", "settle", "redeem"):
                    before, used = _calls(redis), (cpu_seconds(server), _redis_cpu(redis))
                    if name == "noop":
                        rows[name].append(_wrk(base + "/v1/noop", seconds, connections))
                    else:
                        rows[name].append(_wrk(base + route[name], seconds, connections, scripts[name, k]))
                        commands[name].update(_calls(redis) - before)
                    cpu[name][0] += cpu_seconds(server) - used[0]
                    cpu[name][1] += _redis_cpu(redis) - used[1]
                    report("ledger", k, rounds, _WHAT.get(name, "no-op"), headline(rows[name][-1]))
            redis.close()
            trips = asyncio.run(_round_trips(redis_url, rules, Path(scratch), version, members))
    figures: dict = {"connections": connections, "workers": 2, "seconds_per_round": seconds, "rounds": rounds}
    for name, results in rows.items():
        figures[f"{name}_rps"] = round(statistics.median(r["rps"] for r in results), 1)
        figures[f"{name}_p50_ms"] = statistics.median(r["p50_ms"] for r in results)
        figures[f"{name}_p99_ms"] = statistics.median(r["p99_ms"] for r in results)
        figures[f"{name}_errors"] = sum(r["non_2xx"] for r in results)
        requests[name] = sum(r["requests"] for r in results)
        count = max(1, requests[name])
        figures[f"{name}_server_cpu_us_per_request"] = round(cpu[name][0] / count * 1e6)
        figures[f"{name}_redis_cpu_us_per_request"] = round(cpu[name][1] / count * 1e6)
    for name in ("settle", "redeem"):
        figures[f"{name}_over_noop"] = round(figures[f"{name}_rps"] / figures["noop_rps"], 3)
        count = max(1, requests[name])
        scripts_run = sum(commands[name][c] for c in _SCRIPT_COMMANDS)
        figures[f"{name}_scripts_per_request"] = round(scripts_run / count, 2)
        figures[f"{name}_redis_commands_per_request"] = round(sum(commands[name].values()) / count, 2)
        figures[f"{name}_round_trips_per_request"] = trips[name]
    return figures


def _wrk_script(scratch: Path, name: str, request: str, k: int, version: str, members: list) -> str:
    """wrk's script for round `k` of route `name`: order ids and idempotency keys of its
    own, so no round replays an earlier one's requests."""
    path = scratch / f"{name}-{k}.lua"
    run = f"{int(time.time())}{name}{k}"
    body = request % {"version": version, "run": run}
    members_list = ",".join(f'"{m}"' for m in members)
    path.write_text(_LUA % {"now": GALA_NIGHT, "members": members_list, "request": body})
    return str(path)


_SCRIPT_COMMANDS = ("eval", "evalsha", "eval_ro", "evalsha_ro", "fcall", "fcall_ro")


def _redis_cpu(redis) -> float:
    """Seconds of CPU the Redis server has used (INFO cpu)."""
    used = redis.info("cpu")
    return float(used["used_cpu_user"]) + float(used["used_cpu_sys"])


def _calls(redis) -> Counter:
    """Redis's count of calls per command (INFO commandstats): a script's call of a command
    counts as well, and each command of a pipeline."""
    return Counter({name.removeprefix("cmdstat_"): row["calls"] for name, row in redis.info("commandstats").items()})


async def _round_trips(redis_url: str, rules: Path, scratch: Path, version: str, members: list, n: int = 200) -> dict:
    """Round trips per request, counted at the client (bench/round_trips.py): the app run in
    this process on the server's Redis, `n` new settlements and redemptions as the wrk
    rounds send them."""
    from api.main import create_app
    from api.settings import Settings

    settings = Settings(
        redis_url=redis_url,
        rules=str(rules),
        brand="dairy",
        brand_rules=f"grain={DEMO_GRAIN_RULES}",
        allow_clock_override=True,
        access_log=False,
        redemptions_per_minute=0,
        events_per_minute=0,
        data_dir=str(scratch),
    )
    app = create_app(settings)
    run = f"{int(time.time())}trips"
    now = ("X-Rights-Now", str(GALA_NIGHT))

    def settle(k: int) -> tuple:
        body = {
            "order_id": f"T{k}-{run}",
            "member_id": members[k % len(members)],
            "room": "gala",
            "fulfillment": "pickup",
            "rules_version": version,
            "lines": [{"sku": "MILK-1L", "qty": 1}, {"sku": "YOGURT-6", "qty": 1}],
        }
        return "POST", "/v1/orders", orjson.dumps(body), (now,)

    def redeem(k: int) -> tuple:
        body = {"member_id": members[k % len(members)], "redemption_id": "BENCH-SAMPLE"}
        return "POST", "/v1/redemptions", orjson.dumps(body), (now, ("Idempotency-Key", f"t{k}-{run}"))

    async with running(app):
        return {
            "settle": round(await per_request(app, settle, n), 2),
            "redeem": round(await per_request(app, redeem, n), 2),
        }


def _members_who_can_redeem(count: int) -> list:
    """Demo members with a tier and points to spare: the redemptions measured are granted."""
    from api.members_io import demo_members

    return [m.id for m in demo_members() if m.tier and m.points >= 1000 and not m.frozen and not m.paid_until][:count]


def _post(url: str, body: bytes) -> bytes:
    import urllib.request

    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.read()


def run(seconds: int = 5, rounds: int = 2) -> dict:
    return {**leaders_figures(), **write_figures(seconds, rounds)}


TARGETS = {
    "assign_orders_s": ("<=", 1.0),
    "settle_errors": ("<=", 0),
    "redeem_errors": ("<=", 0),
    "settle_over_noop": (">=", 0.5),
    "redeem_over_noop": (">=", 0.5),
}


if __name__ == "__main__":
    result = run(seconds=int(os.environ.get("BENCH_SECONDS", "5")))
    sys.stdout.write(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode() + "\n")
