"""Side-by-side API benchmark: the eligibility route against a no-op route of the same
server and against a bare ASGI app answering the same bytes, in one run, on loopback only.

It starts `rights serve --demo --workers 2` (embedded redis-server, demo members) on a
free 127.0.0.1 port, fetches the eligibility route's answer to the benchmark body once,
and starts bench/raw_asgi.py answering those bytes under the same uvicorn options and
worker count, in a process tree of its own. wrk (Debian package `wrk`) drives each at 64
connections, in short rounds alternating no-op, eligibility and raw ASGI so that all see
the same machine. Every run is bounded in time.

Server CPU per request: the user and system time of every process of the server's tree
(bench/server_cpu.py: for `rights serve` its supervisor, redis-server, uvicorn's manager
and workers; for the raw app uvicorn's manager and workers), read before and after each
round, over the requests wrk completed in it; each figure is the median of its rounds.
Engine time is read from the server's own /metrics, against the request time the server
measured for the same requests.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import orjson
from prometheus_client.parser import text_string_to_metric_families

from api.redis.embedded import free_port
from bench.demo_server import ROOT, demo_process, stop_group, wait_until_ready, with_the_benchmark
from bench.engine_bench import GALA_NIGHT  # the demo server honours X-Rights-Now
from bench.progress import per_second, report
from bench.server_cpu import cpu_seconds

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
    out = subprocess.run(
        args + [url], capture_output=True, text=True, timeout=seconds + 30, preexec_fn=with_the_benchmark()
    ).stdout
    rps = float(_found(r"Requests/sec:\s+([\d.]+)", out))
    latency = {}
    for pct, value, unit in re.findall(r"\s+(50|75|90|99)%\s+([\d.]+)(us|ms|s)\b", out):
        latency[pct] = float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
    requests = re.search(r"(\d+) requests in", out)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: (.*)", out)
    return {
        "rps": rps,
        "requests": int(requests.group(1)) if requests else 0,
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


def _post(url: str, body: bytes, now: int) -> bytes:
    request = urllib.request.Request(
        url, body, {"Content-Type": "application/json", "X-Rights-Now": str(now)}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        return response.read()


@contextlib.contextmanager
def raw_server(answer: bytes, workers: int) -> Iterator[tuple[str, int]]:
    """bench/raw_asgi.py answering `answer`, on a free loopback port: (base URL, its pid)."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as scratch:
        body_file = Path(scratch) / "answer.json"
        body_file.write_bytes(answer)
        server = subprocess.Popen(
            [sys.executable, "-m", "bench.raw_asgi", str(body_file), "--port", str(port), "--workers", str(workers)],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
            preexec_fn=with_the_benchmark(),
        )
        try:
            wait_until_ready(server, lambda: _get(base + "/") == answer, "the raw ASGI server did not start")
            yield base, server.pid
        finally:
            stop_group(server)


def _round(url: str, pid: int, seconds: int, connections: int, script: str | None = None) -> dict:
    """One wrk round, with the CPU time the server's process tree spent per request in it."""
    before = cpu_seconds(pid)
    result = _wrk(url, seconds, connections, script)
    spent = cpu_seconds(pid) - before
    result["cpu_us"] = round(spent / result["requests"] * 1e6, 1) if result.get("requests") else None
    return result


def run(seconds: int = 10, rounds: int = 3, connections: int = 64, workers: int = 2) -> dict:
    if shutil.which("wrk") is None:
        raise SystemExit("the API benchmark needs wrk: apt-get install wrk")
    with demo_process(workers) as (base, pid), tempfile.TemporaryDirectory() as scratch:
        script = Path(scratch) / "eligibility.lua"
        body = orjson.dumps(BODY).decode().replace("oDEMO0000001", "%s")
        script.write_text(_LUA % {"now": GALA_NIGHT, "body": body})
        answer = _post(base + "/v1/eligibility", orjson.dumps(BODY), GALA_NIGHT)
        with raw_server(answer, workers) as (raw_base, raw_pid):
            _wrk(base + "/v1/noop", 2, connections)  # warm up every route
            _wrk(base + "/v1/eligibility", 2, connections, str(script))
            _wrk(raw_base + "/v1/eligibility", 2, connections, str(script))
            before = _get(base + "/metrics").decode()
            noop, elig, raw = [], [], []
            for k in range(1, rounds + 1):
                noop.append(_round(base + "/v1/noop", pid, seconds, connections))
                report("api", k, rounds, "no-op", headline(noop[-1]))
                elig.append(_round(base + "/v1/eligibility", pid, seconds, connections, str(script)))
                report("api", k, rounds, "eligibility", headline(elig[-1]))
                raw.append(_round(raw_base + "/v1/eligibility", raw_pid, seconds, connections, str(script)))
                report("api", k, rounds, "raw ASGI", headline(raw[-1]))
            time.sleep(1.5)  # let every worker publish its last snapshot
            after = _get(base + "/metrics").decode()

    def median(rows, key):
        values = sorted(r[key] for r in rows if r.get(key) is not None)
        return values[len(values) // 2] if values else None

    def ratio(a, b):
        return round(a / b, 3) if a is not None and b else None

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
        "raw_asgi_rps": median(raw, "rps"),
        "raw_asgi_p50_ms": median(raw, "p50_ms"),
        "raw_asgi_p99_ms": median(raw, "p99_ms"),
        "answer_bytes": len(answer),
        "errors": sum(r["non_2xx"] for r in elig + noop + raw),
        "engine_us_mean": round(engine[0] / max(1, engine[1]) * 1e6, 2),
        "request_us_mean_server_side": round(request[0] / max(1, request[1]) * 1e6, 1),
        # server CPU per request: every process of the server's tree (see the module's doc)
        "eligibility_cpu_us": median(elig, "cpu_us"),
        "noop_cpu_us": median(noop, "cpu_us"),
        "raw_asgi_cpu_us": median(raw, "cpu_us"),
    }
    figures["throughput_ratio"] = round(figures["eligibility_rps"] / figures["noop_rps"], 3)
    figures["p99_ratio"] = round(figures["eligibility_p99_ms"] / figures["noop_p99_ms"], 3)
    figures["engine_share_of_request"] = round(engine[0] / request[0], 4) if request[0] else None
    figures["eligibility_over_raw_cpu"] = ratio(figures["eligibility_cpu_us"], figures["raw_asgi_cpu_us"])
    figures["noop_over_raw_cpu"] = ratio(figures["noop_cpu_us"], figures["raw_asgi_cpu_us"])
    figures["eligibility_over_noop_cpu"] = ratio(figures["eligibility_cpu_us"], figures["noop_cpu_us"])
    return figures


TARGETS = {
    "throughput_ratio": (">=", 0.8),
    "p99_ratio": ("<=", 1.5),
    "engine_share_of_request": ("<=", 0.05),
    "errors": ("<=", 0),
    "eligibility_over_raw_cpu": ("<=", 2.0),
}


if __name__ == "__main__":
    result = run(seconds=int(os.environ.get("BENCH_SECONDS", "10")))
    sys.stdout.write(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode() + "\n")
