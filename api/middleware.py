"""The app's one ASGI middleware: API keys and scopes, the body-size limit, the in-flight
limit, request metrics and the access log, in that order, before any route runs.

Pure ASGI rather than Starlette's BaseHTTPMiddleware: it costs the hot route almost
nothing and never buffers a response.
"""

from __future__ import annotations

import sys
import time
from typing import Any

import orjson

from .access import CURRENT_GRANT, ApiKeys, scope_refusal
from .errors import error, overloaded_answer
from .service import Service

MAX_IN_FLIGHT = 1024  # requests one worker takes at once; past it: 503 overloaded, at once
UNLIMITED_PATHS = frozenset(("/healthz", "/readyz", "/metrics"))  # a probe is answered however busy


class AccessAndMetrics:
    """Pure ASGI middleware: request metrics, the body-size limit, the access log."""

    def __init__(self, app: Any, service: Service):
        self.app = app
        self.service = service
        self.in_flight = 0  # requests this worker is serving now
        self.keys = ApiKeys(service.settings.api_keys, service.settings.api_keys_file or None)

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = time.perf_counter()
        status_holder = [500]
        settings = self.service.settings
        if self.keys.enabled and ApiKeys.guards(scope["path"]):
            given = next((value for name, value in scope.get("headers", ()) if name == b"x-api-key"), None)
            grant = self.keys.grant(given)
            if grant is None:
                status = 401 if given is None else 403
                await error(
                    status,
                    "unauthorized" if given is None else "forbidden",
                    "this route needs an X-Api-Key header" if given is None else "the API key is not valid",
                    "X-Api-Key",
                )(scope, receive, send)
                self._done(scope, status, started)
                return
            state = scope.setdefault("state", {})
            state["channel"], state["grant"] = grant.channel, grant
            CURRENT_GRANT.set(grant)  # a route checks the brand it acts for (Service.enter_brand)
            refusal = scope_refusal(grant, scope["method"], scope["path"])
            if refusal is not None:
                await error(403, "forbidden_scope", refusal, "X-Api-Key")(scope, receive, send)
                self._done(scope, 403, started)
                return
        limit = settings.max_rules_bytes if scope["path"] == "/v1/rules" else settings.max_body_bytes
        for name, value in scope.get("headers", ()):
            if name == b"content-length" and value.isdigit() and int(value) > limit:
                response = error(413, "body_too_large", f"the body is larger than {limit} bytes")
                await response(scope, receive, send)
                self._done(scope, 413, started)
                return

        async def send_wrapper(message):
            if message["type"] == "http.response.start":
                status_holder[0] = message["status"]
            await send(message)

        if not any(name == b"content-length" for name, _ in scope.get("headers", ())) and scope["method"] in (
            "POST",
            "PUT",
            "PATCH",
        ):
            # a body without Content-Length (chunked) is read here, up to the limit, then handed on
            messages, size = [], 0
            while True:
                message = await receive()
                messages.append(message)
                size += len(message.get("body", b""))
                if size > limit:
                    await error(413, "body_too_large", f"the body is larger than {limit} bytes")(scope, receive, send)
                    self._done(scope, 413, started)
                    return
                if message["type"] != "http.request" or not message.get("more_body"):
                    break

            async def replay():
                return messages.pop(0) if messages else await receive()

            receive = replay
        if self.in_flight >= MAX_IN_FLIGHT and scope["path"] not in UNLIMITED_PATHS:
            await overloaded_answer(f"{self.in_flight} requests in flight")(scope, receive, send)
            self._done(scope, 503, started)
            return
        self.in_flight += 1
        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            self.in_flight -= 1
            self._done(scope, status_holder[0], started)

    def _done(self, scope: dict, status: int, started: float) -> None:
        seconds = time.perf_counter() - started
        route = scope.get("route")
        if route is not None:
            path = route.path
        else:  # plain Starlette routes leave no route in the scope; label by known paths only
            path = scope["path"] if scope["path"] in self.service.paths else "unmatched"
        self.service.metrics.request(path, scope["method"], status, seconds)
        if self.service.settings.access_log:
            line = {
                "t": round(time.time(), 3),
                "method": scope["method"],
                "path": scope["path"],
                "status": status,
                "ms": round(seconds * 1000, 3),
            }
            channel = scope.get("state", {}).get("channel")
            if channel:
                line["channel"] = channel
            sys.stdout.write(orjson.dumps(line).decode() + "\n")
