"""Side-by-side API benchmark: the eligibility route against a no-op route of the same
server, in one run, on loopback only.

It starts `rights serve --demo --workers 2` (embedded redis-server, demo members) on a
free 127.0.0.1 port, then drives it with wrk (Debian package `wrk`) at 64 connections,
alternating short rounds of the no-op route and the eligibility route so that both see
the same machine. Every run is bounded in time. Engine time is read from the server's
own /metrics, against the request time the server measured for the same requests.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import orjson
from prometheus_client.parser import text_string_to_metric_families

from bench.demo_server import demo_server
from bench.engine_bench import GALA_NIGHT  # the demo server honours X-Rights-Now
from bench.progress import per_second, report

BODY = {
    "identity": {"channel": "openid", "value": "oDEMO0000001"},
    "room": "gala",
    "lines": [
        {"sku": "MILK-1L", "qty": 2},
        {"sku": "YOGURT-6", "qty": 1},
        {"sku": "POWDER-900", "qty": 1},
        {"sku": "BUTTER-250", "qty": 1},
        {"sku": "CHEESE-KIDS", "qty": 2},
    ],
}

_LUA = """
local members = {}
for k = 1, 2000 do members[k] = string.format("oDEMO%%07d", k) end
local counter = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-Rights-Now"] = "%(now)d"
request = function()
  counter = counter + 1
  local body = string.format('%(body)s', members[counter %% 2000 + 1])
  return wrk.format(nil, nil, nil, body)
end
"""


def _wrk(url: str, seconds: int, connections: int, script: str | None = None) -> dict:
    args = ["wrk", "-t", "2", "-c", str(connections), "-d", f"{seconds}s", "--latency", "--timeout", "5s"]
    if script:
        args += ["-s", script]
    out = subprocess.run(args + [url], capture_output=True, text=True, timeout=seconds + 30).stdout
    rps = float(_found(r"Requests/sec:\s+([\d.]+)", out))
    latency = {}
    for pct, value, unit in re.findall(r"\s+(50|75|90|99)%\s+([\d.]+)(us|ms|s)\b", out):
        latency[pct] = float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: (.*)", out)
    done = re.search(r"(\d+) requests in", out)
    return {
        "rps": rps,
        "requests": int(done.group(1)) if done else 0,
        "p50_ms": latency.get("50"),
        "p99_ms": latency.get("99"),
        "non_2xx": int(errors.group(1)) if errors else 0,
        "socket_errors": socket_errors.group(1) if socket_errors else "",
    }


def headline(result: dict) -> str:
    """One wrk round in a few words: `14,210 req/s, p99 11.42 ms` (and its errors, if any)."""
    out = per_second(result["rps"])
    if result["p99_ms"] is not None:
        out += f", p99 {result['p99_ms']:.2f} ms"
    if result["non_2xx"]:
        out += f", {result['non_2xx']} errors"
    return out


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.read()


def _found(pattern: str, text: str, flags: int = 0) -> str:
    """The first group of `pattern` in `text` (wrk's report, the server's metrics), which must be there."""
    match = re.search(pattern, text, flags)
    if match is None:
        raise RuntimeError(f"no match for {pattern!r} in: {text[-2000:]}")
    return match.group(1)


def _histogram_sum(text: str, name: str, route: str | None = None) -> tuple[float, int]:
    """(sum, count) of a histogram in a /metrics scrape, for one route or unlabelled."""
    labels = {"route": route} if route else {}
    (family,) = (f for f in text_string_to_metric_families(text) if f.name == name)
    found = {s.name: s.value for s in family.samples if s.labels == labels}
    return found[f"{name}_sum"], int(found[f"{name}_count"])


def run(seconds: int = 10, rounds: int = 3, connections: int = 64, workers: int = 2) -> dict:
    if shutil.which("wrk") is None:
        raise SystemExit("the API benchmark needs wrk: apt-get install wrk")
    with demo_server(workers) as base, tempfile.TemporaryDirectory() as scratch:
        script = Path(scratch) / "eligibility.lua"
        body = orjson.dumps(BODY).decode().replace("oDEMO0000001", "%s")
        script.write_text(_LUA % {"now": GALA_NIGHT, "body": body})
        _wrk(base + "/v1/noop", 2, connections)  # warm up both routes
        _wrk(base + "/v1/eligibility", 2, connections, str(script))
        before = _get(base + "/metrics").decode()
        noop, elig = [], []
        for k in range(1, rounds + 1):
            noop.append(_wrk(base + "/v1/noop", seconds, connections))
            report("api", k, rounds, "no-op", headline(noop[-1]))
            elig.append(_wrk(base + "/v1/eligibility", seconds, connections, str(script)))
            report("api", k, rounds, "eligibility", headline(elig[-1]))
        time.sleep(1.5)  # let every worker publish its last snapshot
        after = _get(base + "/metrics").decode()

    def median(rows, key):
        values = sorted(r[key] for r in rows)
        return values[len(values) // 2]

    engine = [
        a - b
        for a, b in zip(_histogram_sum(after, "rights_engine_seconds"), _histogram_sum(before, "rights_engine_seconds"))
    ]
    request = [
        a - b
        for a, b in zip(
            _histogram_sum(after, "rights_request_seconds", "/v1/eligibility"),
            _histogram_sum(before, "rights_request_seconds", "/v1/eligibility"),
        )
    ]
    figures = {
        "connections": connections,
        "workers": workers,
        "seconds_per_round": seconds,
        "rounds": rounds,
        "eligibility_rps": median(elig, "rps"),
        "eligibility_p50_ms": median(elig, "p50_ms"),
        "eligibility_p99_ms": median(elig, "p99_ms"),
        "noop_rps": median(noop, "rps"),
        "noop_p50_ms": median(noop, "p50_ms"),
        "noop_p99_ms": median(noop, "p99_ms"),
        "errors": sum(r["non_2xx"] for r in elig + noop),
        "engine_us_mean": round(engine[0] / max(1, engine[1]) * 1e6, 2),
        "request_us_mean_server_side": round(request[0] / max(1, request[1]) * 1e6, 1),
    }
    figures["throughput_ratio"] = round(figures["eligibility_rps"] / figures["noop_rps"], 3)
    figures["p99_ratio"] = round(figures["eligibility_p99_ms"] / figures["noop_p99_ms"], 3)
    figures["engine_share_of_request"] = round(engine[0] / request[0], 4) if request[0] else None
    return figures


TARGETS = {
    "throughput_ratio": (">=", 0.8),
    "p99_ratio": ("<=", 1.5),
    "engine_share_of_request": ("<=", 0.05),
    "errors": ("<=", 0),
}


if __name__ == "__main__":
    result = run(seconds=int(os.environ.get("BENCH_SECONDS", "10")))
    sys.stdout.write(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode() + "\n")
