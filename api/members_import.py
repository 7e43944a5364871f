"""Importing member rows into Redis (`rights members import`): each row checked as it is
read, the good ones written a batch at a time (api/store.py MemberWrites). A batch is
sent, and while Redis writes it the next one is read and packed; its replies are read
before the next is sent.

So at most one batch is on its way: when Redis refuses a batch, nothing after it has been
sent, and the result says how far the import got (the batch's last line, and how many
members went in whole before the refusal).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from redis.exceptions import RedisClusterException, RedisError

from engine.gc_pause import gc_paused

from .members_io import RowError, record_from_row
from .store import MemberWrites, WriteRefused

BATCH = 1000  # members a batch: on one node one script call, one MSET and a SADD a leader


@dataclass
class Imported:
    """What an import did: members written, rows refused, and where Redis stopped it
    (the last line of the refused batch and Redis's refusal), if it did."""

    written: int = 0
    refused: int = 0
    stopped_at: int | None = None
    error: BaseException | None = None


def import_rows(
    client,
    rows: Iterable[tuple],
    tiers: set | None,
    on_refused: Callable[[int, str | None, str], object],
    on_done: Callable[[int], object],
) -> Imported:
    """Import (line, row or RowError) pairs. `on_refused(line, field, reason)` is told of
    each refused row as it is read; `on_done(rows)` of how many rows (written or refused)
    are behind each batch once it is written."""
    result = Imported()
    expect_new = True  # until a batch finds a member that exists (a re-import): then each is sent with all its keys
    pending: tuple[MemberWrites, int, int] | None = None  # the batch on its way, its last line, rows behind it
    batch: list = []
    seen = line = 0

    def settle() -> bool:
        """Read the replies of the batch on its way; False when Redis refused it."""
        nonlocal pending, expect_new
        if pending is None:
            return True
        writes, last_line, behind = pending
        pending = None
        try:
            result.written += writes.finish()
            expect_new = expect_new and not writes.found_existing
        except (RedisError, RedisClusterException) as exc:
            refusal: BaseException = exc
            if isinstance(exc, WriteRefused):  # the batch's first members went in whole
                result.written += exc.written
                refusal = exc.cause
            result.stopped_at, result.error = last_line, refusal
            return False
        on_done(behind)
        return True

    def send() -> bool:
        nonlocal pending, batch
        try:
            writes = MemberWrites(client, batch, expect_new=expect_new)  # packed while Redis writes the batch before
        finally:
            batch = []
        if not settle():
            return False
        try:
            writes.send()
        except (RedisError, RedisClusterException) as exc:  # the connection, say
            result.stopped_at, result.error = line, exc
            return False
        pending = (writes, line, seen)
        return True

    # the rows and records all live on until written: the cyclic collector would scan them
    # again and again for nothing (it took three quarters of the time)
    with gc_paused():
        for line, row in rows:
            seen += 1
            try:
                if isinstance(row, RowError):
                    raise row
                batch.append(record_from_row(row, tiers))
            except RowError as exc:
                result.refused += 1
                on_refused(line, exc.field, exc.reason)
            if len(batch) >= BATCH and not send():
                return result
        if batch and not send():
            return result
        if settle():
            on_done(seen)  # the refused rows after the last batch too
    return result
