"""`rights consume events`: credit behaviour events from a Redis stream (api/event_stream.py).

It serves the rule table active in Redis (following pushes and activations as a worker
does) and reaches Redis as `rights members show` does: --redis-url, REDIS_URL, or the
running server's under --data-dir; it never starts a Redis of its own. SIGTERM or SIGINT
stops it after the entry in hand, with exit 0.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import socket
import sys

from .loading import redis_options


def _positive(kind: type, most: float):
    """A number from 1 (or just above 0) to `most`: what a consumer holds and waits for is bounded."""

    def read(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not 0 < value <= most:
            raise argparse.ArgumentTypeError(f"{text} must be above 0 and at most {most:,}")
        return value

    return read


def add_commands(commands: argparse._SubParsersAction) -> None:
    consume = commands.add_parser("consume", help="credit behaviour events from a Redis stream")
    sources = consume.add_subparsers(dest="consume_command", required=True, metavar="SOURCE")
    events = sources.add_parser("events", help="credit the entries of events:{STREAM} as a consumer group member")
    events.add_argument("--stream", default="stream", help="the stream's name: the key events:{NAME} (default stream)")
    events.add_argument("--group", default="rights", help="the consumer group (default rights; made if missing)")
    events.add_argument("--consumer", default=None, help="this consumer's name in the group (default host:pid)")
    events.add_argument(
        "--count", type=_positive(int, 10_000), default=100, help="entries read at a time (default 100, at most 10000)"
    )
    events.add_argument(
        "--block-ms",
        type=_positive(int, 60_000),
        default=2000,
        help="how long a read waits for entries (default 2000, at most 60000)",
    )
    events.add_argument(
        "--claim-idle-ms",
        type=_positive(int, 86_400_000),
        default=60_000,
        help="take over entries another consumer has held this long unacknowledged (default 60000)",
    )
    events.add_argument(
        "--claim-every-s", type=_positive(float, 86_400), default=10.0, help="how often to look for them (default 10)"
    )
    redis_options(events)
    events.set_defaults(run=cmd_consume_events)


def cmd_consume_events(args: argparse.Namespace) -> int:
    from api.event_stream import Options
    from api.redis.connect import sync_client
    from api.redis.keys import RULES_ACTIVE
    from api.serve.command_redis import NoServer, running_redis

    if any(ch in args.stream for ch in "{}") or not args.stream:
        print("rights consume events: --stream may not be empty or hold braces", file=sys.stderr)
        return 2
    try:
        url = running_redis(args.redis_url, args.data_dir)
    except NoServer as exc:
        print(f"rights consume events: {exc}", file=sys.stderr)
        return 1
    client = sync_client(url, socket_timeout=10)
    try:
        if client.get(RULES_ACTIVE) is None:
            print(
                "rights consume events: Redis has no active rule table: start `rights serve` on it "
                "(or push one with `rights rules push`) first",
                file=sys.stderr,
            )
            return 1
    finally:
        client.close()
    options = Options(
        stream=args.stream,
        group=args.group,
        consumer=args.consumer or f"{socket.gethostname()}:{os.getpid()}",
        count=args.count,
        block_ms=args.block_ms,
        claim_idle_ms=args.claim_idle_ms,
        claim_every_s=args.claim_every_s,
    )
    return asyncio.run(_consume(url, options))


async def _consume(url: str, options) -> int:
    from api.event_stream import EventConsumer
    from api.redis.connect import async_client
    from api.redis.keys import event_stream_key
    from api.service import Service
    from api.settings import Settings

    try:
        settings = Settings.from_env(redis_url=url, member_cache=False, access_log=False)
    except ValueError as exc:
        print(f"rights consume events: {exc}", file=sys.stderr)
        return 2
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    service = Service(settings)
    await service.start()
    # a read blocks for up to block_ms: its own connections, with a timeout past that
    stream_client = async_client(url, socket_timeout=options.block_ms / 1000 + 10, socket_connect_timeout=5)
    consumer = EventConsumer(service, stream_client, options, stop)
    flusher = asyncio.ensure_future(_flush_dashboard(service, stop))
    try:
        await consumer.ensure_group()
        print(
            f"consuming {event_stream_key(options.stream)} as group {options.group}, consumer {options.consumer}",
            flush=True,
        )
        await consumer.run()
    finally:
        stop.set()
        with contextlib.suppress(Exception):
            await flusher
        with contextlib.suppress(Exception):
            await service.dashboard.flush(service.redis)
        with contextlib.suppress(Exception):
            await stream_client.aclose()
        await service.stop()
        print(consumer.tally.summary(), flush=True)
    return 0


async def _flush_dashboard(service, stop: asyncio.Event) -> None:
    """The big screen's counts of the points credited here, added to Redis each second."""
    while not stop.is_set():
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stop.wait(), 1.0)
        with contextlib.suppress(Exception):
            await service.dashboard.flush(service.redis)
