"""Benchmarks of the write paths, on loopback only, bounded in time.

- Leaders: 20,000 orders assigned to the nearest of 800 leaders (a city-sized area,
  ~10% of the leaders inactive) through engine.geo.LeaderIndex, side by side with a
  vectorised numpy scan of every leader for the same points (the two must agree).
- Settlement and redemption: `rights serve --demo --workers 2` (embedded redis-server)
  driven by wrk at 64 connections, rounds alternating with the no-op route: every
  settlement is a new order (a 2-line pickup cart in the gala room), every redemption a
  new idempotency key for an item with ample stock that costs one point, so the figures
  are of work that writes, not of replays or refusals.
"""

from __future__ import annotations

import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import orjson
import yaml

from bench.api_bench import _wrk, headline
from bench.demo_server import demo_server
from bench.engine_bench import GALA_NIGHT
from bench.progress import report
from engine.demo import DEMO_RULES
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
    with tempfile.TemporaryDirectory() as scratch:
        rules = Path(scratch) / "bench-rules.yaml"
        rules.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
        with demo_server(
            2, RIGHTS_RULES=str(rules), RIGHTS_REDEMPTIONS_PER_MINUTE="0", RIGHTS_EVENTS_PER_MINUTE="0"
        ) as base:
            version = orjson.loads(_post(base + "/v1/eligibility", b'{"lines":[]}'))["rules_version"]
            scripts = {}
            members = ",".join(f'"{m}"' for m in _members_who_can_redeem(2000))
            for name, request in (("settle", _SETTLE), ("redeem", _REDEEM)):
                path = Path(scratch) / f"{name}.lua"
                run = f"{int(time.time())}{name}"
                path.write_text(
                    _LUA
                    % {"now": GALA_NIGHT, "members": members, "request": request % {"version": version, "run": run}}
                )
                scripts[name] = str(path)
            route = {"settle": "/v1/orders", "redeem": "/v1/redemptions"}
            _wrk(base + "/v1/noop", 2, connections)
            rows: dict = {"noop": [], "settle": [], "redeem": []}
            for k in range(1, rounds + 1):
                rows["noop"].append(_wrk(base + "/v1/noop", seconds, connections))
                report("ledger", k, rounds, "no-op", headline(rows["noop"][-1]))
                for name in ("settle", "redeem"):
                    rows[name].append(_wrk(base + route[name], seconds, connections, scripts[name]))
                    report("ledger", k, rounds, _WHAT[name], headline(rows[name][-1]))
    figures: dict = {"connections": connections, "workers": 2, "seconds_per_round": seconds, "rounds": rounds}
    for name, results in rows.items():
        figures[f"{name}_rps"] = round(statistics.median(r["rps"] for r in results), 1)
        figures[f"{name}_p50_ms"] = statistics.median(r["p50_ms"] for r in results)
        figures[f"{name}_p99_ms"] = statistics.median(r["p99_ms"] for r in results)
        figures[f"{name}_errors"] = sum(r["non_2xx"] for r in results)
    return figures


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


TARGETS = {"assign_orders_s": ("<=", 1.0), "settle_errors": ("<=", 0), "redeem_errors": ("<=", 0)}


if __name__ == "__main__":
    result = run(seconds=int(os.environ.get("BENCH_SECONDS", "5")))
    sys.stdout.write(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode() + "\n")
