"""Importing member rows into Redis (`rights members import`): each row checked as it is
read, the good ones written a batch at a time (api/store.py write_members) by a writer
thread while the next batch is read, so that Redis and the parsing work at once.

At most one batch is on its way: when Redis refuses a batch, nothing after it has been
sent, and the result says how far the import got (the batch's last line, and how many
members went in whole before the refusal).
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from redis.exceptions import RedisClusterException, RedisError

from engine.gc_pause import gc_paused

from .members_io import RowError, record_from_row
from .store import WriteRefused, write_members

BATCH = 1000  # members a batch: a pipeline of about a thousand scripts and a few commands


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
    pending: tuple[Future, int, int] | None = None  # the batch on its way: its future, last line, rows behind it
    batch: list = []
    seen = line = 0
    # the rows and records all live on until written: the cyclic collector would scan them
    # again and again for nothing (it took three quarters of the time)
    with gc_paused(), ThreadPoolExecutor(max_workers=1, thread_name_prefix="members-import") as writer:

        def settle() -> bool:
            """Wait for the batch on its way; False when Redis refused it."""
            nonlocal pending
            if pending is None:
                return True
            future, last_line, behind = pending
            pending = None
            try:
                result.written += future.result()
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
            if not settle():
                return False
            context = contextvars.copy_context()  # the brand's key scope (api/redis/keys.py) goes along
            pending = (writer.submit(context.run, write_members, client, batch), line, seen)
            batch = []
            return True

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
