"""Bulk writes: many commands packed once and sent to one server in one go, their replies
read back later, a refused command's error kept as its reply.

redis-py's pipeline checks and converts each argument in Python; for a bulk import (a
hundred thousand members of two dozen arguments each) that is most of the time the
import takes. Here hiredis packs a whole command in C, and the replies are read off the
client's own connection, so its settings (TLS, password, timeouts) hold. Sending and
reading are apart so that the caller can prepare its next commands while the server
runs these.
"""

from __future__ import annotations

import hiredis
from redis.exceptions import ResponseError


def pack(*args) -> bytes:
    """One command in the Redis protocol; arguments are str, bytes, int or float."""
    return hiredis.pack_command(args)


class Sent:
    """Packed commands sent to the server of `client` (a redis-py client of one server, a
    Cluster's node included) on a connection of its own, held until `replies()`."""

    def __init__(self, client, packed: list[bytes]):
        self.count = len(packed)
        self.pool = client.connection_pool
        self.connection = self.pool.get_connection()
        try:
            self.connection.send_packed_command([b"".join(packed)])
        except BaseException:
            self._drop()
            raise

    def replies(self) -> list:
        """Each reply in order, an error reply (e.g. OutOfMemoryError) as its exception; a
        connection error is raised. The connection goes back to its pool."""
        try:
            replies: list = []
            for _ in range(self.count):
                try:
                    replies.append(self.connection.read_response())
                except ResponseError as exc:  # the connection stays in step: the next reply follows
                    replies.append(exc)
        except BaseException:
            self._drop()
            raise
        self.pool.release(self.connection)
        return replies

    def _drop(self) -> None:
        """Replies may be left unread: never hand this connection out again."""
        self.connection.disconnect()
        self.pool.release(self.connection)


def send(client, packed: list[bytes]) -> list:
    """Send the packed commands and read every reply (Sent.replies)."""
    return Sent(client, packed).replies() if packed else []
