"""The Redis a one-off command (a members or leaders import, a member lookup) works on.

Without a Redis URL (argument or REDIS_URL) it is the embedded default: a redis-server
child with its data under ./var (AOF on), owned by whoever holds the data directory's
lock (data_lock.py). `rights serve` names its Redis in the lock file, so a command run
beside it reaches the running server's Redis; with no server running, the command takes
the lock and starts the embedded redis-server for as long as it needs it.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator

from ..redis.embedded import EmbeddedRedis, answers_ping
from .data_lock import DYING_HOLDER_WAIT_S, DataDirBusy, DataDirLock, alive
from .parent_watch import die_with_parent


class NoServer(RuntimeError):
    """A read-only command found no Redis to read: it never starts one of its own."""


def running_redis(url: str | None, data_dir: str | None) -> str:
    """The Redis a read-only command (a member lookup) reads: the one given, or the running
    server's, named in the data directory's lock. Nothing is started and nothing written:
    with neither, NoServer says how to point at one."""
    url = url or os.environ.get("REDIS_URL")
    if url:
        return url
    lock = DataDirLock(data_dir or os.environ.get("RIGHTS_DATA_DIR", "var"))
    holder = lock.holder() if lock.directory.is_dir() else {}
    known = str(holder.get("url") or "")
    port = known.rsplit(":", 1)[-1].split("/")[0]
    if alive(holder.get("pid")) and port.isdigit() and answers_ping(int(port)):
        return known
    raise NoServer(
        f"no running server holds {lock.directory}/ and no Redis was named: start one (rights serve), "
        "or give --redis-url (or REDIS_URL), or --data-dir of a running server"
    )


@contextlib.contextmanager
def redis_for(url: str | None, data_dir: str | None, command: str) -> Iterator[str]:
    """A Redis URL to use: the one given, the running server's (named in the data
    directory's lock), or a redis-server started for the command under the lock.

    When the directory's holder offers no Redis that answers (another command still
    starting, a server whose Redis stays down), DataDirBusy names it."""
    url = url or os.environ.get("REDIS_URL")
    if url:
        yield url
        return
    lock = DataDirLock(data_dir or os.environ.get("RIGHTS_DATA_DIR", "var"))
    deadline = time.monotonic() + DYING_HOLDER_WAIT_S
    while not lock.try_acquire(command):
        holder = lock.holder()
        known = str(holder.get("url") or "")
        port = known.rsplit(":", 1)[-1].split("/")[0]
        if alive(holder.get("pid")) and port.isdigit() and answers_ping(int(port)):
            yield known
            return
        if time.monotonic() > deadline:  # a holder still starting, or one whose Redis does not answer
            raise DataDirBusy(lock.directory, holder)
        time.sleep(0.1)
    server = EmbeddedRedis(lock.directory, pass_fds=lock.fds, preexec_fn=die_with_parent(os.getpid()))
    try:
        server.start()
        lock.write(url=server.url)
        yield server.url
    finally:
        server.stop()
        lock.release()
