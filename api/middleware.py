"""What every request passes before any route runs: API keys and scopes, the body-size
limit, the in-flight limit, then request metrics and the access log when it ends.

`Gate` holds the checks and the bookkeeping, once per worker; two callers share it: the
app's one ASGI middleware (`AccessAndMetrics`, every route FastAPI serves) and the front
(api/front.py, POST /v1/eligibility before FastAPI), so both count the same requests in
flight and log the same way. Pure ASGI rather than Starlette's BaseHTTPMiddleware: it
costs almost nothing and never buffers a response.
"""

from __future__ import annotations

import sys
import time
from typing import Any

import orjson
from starlette.responses import Response
from starlette.types import Scope

from .access import CURRENT_GRANT, ApiKeys, admin_holder, scope_refusal
from .errors import AdminRefused, answer_for, error, overloaded_answer
from .service import Service

MAX_IN_FLIGHT = 1024  # requests one worker takes at once; past it: 503 overloaded, at once
UNLIMITED_PATHS = frozenset(("/healthz", "/readyz", "/metrics"))  # a probe is answered however busy
_TABLE_BODIES = ("/v1/rules", "/v1/rules/simulate")  # a rule table pushed, or tried before the push


def _first_header(scope: Scope, name: bytes) -> str:
    """A header's first value, as Starlette's `request.headers.get` reads it ('' when absent)."""
    return next((value.decode("latin-1") for key, value in scope.get("headers", ()) if key == name), "")


def too_large(limit: int) -> Response:
    """413, answered before the body is read: the parser reads the rest of it (by its
    Content-Length or chunks, within the body deadline) and drops it, so the connection
    stays usable and the client, still sending, gets the answer rather than a reset."""
    return error(413, "body_too_large", f"the body is larger than {limit} bytes")


class Gate:
    """One worker's checks before a route and its record after: keys, limits, metrics, log."""

    def __init__(self, service: Service):
        self.service = service
        self.in_flight = 0  # requests this worker is serving now
        self.keys = ApiKeys(service.settings.api_keys, service.settings.api_keys_file or None)

    def refusal(self, scope: Scope, limit: int) -> Response | None:
        """The answer refusing this request before its body is read, or None: no valid key
        for a guarded route (401/403), a key without the route's scope (403), a declared
        Content-Length past `limit` (413). A granted key is the request's CURRENT_GRANT."""
        headers = scope["headers"]
        if self.keys.enabled and ApiKeys.guards(scope["path"]):
            given = next((value for name, value in headers if name == b"x-api-key"), None)
            grant = self.keys.grant(given)
            if grant is None:
                if given is None:
                    return error(401, "unauthorized", "this route needs an X-Api-Key header", "X-Api-Key")
                return error(403, "forbidden", "the API key is not valid", "X-Api-Key")
            state = scope.setdefault("state", {})
            state["channel"], state["grant"] = grant.channel, grant
            CURRENT_GRANT.set(grant)  # a route checks the brand it acts for (Service.enter_brand)
            refused = scope_refusal(grant, scope["method"], scope["path"])
            if refused is not None:
                return error(403, "forbidden_scope", refused, "X-Api-Key")
        for name, value in headers:
            if name == b"content-length" and value.isdigit():
                digits = value.lstrip(b"0")  # zeros in front are valid HTTP, and int() refuses 4,300 digits
                if len(digits) > 19 or int(digits or b"0") > limit:
                    return too_large(limit)
        return None

    def busy(self, scope: Scope) -> Response | None:
        """503 overloaded when this worker already serves MAX_IN_FLIGHT requests (probes pass)."""
        if self.in_flight >= MAX_IN_FLIGHT and scope["path"] not in UNLIMITED_PATHS:
            return overloaded_answer(f"{self.in_flight} requests in flight")
        return None

    def label(self, scope: Scope) -> str:
        """The metrics' route label: the matched route's path, or a known path, or "unmatched"."""
        route = scope.get("route")
        if route is not None:
            return route.path
        # plain Starlette routes leave no route in the scope; label by known paths only
        return scope["path"] if scope["path"] in self.service.paths else "unmatched"

    def done(self, scope: Scope, route: str, status: int, started: float) -> None:
        """A request has ended: count it under `route`, and log it when the access log is on."""
        seconds = time.perf_counter() - started
        self.service.metrics.request(route, scope["method"], status, seconds)
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


class AccessAndMetrics:
    """Pure ASGI middleware: the Gate around every route FastAPI serves."""

    def __init__(self, app: Any, gate: Gate):
        self.app = app
        self.gate = gate

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = time.perf_counter()
        status_holder = [500]
        gate = self.gate
        settings = gate.service.settings
        limit = settings.max_body_bytes
        if scope["path"] in _TABLE_BODIES:  # a table's size, for an admin only: the token is checked before the body
            try:
                admin_holder(_first_header(scope, b"authorization"))
            except AdminRefused as exc:
                refusal = answer_for(exc)
                assert refusal is not None, "the app answers every AdminRefused"
                await refusal(scope, receive, send)
                gate.done(scope, gate.label(scope), refusal.status_code, started)
                return
            limit = settings.max_rules_bytes
        refused = gate.refusal(scope, limit)
        if refused is not None:
            await refused(scope, receive, send)
            gate.done(scope, gate.label(scope), refused.status_code, started)
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
                    await too_large(limit)(scope, receive, send)
                    gate.done(scope, gate.label(scope), 413, started)
                    return
                if message["type"] != "http.request" or not message.get("more_body"):
                    break

            async def replay():
                return messages.pop(0) if messages else await receive()

            receive = replay
        refused = gate.busy(scope)
        if refused is not None:
            await refused(scope, receive, send)
            gate.done(scope, gate.label(scope), 503, started)
            return
        gate.in_flight += 1
        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            gate.in_flight -= 1
            gate.done(scope, gate.label(scope), status_holder[0], started)
