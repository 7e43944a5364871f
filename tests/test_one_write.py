"""An answer leaves the server in one write (api/serve/one_write.py): its head and its body
together, one segment on the wire; a streamed answer's head goes out by itself at the end
of the event loop's turn, never later; nothing is reordered."""

from __future__ import annotations

import asyncio

from uvicorn.config import Config
from uvicorn.server import ServerState

from api.serve.http_limits import LimitedHttpToolsProtocol
from api.serve.one_write import HeadWithBody


class Wire:
    """A transport that records each write as the socket would get it."""

    def __init__(self):
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.writes.append(bytes(data))

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def get_extra_info(self, name, default=None):
        return {"sockname": ("127.0.0.1", 8000), "peername": ("127.0.0.1", 50000)}.get(name, default)

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


def test_a_head_waits_for_its_body_and_no_longer_than_the_loops_turn():
    async def scenario():
        wire = Wire()
        transport = HeadWithBody(wire, asyncio.get_running_loop())
        transport.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n")
        transport.write(b"{}")
        assert wire.writes == [b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}"]
        transport.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")  # a streamed answer
        assert len(wire.writes) == 1
        await asyncio.sleep(0)  # the turn ends: the head goes out alone
        assert wire.writes[1] == b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"
        transport.write(b"5\r\nfirst\r\n")  # later parts are written as they come
        assert wire.writes[2] == b"5\r\nfirst\r\n"
        transport.write(b"HTTP/1.1 503 Service Unavailable\r\nconnection: close\r\n\r\n")
        transport.close()  # closing writes what is held first
        assert wire.writes[3].startswith(b"HTTP/1.1 503") and wire.closed
        assert transport.get_extra_info("peername") == ("127.0.0.1", 50000)  # the rest is the transport's

    asyncio.run(scenario())


def test_the_server_protocol_answers_in_one_write():
    async def app(scope, receive, send):
        await receive()
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"5")]})
        await send({"type": "http.response.body", "body": b"hello"})

    async def scenario():
        config = Config(app=app, lifespan="off", log_level="warning", proxy_headers=False)
        config.load()
        protocol = LimitedHttpToolsProtocol(config=config, server_state=ServerState(), app_state={})
        wire = Wire()
        protocol.connection_made(wire)
        protocol.data_received(b"GET / HTTP/1.1\r\nHost: shop\r\n\r\n")
        for _ in range(20):
            await asyncio.sleep(0)
        assert len(wire.writes) == 1
        head, body = wire.writes[0].split(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200 OK") and body == b"hello"
        protocol.connection_lost(None)

    asyncio.run(scenario())
