"""Reload under load: eligibility traffic while a rule table is pushed ten times.

Starts `rights serve --demo --workers 2` on a free loopback port, drives it with an
asyncio client (64 connections, bounded in time), first without reloads and then while
pushing the demo table and a variant in turn, ten pushes in all. It reports failed
requests, responses whose version was not active at that moment, and the p99 of each
phase; then, in this process, the time to compile the large table and to swap it in.
"""

from __future__ import annotations

import asyncio
import time

import orjson

from bench.demo_server import demo_server
from bench.engine_bench import GALA_NIGHT  # the demo server honours X-Rights-Now
from bench.progress import report
from engine.demo import DEMO_RULES

TOKEN = "reload-bench-token"
BODY = orjson.dumps(
    {
        "identity": {"channel": "openid", "value": "oDEMO0000001"},
        "room": "gala",
        "lines": [{"sku": "MILK-1L", "qty": 2}, {"sku": "YOGURT-6", "qty": 1}],
    }
)


async def _worker(host: str, port: int, until: float, out: list) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    request = (
        f"POST /v1/eligibility HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
        f"X-Rights-Now: {GALA_NIGHT}\r\nContent-Length: {len(BODY)}\r\n\r\n"
    ).encode() + BODY
    try:
        while time.monotonic() < until:
            sent = time.time()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(
                next(line.split(b":")[1] for line in head.split(b"\r\n") if line.lower().startswith(b"content-length"))
            )
            body = await reader.readexactly(length)
            status = int(head.split(b" ", 2)[1])
            version = orjson.loads(body).get("rules_version") if status == 200 else None
            out.append((sent, time.time(), status, version))
    except (OSError, asyncio.IncompleteReadError, ValueError):
        out.append((time.time(), time.time(), 0, None))
    finally:
        writer.close()


async def _drive(port: int, seconds: float, connections: int) -> list:
    out: list = []
    until = time.monotonic() + seconds
    await asyncio.gather(*[_worker("127.0.0.1", port, until, out) for _ in range(connections)])
    return out


def _push(base: str, source: bytes, label: str) -> dict:
    import urllib.request

    req = urllib.request.Request(
        f"{base}/v1/rules?author=bench&label={label}",
        data=source,
        method="POST",
        headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/yaml"},
    )
    with urllib.request.urlopen(req, timeout=30) as response:
        return orjson.loads(response.read())


def _swapped(base: str, version: str, acked: float, timeout: float = 10.0) -> float:
    """Seconds from a push's acknowledgement until the last worker swapped to its version,
    by the workers' own swap instants (their heartbeats in GET /v1/rules)."""
    import urllib.request

    deadline = time.time() + timeout
    while time.time() < deadline:
        req = urllib.request.Request(f"{base}/v1/rules", headers={"Authorization": f"Bearer {TOKEN}"})
        with urllib.request.urlopen(req, timeout=10) as response:
            workers = orjson.loads(response.read())["workers"]
        if workers and all(w["version"] == version for w in workers.values()):
            return max(0.0, max(w["swapped_at"] for w in workers.values()) - acked)
        time.sleep(0.1)
    return float("inf")


def _p99(rows: list) -> float:
    latencies = sorted(done - sent for sent, done, status, _ in rows if status == 200)
    return round(latencies[int(len(latencies) * 0.99)] * 1000, 2) if latencies else float("nan")


def _traffic(rows: list) -> str:
    """A phase in a few words: `p99 12.31 ms over 58,210 requests` (and its failures, if any)."""
    failed = sum(1 for *_, status, _ in rows if status != 200)
    return f"p99 {_p99(rows)} ms over {len(rows):,} requests" + (f", {failed} failed" if failed else "")


def run(seconds: float = 10.0, connections: int = 64, pushes: int = 10) -> dict:
    demo = DEMO_RULES.read_bytes()
    variant = demo.replace(b"price: 1590\n", b"price: 1490\n", 1)
    with demo_server(2, RIGHTS_ADMIN_TOKEN=TOKEN) as base:
        port = int(base.rsplit(":", 1)[1])
        asyncio.run(_drive(port, 2, connections))  # warm up
        quiet = asyncio.run(_drive(port, seconds, connections))
        report("reload", 1, 3, "quiet", _traffic(quiet), step="phase")
        timeline = []  # (instant the push was made, instant it was acknowledged, version it made active)
        started = time.time()
        first = _push(base, demo, "demo")
        timeline.append((started, time.time(), first["version"]))

        propagation: list = []  # per push: from its acknowledgement to the last worker's swap

        async def reloading() -> list:
            loop = asyncio.get_running_loop()
            traffic = asyncio.ensure_future(_drive(port, seconds, connections))
            for k in range(pushes):
                await asyncio.sleep(seconds / (pushes + 1))
                source, label = (variant, "variant") if k % 2 == 0 else (demo, "demo")
                started = time.time()
                answer = await loop.run_in_executor(None, _push, base, source, label)
                acked = time.time()
                timeline.append((started, acked, answer["version"]))
                propagation.append(await loop.run_in_executor(None, _swapped, base, answer["version"], acked))
                took = propagation[-1]
                report(
                    "reload",
                    k + 1,
                    pushes,
                    f"{label} table",
                    f"on every worker {took * 1000:.1f} ms after it was acknowledged"
                    if took != float("inf")
                    else "not on every worker within 10 s",
                    step="push",
                )
            return await traffic

        busy = asyncio.run(reloading())
        report("reload", 2, 3, "while pushing", _traffic(busy), step="phase")

    def active_between(sent: float, done: float) -> set:
        """Versions active at some instant of [sent, done], allowing a second for a swap
        to travel from the push to every worker."""
        versions = set()
        for k, (at, _, version) in enumerate(timeline):
            ends = timeline[k + 1][1] + 1.0 if k + 1 < len(timeline) else float("inf")
            if at <= done and ends >= sent:
                versions.add(version)
        return versions

    wrong = sum(
        1 for sent, done, status, version in busy if status == 200 and version not in active_between(sent, done)
    )
    figures = {
        "connections": connections,
        "seconds": seconds,
        "pushes": pushes,
        "requests_quiet": len(quiet),
        "requests_reloading": len(busy),
        "failed": sum(1 for *_, status, _ in quiet + busy if status != 200),
        "wrong_version": wrong,
        "worst_propagation_ms": round(max(propagation) * 1000, 1) if propagation else 0.0,
        "p99_quiet_ms": _p99(quiet),
        "p99_reloading_ms": _p99(busy),
    }
    figures["p99_ratio"] = round(figures["p99_reloading_ms"] / figures["p99_quiet_ms"], 3)
    figures.update(_large_swap())
    report(
        "reload",
        3,
        3,
        "large table",
        f"compiled in {figures['large_compile_s']} s, swapped in {figures['large_swap_us']} us",
        step="phase",
    )
    return figures


def _large_swap() -> dict:
    """Compile the large table and swap it into a worker's service, as a push does."""
    from api.service import Service
    from api.settings import Settings
    from bench.large_table import ensure_large_table
    from engine.rules.load import compile_source
    from engine.rules.source import read_bytes

    raw = read_bytes(ensure_large_table())
    started = time.perf_counter()
    table = compile_source(raw, "large")
    compiled = time.perf_counter() - started
    service = Service(Settings(redis_url="redis://127.0.0.1:1/0"))
    service.table = None
    started = time.perf_counter()
    service.swap(table, 1)
    swapped = time.perf_counter() - started
    return {"large_compile_s": round(compiled, 3), "large_swap_us": round(swapped * 1e6, 2)}


TARGETS = {
    "failed": ("<=", 0),
    "wrong_version": ("<=", 0),
    "worst_propagation_ms": ("<=", 250.0),
    "p99_ratio": ("<=", 2.0),
    "large_compile_s": ("<=", 2.0),
    "large_swap_us": ("<=", 1000.0),
}
