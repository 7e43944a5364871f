"""A response's head and body in one write: one system call and one TCP segment, not two.

uvicorn writes a response's status line and headers as soon as the app sends
`http.response.start`, and the body when it sends `http.response.body`: two writes, two
segments on the wire (the socket has TCP_NODELAY), two wake-ups of the client for every
answer. `HeadWithBody` wraps the connection's transport: bytes that begin a response
(`HTTP/`) are held, and go out with the next bytes written, the body's; if none follow
in the same turn of the event loop (a streamed answer whose first part comes later), they
go out alone at the end of that turn. Nothing is reordered and nothing waits longer than
the turn it was written in.
"""

from __future__ import annotations

import asyncio
from typing import Any


class HeadWithBody:
    """A transport whose response heads wait for their bodies (see the module)."""

    __slots__ = ("transport", "loop", "held")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop):
        self.transport = transport
        self.loop = loop
        self.held: bytes | None = None

    def write(self, data: bytes) -> None:
        held = self.held
        if held is not None:
            self.held = None
            self.transport.write(held + data)
        elif data[:5] == b"HTTP/":
            self.held = bytes(data)
            self.loop.call_soon(self.flush)
        else:
            self.transport.write(data)

    def flush(self) -> None:
        """Write what is held, if anything."""
        held = self.held
        if held is not None:
            self.held = None
            self.transport.write(held)

    def is_closing(self) -> bool:  # asked on every request: spared the look-up through __getattr__
        return self.transport.is_closing()

    def close(self) -> None:
        self.flush()
        self.transport.close()

    def write_eof(self) -> None:
        self.flush()
        self.transport.write_eof()

    def __getattr__(self, name: str) -> Any:  # everything else is the transport's own
        return getattr(self.transport, name)
