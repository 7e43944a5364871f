"""HTTP bounds that uvicorn's httptools protocol does not have: a size limit on the
request head, and deadlines for the head and the body.

httptools keeps a header it is still reading in memory, however long it grows, and
uvicorn closes nothing that is still sending: without these bounds, a few clients
sending one endless header (or a few bytes a minute) hold a worker's memory and
connections for ever. The protocol below counts the bytes of each request head as they
arrive (request line included) and refuses a head past `RIGHTS_MAX_HEADER_BYTES` with
431, closing the connection without reading the rest; it closes a connection whose
head is not complete within `RIGHTS_HEADER_TIMEOUT_S` (a new connection that sends
nothing included), and cuts a request whose body is not complete within
`RIGHTS_BODY_TIMEOUT_S`. Idle keep-alive connections and the number of connections are
uvicorn's own bounds (`timeout_keep_alive`, `limit_concurrency`), set by `rights serve`.

Data is fed to the parser at most one limit's worth at a time, so a head that begins in
the same read as the end of the previous request is counted from the next slice on: a
head is never more than twice the limit when it is refused.

It also closes three gaps of uvicorn's protocol, each of which let bytes of one request
be read as another's, or an answer be lost:
- a request that asks to switch protocols (`Connection: Upgrade`, e.g. curl's `h2c`):
  the parser ends the request at its head and hands the rest over as the new protocol's,
  which uvicorn then drops or parses as further requests. No upgrade is served here, so
  such a request with a body is refused (400 `upgrade_not_supported`) and one without
  is answered and its connection closed; nothing after it is read;
- a request the parser cannot read (400) behind requests still being answered: the 400
  waits for their answers, as a 431 does, in the API's error shape;
- chunked trailers: neither counted nor bounded, and added to the request's headers
  after its head was checked. Their fields are dropped, and more than a head's worth
  of bytes without body data (trailers, or a chunk's head, however they are split)
  closes the connection;
- an answer given before a body its client was told to hold back (`Expect:
  100-continue`, no `100 Continue` sent): the connection closes, rather than wait for a
  body that will not come and read the next request as it.
"""

from __future__ import annotations

import asyncio
import functools
from typing import cast

import orjson
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from ..settings import Settings
from .one_write import HeadWithBody


@functools.lru_cache(maxsize=1)
def _settings() -> Settings:
    return Settings.from_env()


def refusal(status: bytes, code: str, reason: str) -> bytes:
    """A complete HTTP/1.1 error response in the API's error shape, closing the connection."""
    body = orjson.dumps({"error": {"code": code, "field": None, "reason": reason}})
    return (
        b"HTTP/1.1 "
        + status
        + b"\r\ncontent-type: application/json\r\ncontent-length: "
        + str(len(body)).encode()
        + b"\r\nconnection: close\r\n\r\n"
        + body
    )


class LimitedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a bounded request head and head/body deadlines."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        settings = _settings()
        self.max_head = settings.max_header_bytes
        self.head_timeout = settings.header_timeout_s
        self.body_timeout = settings.body_timeout_s
        self.in_head = True  # between a request's first byte (or the connection's start) and its headers' end
        self.head_bytes = 0
        self.messages_done = 0
        self.body_pending = False
        self.pending_refusal: bytes | None = None  # an error answer waiting for the answers before it
        self.refuse_pending = False  # nothing more is read: a refusal is due (now or after the answers before it)
        self.upgrade_refused = False  # this request asked to switch protocols: no cycle, or a last one
        self.trailer_bytes = 0
        self.fed_body = False  # the slice just fed held body bytes
        self.unbodied_bytes = 0  # bytes fed since the last body bytes while a body is due (trailers, chunk heads)
        self.refusal_timer: asyncio.TimerHandle | None = None
        self.head_timer: asyncio.TimerHandle | None = None
        self.body_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport) -> None:
        super().connection_made(cast(asyncio.Transport, HeadWithBody(transport, self.loop)))  # one write an answer
        self.head_timer = self.loop.call_later(self.head_timeout, self._head_late)  # a silent connection too

    def connection_lost(self, exc: Exception | None) -> None:
        for timer in (self.head_timer, self.body_timer, self.refusal_timer):
            if timer is not None:
                timer.cancel()
        self.head_timer = self.body_timer = self.refusal_timer = None
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self.refuse_pending:  # nothing more is read: the refusal follows the answer in progress
            self.transport.pause_reading()
            return
        offset, size = 0, len(data)
        while offset < size:
            if self.transport.is_closing():
                return
            if self.in_head:
                room = self.max_head - self.head_bytes
                if room <= 0:
                    self._refuse_head()
                    return
                take = min(room, size - offset)
            else:
                take = min(self.max_head, size - offset)
            counted, done_before = self.in_head, self.messages_done
            self.fed_body = False
            super().data_received(data if take == size else data[offset : offset + take])
            if self.parser is None or self.refuse_pending:  # what follows is not read as requests
                return
            if self.messages_done != done_before:
                self.head_bytes = 0  # what followed the request's end in this slice is not counted: at most a limit
                self.unbodied_bytes = 0
            elif counted and self.in_head:
                self.head_bytes += take
            elif self.body_pending:  # a trailer or a chunk's head that never ends is bounded as a head is
                # a slice that held body bytes, or the head's end (counted with the head), starts the count again
                self.unbodied_bytes = 0 if self.fed_body or counted else self.unbodied_bytes + take
                if self.unbodied_bytes > self.max_head:
                    self.transport.close()
                    return
            offset += take
        if self.in_head and self.head_bytes and self.head_timer is None:
            self.head_timer = self.loop.call_later(self.head_timeout, self._head_late)
        elif self.body_pending and self.body_timer is None:
            self.body_timer = self.loop.call_later(self.body_timeout, self._body_late)

    def on_header(self, name: bytes, value: bytes) -> None:
        if self.in_head:
            super().on_header(name, value)
            return
        self.trailer_bytes += len(name) + len(value) + 4  # a chunked body's trailer: dropped, and bounded
        if self.trailer_bytes > self.max_head:
            self.transport.close()

    def on_body(self, body: bytes) -> None:
        self.fed_body = True
        super().on_body(body)

    def on_headers_complete(self) -> None:
        self.in_head = False
        self.body_pending = True
        self.trailer_bytes = self.unbodied_bytes = 0
        if self.head_timer is not None:
            self.head_timer.cancel()
            self.head_timer = None
        if self.parser.should_upgrade():  # no protocol switch is served (websockets are off)
            self.refuse_pending = True  # the parser hands what follows to the new protocol: none is read
            self.transport.pause_reading()
            if any(
                name in (b"content-length", b"transfer-encoding") and value.strip(b"0 ") for name, value in self.headers
            ):
                self.upgrade_refused = True  # its body is not parsed: the request cannot be served
                self._refuse(
                    refusal(
                        b"400 Bad Request",
                        "upgrade_not_supported",
                        "this server does not switch protocols: send the request without Connection: Upgrade",
                    )
                )
                return
            super().on_headers_complete()
            if self.cycle is not None:
                self.cycle.keep_alive = False  # answered, then the connection closes
            return
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        if self.upgrade_refused:
            return
        self.body_pending = False
        if self.body_timer is not None:
            self.body_timer.cancel()
            self.body_timer = None
        self.in_head = True
        self.head_bytes = 0
        self.messages_done += 1
        super().on_message_complete()

    def _responding(self) -> bool:
        return self.cycle is not None and not self.cycle.response_complete

    def _refuse_head(self) -> None:
        self._refuse(
            refusal(
                b"431 Request Header Fields Too Large",
                "headers_too_large",
                f"the request line and headers are larger than {self.max_head} bytes",
            )
        )

    def send_400_response(self, msg: str) -> None:
        """uvicorn's answer to bytes its parser cannot read, in the API's shape, and after
        the answers to the requests before them. When the bytes were the body of the request
        being read, that request is given up: it can never be whole."""
        answer = refusal(b"400 Bad Request", "malformed_request", "the request is not valid HTTP/1.1")
        cycle = self.cycle
        if self.body_pending and cycle is not None and not cycle.response_complete:
            if self.pipeline and self.pipeline[0][0] is cycle:  # queued behind another: never started
                self.pipeline.popleft()
            else:  # running: its app reads a disconnect; the 400 goes out unless its answer has begun
                cycle.disconnected = True
                cycle.message_event.set()
                if not cycle.response_started:
                    self.refuse_pending = True
                    self.transport.write(answer)
                self.transport.close()
                return
        self._refuse(answer)

    def _refuse(self, answer: bytes) -> None:
        """Write `answer` and close; after the answers in progress or queued, never into one
        (and within the body deadline, whatever they do)."""
        self.refuse_pending = True
        self.transport.pause_reading()
        if self._responding() or self.pipeline:
            self.pending_refusal = answer
            if self.refusal_timer is None:
                self.refusal_timer = self.loop.call_later(self.body_timeout, self.transport.close)
            return
        self.transport.write(answer)
        self.transport.close()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        cycle = self.cycle
        if self.body_pending and cycle is not None and cycle.response_complete and cycle.waiting_for_100_continue:
            self.transport.close()  # answered before the body it never asked for (100 Continue): none will come
            return
        answer = self.pending_refusal
        if answer is not None and not self._responding() and not self.pipeline and not self.transport.is_closing():
            self.pending_refusal = None
            self.transport.write(answer)
            self.transport.close()

    def _head_late(self) -> None:
        self.head_timer = None
        if self.transport.is_closing() or not self.in_head:
            return
        if self._responding():  # the app is still answering the previous request: its time is not the client's
            self.head_timer = self.loop.call_later(self.head_timeout, self._head_late)
            return
        self.transport.close()

    def _body_late(self) -> None:
        self.body_timer = None
        if self.body_pending and not self.transport.is_closing():
            self.transport.close()
