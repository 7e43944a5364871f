"""Behaviour events from a Redis stream: what `rights consume events` runs.

Producers add entries to `events:{<name>}` (api/redis/keys.py), each with the field
`event`: the JSON body POST /v1/events takes, and optionally `at` (Unix seconds; read
only where RIGHTS_ALLOW_CLOCK_OVERRIDE allows, like X-Rights-Now). Consumers of one
group share the stream: each entry goes to one of them (XREADGROUP), is credited through
api/events.py (the path HTTP events take: once per event id, by the same ledger script)
and acknowledged (XACK) only after Redis has acknowledged the credit. Every
`claim_every_s` a consumer takes over the entries left pending longer than
`claim_idle_ms` by any consumer (XAUTOCLAIM), so entries a killed consumer held are
credited by another; an entry delivered twice is a replay, acknowledged and not credited
again.

An entry that can never be credited (not JSON, a field missing or wrong, an unknown
member, kind or room, any refusal the HTTP route would answer with a 4xx) is copied to
`events:{<name>}:dead` with the reason and the consumer, then acknowledged. A Redis fault
is not the entry's fault: it stays pending and is tried again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import ValidationError
from redis.exceptions import RedisClusterException, RedisError, ResponseError

from . import schemas
from .errors import Overloaded, RedisUnavailable, field_path
from .events import Outcome, record_event
from .redis.keys import DEAD_LETTER_MAXLEN, EVENT_STREAM_KEEP_DAYS, dead_letter_key, event_stream_key
from .service import LATEST_NOW

log = logging.getLogger("rights.consume")
T = TypeVar("T")
TRANSIENT = (RedisUnavailable, Overloaded, RedisError, RedisClusterException, OSError, asyncio.TimeoutError)
RETRY_PAUSE_S = 0.5  # after a Redis fault, before the next read
WARN_EVERY_S = 10.0  # a Redis fault is told at most this often


@dataclass(frozen=True)
class Options:
    stream: str
    group: str
    consumer: str
    count: int = 100
    block_ms: int = 2000
    claim_idle_ms: int = 60_000
    claim_every_s: float = 10.0


@dataclass
class Tally:
    credited: int = 0
    replays: int = 0
    dead: int = 0
    retried: int = 0  # entries left pending after a Redis fault, for a later try
    reasons: dict[str, int] = field(default_factory=dict)

    def summary(self) -> str:
        return f"credited {self.credited}, replays {self.replays}, dead-lettered {self.dead}"


class Poison(Exception):
    """An entry that can never be credited: its code and reason go to the dead letters."""

    def __init__(self, code: str, reason: str, field: str | None = None):
        super().__init__(reason)
        self.code, self.reason, self.field = code, reason, field


DEAD_FIELD_BYTES = 4096  # each field a dead letter keeps of its entry; a longer one is cut, with its length


def _cut(value: Any) -> Any:
    """A field's value as a dead letter keeps it: at most DEAD_FIELD_BYTES, then how long it was."""
    data = value if isinstance(value, bytes) else str(value).encode()
    if len(data) <= DEAD_FIELD_BYTES:
        return value
    return data[:DEAD_FIELD_BYTES] + f"... ({len(data):,} bytes in all)".encode()


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def parse_entry(fields: dict, clock_override: bool, limit: int = 64 * 1024) -> tuple[schemas.EventRequest, int | None]:
    """The event an entry carries and the instant it names (None: the consumer's clock); an
    event past `limit` bytes (RIGHTS_MAX_BODY_BYTES, as POST /v1/events) is refused unread."""
    raw = fields.get(b"event", fields.get("event"))
    if raw is None:
        raise Poison("invalid_request", "the entry has no field `event`", "event")
    if len(raw) > limit:
        raise Poison("body_too_large", f"the event is larger than {limit} bytes", "event")
    try:
        event = schemas.EventRequest.model_validate_json(raw)
    except ValidationError as exc:
        first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid"}
        if first.get("type") == "json_invalid":
            raise Poison("malformed_json", "the event is not valid JSON", "event") from None
        if first.get("type") == "model_type":
            raise Poison("invalid_request", "the event must be a JSON object", "event") from None
        raise Poison(
            "invalid_request", str(first.get("msg", "invalid")), field_path(tuple(first.get("loc", ())))
        ) from None
    at = fields.get(b"at", fields.get("at"))
    if at is None or not clock_override:
        return event, None
    text = _text(at)
    if not text.isascii() or not text.isdigit() or len(text) > 12 or int(text) > LATEST_NOW:
        raise Poison("invalid_request", f"`at` is not Unix seconds up to {LATEST_NOW}", "at")
    return event, int(text)


class EventConsumer:
    """One consumer of a group: reads, credits, acknowledges, claims, dead-letters."""

    def __init__(self, service: Any, stream_client: Any, options: Options, stop: asyncio.Event):
        self.service = service
        self.client = stream_client  # its own connections: a blocking read must not hold the service's
        self.options = options
        self.stop = stop
        self.key = event_stream_key(options.stream)
        self.dead_key = dead_letter_key(options.stream)
        self.tally = Tally()
        self._claimed_at = 0.0
        self._warned_at = -WARN_EVERY_S

    async def ensure_group(self) -> None:
        """The group, made (with the stream) if missing, reading from the stream's start."""
        try:
            await self.client.xgroup_create(self.key, self.options.group, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def run(self) -> None:
        """Until `stop` is set: claim what dead consumers left, read new entries, credit each."""
        while not self.stop.is_set():
            try:
                if time.monotonic() - self._claimed_at >= self.options.claim_every_s:
                    self._claimed_at = time.monotonic()
                    await self.claim()
                    await self.trim()
                entries = await self._until_stopped(
                    self.client.xreadgroup(
                        self.options.group,
                        self.options.consumer,
                        {self.key: ">"},
                        count=self.options.count,
                        block=self.options.block_ms,
                    )
                )
            except TRANSIENT as exc:
                if isinstance(exc, ResponseError) and "NOGROUP" in str(exc):  # the stream was deleted: start again
                    with contextlib.suppress(*TRANSIENT):
                        await self.ensure_group()
                    continue
                # one line while Redis is away, not two a second
                if time.monotonic() - self._warned_at >= WARN_EVERY_S:
                    self._warned_at = time.monotonic()
                    log.warning("rights consume events: Redis: %s: %s; trying again", type(exc).__name__, exc)
                await self._pause()
                continue
            if entries is None:  # stopped while waiting: whatever Redis delivered stays pending
                return
            for _, batch in _streams(entries):
                if not await self.handle_batch(batch):
                    await self._pause()
                    break

    async def claim(self) -> None:
        """Take over the entries pending longer than `claim_idle_ms` (a consumer that died
        or stalled) and credit them; one pass over the pending list, COUNT at a time."""
        cursor: Any = "0-0"
        while not self.stop.is_set():
            answer = await self.client.xautoclaim(
                self.key,
                self.options.group,
                self.options.consumer,
                min_idle_time=self.options.claim_idle_ms,
                start_id=cursor,
                count=self.options.count,
            )
            cursor, claimed = answer[0], answer[1]
            if claimed and not await self.handle_batch(claimed):
                return
            if _text(cursor) == "0-0":
                return

    async def trim(self) -> None:
        """Entries older than EVENT_STREAM_KEEP_DAYS go (XTRIM MINID ~), read or not."""
        oldest = int((time.time() - EVENT_STREAM_KEEP_DAYS * 86400) * 1000)
        await self.client.xtrim(self.key, minid=f"{oldest}-0", approximate=True)

    async def handle_batch(self, batch: list) -> bool:
        """Each entry in turn until `stop`; False after a Redis fault (the rest stay pending)."""
        for entry_id, fields in batch:
            if self.stop.is_set():
                return True
            try:
                await self.handle(entry_id, fields)
            except TRANSIENT as exc:
                self.tally.retried += 1
                log.warning("rights consume events: %s left pending: %s: %s", _text(entry_id), type(exc).__name__, exc)
                return False
        return True

    async def handle(self, entry_id: Any, fields: dict | None) -> None:
        """Credit one entry and acknowledge it; a poison one is dead-lettered, then acknowledged."""
        if fields is None:  # trimmed while pending: nothing left to credit
            await self.client.xack(self.key, self.options.group, entry_id)
            return
        try:
            settings = self.service.settings
            event, at = parse_entry(fields, settings.allow_clock_override, settings.max_body_bytes)
            now = int(time.time()) if at is None else at
            outcome: Outcome = await record_event(self.service, event, now)
            if outcome.status != 200:
                raise Poison(outcome.code or "refused", outcome.reason or "", outcome.field)
        except Poison as poison:
            await self.dead_letter(entry_id, fields, poison)
        except TRANSIENT:
            raise
        except Exception as exc:  # noqa: BLE001 - an entry that breaks the consumer is a dead letter, not a crash
            log.exception("rights consume events: entry %s", _text(entry_id))
            await self.dead_letter(entry_id, fields, Poison("failed", f"{type(exc).__name__}: {exc}"))
        else:
            if outcome.replay:
                self.tally.replays += 1
            else:
                self.tally.credited += 1
        await self.client.xack(self.key, self.options.group, entry_id)

    async def dead_letter(self, entry_id: Any, fields: dict, poison: Poison) -> None:
        """The entry's fields, with `reason`, `code`, `field`, `consumer` and `source_id`
        over any of the same name, into the dead-letter stream (about DEAD_LETTER_MAXLEN kept)."""
        letter = {name: _cut(value) for name, value in fields.items()}  # a letter is bounded, whatever came in
        for name in (b"reason", b"code", b"field", b"consumer", b"source_id"):
            letter.pop(name, None)
            letter.pop(name.decode(), None)
        letter |= {
            "reason": poison.reason,
            "code": poison.code,
            "field": poison.field or "",
            "consumer": self.options.consumer,
            "source_id": _text(entry_id),
        }
        await self.client.xadd(self.dead_key, letter, maxlen=DEAD_LETTER_MAXLEN, approximate=True)
        self.tally.dead += 1
        self.tally.reasons[poison.code] = self.tally.reasons.get(poison.code, 0) + 1

    async def _until_stopped(self, call: Awaitable[T]) -> T | None:
        """A blocking read, given up when `stop` is set while it waits."""
        read = asyncio.ensure_future(call)
        stopped = asyncio.ensure_future(self.stop.wait())
        try:
            done, _ = await asyncio.wait((read, stopped), return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopped.cancel()
        if read in done:
            return read.result()
        read.cancel()
        with contextlib.suppress(BaseException):
            await read
        return None

    async def _pause(self) -> None:
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self.stop.wait(), RETRY_PAUSE_S)


def _streams(answer: Any) -> list:
    """XREADGROUP's answer as [(stream, entries)], whichever protocol shaped it."""
    if not answer:
        return []
    if isinstance(answer, dict):
        return [
            (name, entries[0] if entries and isinstance(entries[0], list) else entries)
            for name, entries in answer.items()
        ]
    return [(name, entries) for name, entries in answer]
