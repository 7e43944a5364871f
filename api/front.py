"""The app uvicorn is handed: POST /v1/eligibility goes straight to the checkout, every
other request to FastAPI.

A checkout asks on every cart change, and FastAPI's layers (its error middleware, ours,
its exception middleware, the router) cost more than deciding the quote. `App` is FastAPI
with one test in front: the checkout's requests go to `Front`, which does itself what
those layers do for this route, with the same code: the Gate's checks (API keys and
scopes, body limit, in-flight limit) and record (metrics, access log) of
api/middleware.py, and the app's answers to the exceptions a route raises
(api/errors.py). The route stays documented in OpenAPI by its twin in
api/routes/checkout.py, which FastAPI still answers for any other method (405).
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlsplit

from fastapi import FastAPI
from starlette.responses import PlainTextResponse, Response
from starlette.types import Message, Receive, Scope, Send

from .checkout.decide import decide
from .errors import answer_for
from .middleware import Gate, too_large

ELIGIBILITY = "/v1/eligibility"
_JSON = b"application/json"


class Front:
    """POST /v1/eligibility as one ASGI app: the Gate, the body, `decide`, the answer."""

    def __init__(self, gate: Gate):
        self.gate = gate
        self.service = gate.service
        self.limit = gate.service.settings.max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        gate = self.gate
        refused = gate.refusal(scope, self.limit) or gate.busy(scope)
        if refused is not None:
            await _send(send, refused)
            gate.done(scope, ELIGIBILITY, refused.status_code, started)
            return
        gate.in_flight += 1
        status = 500
        try:  # the body (bounded), `decide`, the answer: in this coroutine, no other on the way
            limit = self.limit
            message = await receive()
            body = message.get("body", b"")
            while message.get("more_body"):
                if len(body) > limit:
                    break
                message = await receive()
                body += message.get("body", b"")
            try:
                if len(body) > limit:
                    answer: bytes | Response = too_large(limit)
                else:
                    answer = await decide(self.service, body, self.service.now(scope))
            except Exception as exc:
                refusal = answer_for(exc)
                if refusal is None:  # as Starlette's ServerErrorMiddleware: a plain 500, and the error raised on
                    await _send(send, PlainTextResponse("Internal Server Error", status_code=500))
                    raise
                answer = refusal
            if type(answer) is bytes:
                await send(
                    {
                        "type": "http.response.start",
                        "status": 200,
                        "headers": [(b"content-length", b"%d" % len(answer)), (b"content-type", _JSON)],
                    }
                )
                await send({"type": "http.response.body", "body": answer})
                status = 200
            else:
                assert isinstance(answer, Response)
                await _send(send, answer)
                status = answer.status_code
        finally:
            gate.in_flight -= 1
            gate.done(scope, ELIGIBILITY, status, started)


async def _send(send: Send, response: Response) -> None:
    await send({"type": "http.response.start", "status": response.status_code, "headers": response.raw_headers})
    await send({"type": "http.response.body", "body": response.body})


class App(FastAPI):
    """FastAPI, with POST /v1/eligibility answered by `front` before any of its layers."""

    front: Any = None  # set by api.main.create_app once the Gate exists

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and self.front is not None:
            path, root = scope["path"], scope.get("root_path")
            if path == ELIGIBILITY or (root and path == root + ELIGIBILITY):  # behind a proxy's prefix, as routed
                await self.front(scope, receive, send)
                return
        if scope["type"] == "http" and scope["path"].endswith("/") and len(scope["path"]) > 1:
            send = _relative_redirect(send)  # the router's trailing-slash redirect
        await super().__call__(scope, receive, send)


def _relative_redirect(send: Send) -> Send:
    """`send`, with a redirect's Location cut to its path and query: the router builds it
    from the request's Host header, which a client chooses (a proxy passing it through
    would let anyone's Host into the answer)."""

    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start" and 300 <= message["status"] < 400:
            headers = []
            for name, value in message["headers"]:
                if name == b"location":
                    parts = urlsplit(value.decode("latin-1"))
                    path = "/" + parts.path.lstrip("/")  # never `//host/...`, which names another host
                    value = (path + (f"?{parts.query}" if parts.query else "")).encode("latin-1")
                headers.append((name, value))
            message = {**message, "headers": headers}
        await send(message)

    return sending
