"""Service objectives for a locust run: a missed one makes the run exit non-zero.

Flags (or a JSON file with the same keys, `--objectives FILE`; flags win):

    --objective-p99-ms 250          the p99 of all requests, in milliseconds
    --objective-failure-ratio 0.01  failed requests over all requests
    --objective-min-requests 1      at least this many requests (a run that sent nothing
                                    proves nothing)

At the end of the run each objective is checked against locust's own statistics; the
first one missed is printed as one line (`objective missed: p99 412 ms > 250 ms`) and the
process exits with code 3; when all are met it prints one line and exits 0 (the failure
ratio objective, not locust's any-failure rule, judges failed requests).
"""

from __future__ import annotations

import json
import sys

from locust import events

DEFAULTS = {"p99_ms": 250.0, "failure_ratio": 0.01, "min_requests": 1}


@events.init_command_line_parser.add_listener
def _add_flags(parser) -> None:
    group = parser.add_argument_group("service objectives (rights-engine)")
    group.add_argument(
        "--objectives", default="", help="a JSON file of objectives: p99_ms, failure_ratio, min_requests"
    )
    group.add_argument("--objective-p99-ms", type=float, default=None, help="p99 of all requests (default 250)")
    group.add_argument(
        "--objective-failure-ratio", type=float, default=None, help="failed over all requests (default 0.01)"
    )
    group.add_argument("--objective-min-requests", type=int, default=None, help="at least this many (default 1)")


class ObjectivesInvalid(ValueError):
    """An objectives file or flag that cannot be checked: said before the run, in one line."""


_BOUNDS = {"p99_ms": (0.0, 3_600_000.0), "failure_ratio": (0.0, 1.0), "min_requests": (0, 10**12)}


def objectives(options) -> dict:
    """The objectives of the run: the defaults, the file's, then the flags'; each checked."""
    chosen = dict(DEFAULTS)
    path = getattr(options, "objectives", "")
    if path:
        try:
            with open(path, encoding="utf-8") as handle:
                given = json.load(handle)
        except (OSError, ValueError) as exc:
            raise ObjectivesInvalid(f"--objectives {path}: {exc}") from None
        if not isinstance(given, dict):
            raise ObjectivesInvalid(f"--objectives {path}: not a JSON object of {', '.join(DEFAULTS)}")
        unknown = sorted(set(given) - set(DEFAULTS))
        if unknown:
            raise ObjectivesInvalid(
                f"--objectives {path}: unknown objective {unknown[0]!r}; they are {', '.join(DEFAULTS)}"
            )
        chosen.update(given)
    for key in DEFAULTS:
        value = getattr(options, f"objective_{key}", None)
        if value is not None:
            chosen[key] = value
    for key, (low, high) in _BOUNDS.items():
        value = chosen[key]
        whole = key == "min_requests"
        if type(value) is bool or not isinstance(value, int if whole else (int, float)) or not low <= value <= high:
            raise ObjectivesInvalid(f"objective {key} {value!r}: must be a number from {low:g} to {high:g}")
    return chosen


@events.init.add_listener
def _check_early(environment, **kwargs) -> None:
    """A wrong objective stops the run before any load, not after it."""
    if environment.parsed_options is not None:
        try:
            objectives(environment.parsed_options)
        except ObjectivesInvalid as exc:
            raise SystemExit(f"locust: {exc}") from None


def verdict(stats, wanted: dict) -> tuple:
    """(met, one line): the first objective missed, or all met."""
    total = stats.total
    requests = total.num_requests
    p99 = total.get_response_time_percentile(0.99) or 0.0
    ratio = total.num_failures / requests if requests else 0.0
    if requests < wanted["min_requests"]:
        return False, f"objective missed: {requests} requests < {wanted['min_requests']}"
    if p99 > wanted["p99_ms"]:
        return False, f"objective missed: p99 {p99:.0f} ms > {wanted['p99_ms']:g} ms"
    if ratio > wanted["failure_ratio"]:
        return False, f"objective missed: failure ratio {ratio:.4f} > {wanted['failure_ratio']:g}"
    return True, (
        f"objectives met: {requests} requests, p99 {p99:.0f} ms <= {wanted['p99_ms']:g} ms, "
        f"failure ratio {ratio:.4f} <= {wanted['failure_ratio']:g}"
    )


@events.quitting.add_listener
def _check(environment, **kwargs) -> None:
    if environment.parsed_options is None or environment.runner is None:
        return
    met, line = verdict(environment.runner.stats, objectives(environment.parsed_options))
    print(line, file=sys.stderr)
    # the objectives decide the exit code (locust alone fails a run on any failed request)
    environment.process_exit_code = 0 if met else 3
