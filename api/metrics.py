"""Prometheus metrics that add up across worker processes and replicas.

Each worker counts in memory (no lock, no I/O on the request path) and publishes a
snapshot to Redis once a second under `metrics:{rights}` (one hash, a field per worker,
one hash tag: Cluster-safe). `/metrics` sums every snapshot there, so any worker answers
a scrape with the whole picture, and the counters never fall: a stopped worker's last
snapshot stays for an hour, then is folded into the field `retired` (lua/metrics_retire.lua).
A worker cut off from Redis for that hour finds its field gone when it publishes again
(lua/metrics_publish.lua) and goes on under a new one with only what it counted since its
last snapshot, so nothing is counted twice.
Gauges (workers, rules versions) count only the workers seen in the last few seconds.
The stock gauges are not summed from snapshots: the worker answering a scrape reads them
from Redis then (api/stock_levels.py), so every worker gives the same figures:
`rights_stock_left{brand,item}` for each stocked redemption item of every brand served, and
`rights_stock_low{brand,item}` (1 when at or below its `low_stock`, sold out included; 0
otherwise) for those that set one.
"""

from __future__ import annotations

import bisect
import copy
import os
import secrets
import socket
import time
from collections import defaultdict
from collections.abc import Callable

import orjson
from prometheus_client import generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.utils import floatToGoString

from .redis.keys import METRICS_KEY

STALE_AFTER_S = 10.0
# seconds; fine at the low end, where the eligibility route lives
BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
ENGINE_BUCKETS = (0.000001, 0.0000025, 0.000005, 0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.001)


class Histogram:
    def __init__(self, buckets: tuple):
        self.buckets = buckets
        self.counts = [0] * (len(buckets) + 1)
        self.total = 0.0
        self.n = 0

    def observe(self, seconds: float) -> None:
        self.counts[bisect.bisect_left(self.buckets, seconds)] += 1
        self.total += seconds
        self.n += 1

    def snapshot(self) -> dict:
        return {"counts": self.counts, "sum": self.total, "n": self.n}


class Metrics:
    """This worker's counters and histograms."""

    def __init__(self) -> None:
        self.worker = f"{socket.gethostname()}:{os.getpid()}"
        # its snapshot's field in Redis: host:pid and a random tag, so a worker restarted under the
        # same pid (pid 1 in a container) counts from 0 beside the last one's counts, not over them
        self.field = f"{self.worker}/{secrets.token_hex(3)}"
        self.requests: dict = defaultdict(int)  # (route, method, status) -> count
        self.latency: dict = {}  # route -> Histogram
        self.engine = Histogram(ENGINE_BUCKETS)
        self.redis = Histogram(BUCKETS)
        self.redis_errors = 0
        self.rules_version = ""  # the home brand's
        self.brand = ""  # the home brand's name
        self.brand_versions: Callable[[], dict[str, str]] = dict  # every brand served -> its version (the service's)
        self.first_publish = True  # the field may be created only by its first publish
        self.published: dict | None = None  # the counts as of the last snapshot Redis took
        self.baseline: dict | None = None  # counts already folded into `retired` under an older field

    def request(self, route: str, method: str, status: int, seconds: float) -> None:
        self.requests[(route, method, str(status))] += 1
        hist = self.latency.get(route)
        if hist is None:
            hist = self.latency[route] = Histogram(BUCKETS)
        hist.observe(seconds)

    def counts(self) -> dict:
        """Everything counted since the worker started, as a snapshot."""
        return {
            "at": time.time(),
            "requests": [[*key, value] for key, value in self.requests.items()],
            "latency": {route: h.snapshot() for route, h in self.latency.items()},
            "engine": self.engine.snapshot(),
            "redis": self.redis.snapshot(),
            "redis_errors": self.redis_errors,
            "rules_version": self.rules_version,
            "rules_versions": {self.brand: self.rules_version, **self.brand_versions()},
        }

    def snapshot(self, counts: dict | None = None) -> bytes:
        """What this worker's field holds: its counts, less those already folded into
        `retired` when Redis took its field away (see `retired`)."""
        counts = counts if counts is not None else self.counts()
        return orjson.dumps(counts if self.baseline is None else minus(counts, self.baseline))

    def took(self, counts: dict) -> None:
        """Redis holds `counts` under this worker's field now."""
        self.published, self.first_publish = copy.deepcopy(counts), False

    def retired(self) -> None:
        """The field was folded into `retired` while this worker could not publish (an hour
        without Redis): what it last published is counted there, so the worker goes on
        under a new field with only what came after."""
        self.baseline = self.published
        self.field = f"{self.worker}/{secrets.token_hex(3)}"
        self.first_publish = True


def minus(counts: dict, earlier: dict) -> dict:
    """`counts` less the `earlier` counts of the same worker (every figure only grows)."""
    out = copy.deepcopy(counts)
    before = {tuple(key): value for *key, value in earlier.get("requests", [])}
    out["requests"] = [[*key, value - before.get(tuple(key), 0)] for *key, value in counts["requests"]]
    for route, hist in out["latency"].items():
        _take(hist, earlier.get("latency", {}).get(route))
    _take(out["engine"], earlier.get("engine"))
    _take(out["redis"], earlier.get("redis"))
    out["redis_errors"] -= earlier.get("redis_errors", 0)
    return out


def _take(hist: dict, earlier: dict | None) -> None:
    if earlier is not None:
        hist["counts"] = [now - before for now, before in zip(hist["counts"], earlier["counts"])]
        hist["sum"] -= earlier["sum"]
        hist["n"] -= earlier["n"]


FORGET_METRICS_AFTER = 3600.0  # a worker's snapshot stays this long after its last publish


RETIRED = "retired"  # the field holding the sums of every worker forgotten


async def forget_silent_workers(redis, scripts) -> int:
    """Fold the snapshots of workers silent for FORGET_METRICS_AFTER into the retired one
    (the sums do not fall); how many were folded, 0 when another worker folded first."""
    now = time.time()
    raw = await redis.hgetall(METRICS_KEY)
    retired_raw = raw.pop(RETIRED.encode(), b"") or raw.pop(RETIRED, b"")
    silent = {worker: orjson.loads(value) for worker, value in raw.items()}
    silent = {worker: snap for worker, snap in silent.items() if now - snap.get("at", 0) > FORGET_METRICS_AFTER}
    if not silent:
        return 0
    retired = orjson.loads(retired_raw) if retired_raw else {"at": 0, "rules_version": ""}
    for snap in silent.values():
        fold(retired, snap)
    folded = await scripts.metrics_retire(keys=[METRICS_KEY], args=[retired_raw, orjson.dumps(retired), *silent.keys()])
    return max(0, int(folded))


def fold(into: dict, snap: dict) -> None:
    """Add a snapshot's counts to `into` (a snapshot too)."""
    requests = {tuple(key): value for *key, value in into.get("requests", [])}
    for *key, value in snap.get("requests", []):
        requests[tuple(key)] = requests.get(tuple(key), 0) + value
    into["requests"] = [[*key, value] for key, value in requests.items()]
    latency = into.setdefault("latency", {})
    for route, hist in snap.get("latency", {}).items():
        _add(latency.setdefault(route, _empty(BUCKETS)), hist)
    _add(into.setdefault("engine", _empty(ENGINE_BUCKETS)), snap.get("engine", _empty(ENGINE_BUCKETS)))
    _add(into.setdefault("redis", _empty(BUCKETS)), snap.get("redis", _empty(BUCKETS)))
    into["redis_errors"] = into.get("redis_errors", 0) + snap.get("redis_errors", 0)


def render(snapshots: list, local: Metrics, stock: list | None = None) -> str:
    """Prometheus text format of the sum of the snapshots (this worker's own included),
    written by prometheus_client's exposition from metric families built here; `stock`:
    (brand, redemption item, units left) as Redis has them now."""
    now = time.time()
    fresh = [s for s in snapshots if now - s.get("at", 0) <= STALE_AFTER_S]
    total: dict = {"requests": []}
    for snap in snapshots:  # every worker's, the stopped and the retired too: a counter never falls
        fold(total, snap)
    requests = {tuple(key): value for *key, value in total["requests"]}
    latency = total.get("latency", {})
    engine = total.get("engine", _empty(ENGINE_BUCKETS))
    redis = total.get("redis", _empty(BUCKETS))
    redis_errors = total.get("redis_errors", 0)
    versions = set()  # (brand, version) of each fresh worker; a snapshot of an earlier release names its home's only
    for snap in fresh:
        named = snap.get("rules_versions") or (
            {local.brand: snap["rules_version"]} if snap.get("rules_version") else {}
        )
        versions |= {(brand, version) for brand, version in named.items() if version}

    served = CounterMetricFamily(
        "rights_requests", "HTTP requests by route, method and status.", labels=("route", "method", "status")
    )
    for labels, value in sorted(requests.items()):
        served.add_metric(labels, value)
    timing = HistogramMetricFamily(
        "rights_request_seconds", "Request latency by route, as the server saw it.", labels=("route",)
    )
    for route, hist in sorted(latency.items()):
        timing.add_metric([route], _buckets(hist, BUCKETS), hist["sum"])
    engine_time = HistogramMetricFamily(
        "rights_engine_seconds", "Time the engine took to decide a quote (inputs converted, no I/O)."
    )
    engine_time.add_metric([], _buckets(engine, ENGINE_BUCKETS), engine["sum"])
    lookups = HistogramMetricFamily("rights_redis_lookup_seconds", "Time to read the member from Redis.")
    lookups.add_metric([], _buckets(redis, BUCKETS), redis["sum"])
    errors = CounterMetricFamily(
        "rights_redis_errors", "Requests that failed because Redis did not answer in time.", value=redis_errors
    )
    version = GaugeMetricFamily(
        "rights_rules_version_info",
        "The rule table version each worker serves, per brand (1 per brand and version).",
        labels=("brand", "version"),
    )
    for brand, name in sorted(versions or {(local.brand, local.rules_version)}):
        version.add_metric([brand, name], 1)
    workers = GaugeMetricFamily(
        "rights_workers", "Worker processes that reported in the last 10 seconds.", value=len(fresh)
    )
    left = GaugeMetricFamily(
        "rights_stock_left",
        "Units left of a brand's stocked redemption item, read from Redis at scrape time.",
        labels=("brand", "item"),
    )
    low = GaugeMetricFamily(
        "rights_stock_low",
        "1 when a redemption item's stock left is at or below its low_stock (sold out included), else 0.",
        labels=("brand", "item"),
    )
    for brand, item, n in stock or []:
        left.add_metric([brand, item.id], max(n, 0))
        if item.low_stock is not None:
            low.add_metric([brand, item.id], 1 if n <= item.low_stock else 0)
    families = (served, timing, engine_time, lookups, errors, version, workers, left, low)
    return generate_latest(_Families(families)).decode()


class _Families:
    """A collector of metric families already built, for prometheus_client's exposition."""

    def __init__(self, families: tuple) -> None:
        self.families = families

    def collect(self):
        return iter(self.families)


def _empty(buckets: tuple) -> dict:
    return {"counts": [0] * (len(buckets) + 1), "sum": 0.0, "n": 0}


def _add(into: dict, hist: dict) -> None:
    for k, value in enumerate(hist["counts"]):
        into["counts"][k] += value
    into["sum"] += hist["sum"]
    into["n"] += hist["n"]


def _buckets(hist: dict, bounds: tuple) -> list:
    """Cumulative (le, count) pairs, +Inf last, as a Prometheus histogram has them."""
    pairs, running = [], 0
    for bound, count in zip(bounds, hist["counts"]):
        running += count
        pairs.append((floatToGoString(bound), running))
    pairs.append(("+Inf", hist["n"]))
    return pairs
