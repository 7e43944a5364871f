"""Bulk writes: many commands packed once and sent to one server in one go, every reply
read back, a refused command's error kept as its reply.

redis-py's pipeline checks and converts each argument in Python; for a bulk import (a
hundred thousand members of two dozen arguments each) that is most of the time the
import takes. Here hiredis packs a whole command in C, and the replies are read off the
client's own connection, so its settings (TLS, password, timeouts) hold.
"""

from __future__ import annotations

import hiredis
from redis.exceptions import ResponseError


def pack(*args) -> bytes:
    """One command in the Redis protocol; arguments are str, bytes, int or float."""
    return hiredis.pack_command(args)


def send(client, packed: list[bytes]) -> list:
    """Send the packed commands to the server of `client` (a redis-py client of one
    server, a Cluster's node included) and return each reply in order, an error reply
    (e.g. OutOfMemoryError) as its exception. A connection error is raised."""
    if not packed:
        return []
    pool = client.connection_pool
    connection = pool.get_connection()
    try:
        connection.send_packed_command([b"".join(packed)])
        replies: list = []
        for _ in packed:
            try:
                replies.append(connection.read_response())
            except ResponseError as exc:  # the connection stays in step: the next reply follows
                replies.append(exc)
        return replies
    except BaseException:
        connection.disconnect()  # replies may be left unread: never hand this connection out again
        raise
    finally:
        pool.release(connection)
