"""The eligibility API: FastAPI over the compiled engine, members in Redis.

The app is built by `create_app()` (uvicorn's factory), which reads its Settings from the
environment. The lifespan opens the Redis pool and compiles the rule table once per
worker; requests only read them.
"""
from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import sys
import threading
import time
from typing import Optional

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import Response
from redis.exceptions import RedisClusterException, RedisError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Route

import engine
from engine.inputs import QuoteInputError
from engine.rules import compile_source
from engine.source import read_bytes

from . import schemas
from .eligibility import RequestInvalid, encoded, join_offer, member_info, parse_request, pricing
from .metrics import Metrics, forget_silent_workers, render
from .settings import Settings
from .access import ApiKeys, scope_refusal
from .dashboard import add_dashboard_routes
from .live_stock import StockChanging, quote_with_live_stock, touches_stock
from .points_routes import add_points_routes
from .redis.connect import async_client, is_cluster, node_url
from .order_routes import add_order_routes
from .redemption_routes import add_redemption_routes
from .rules_routes import add_rules_routes
from .redis.keys import METRICS_KEY
from .redis.readiness import write_refusal
from .redis.health import RedisHealth
from .rules_sync import RulesSync
from .store import MISS, MemberReader, MemberRecord, TrackedCache

log = logging.getLogger("rights.api")
JSON = "application/json"
SAMPLES_PER_SECOND = 200  # eligibility requests a worker keeps each second for simulate's replay
ERRORS = {400: {"model": schemas.ErrorResponse, "description": "Malformed JSON"},
          413: {"model": schemas.ErrorResponse, "description": "Body larger than RIGHTS_MAX_BODY_BYTES"},
          422: {"model": schemas.ErrorResponse, "description": "A field is wrong; the error names it"},
          503: {"model": schemas.ErrorResponse, "description": schemas.UNAVAILABLE}}


MAX_REDIS_CONNECTIONS = 256  # per worker (per node on a cluster); a burst past it waits for one
PATIENCE_FLOOR_S, PATIENCE_TIMEOUTS = 2.0, 8  # patience: the larger of 2 s and 8 Redis timeouts
MAX_IN_FLIGHT = 1024  # requests one worker takes at once; past it: 503 overloaded, at once
UNLIMITED_PATHS = frozenset(("/healthz", "/readyz", "/metrics"))  # a probe is answered however busy


class RedisUnavailable(RuntimeError):
    """Redis refused, failed, or did not answer within RIGHTS_REDIS_TIMEOUT_MS: a 503."""


class Overloaded(RuntimeError):
    """This worker is too busy to serve in time (Redis is fine): a 503 with Retry-After."""


def error(status: int, code: str, reason: str, field: Optional[str] = None) -> Response:
    return Response(orjson.dumps({"error": {"code": code, "field": field, "reason": reason}}), status, media_type=JSON)


def overloaded_answer(why: str) -> Response:
    """503 `overloaded`: this worker is too busy (Redis is fine); retry in a second."""
    response = error(503, "overloaded", f"{why}; the server is overloaded, not Redis: retry after 1 s")
    response.headers["Retry-After"] = "1"
    return response


class Service:
    """What the routes share in one worker: settings, Redis, the rule table, metrics."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.evaluator = engine.evaluator
        self.metrics = Metrics()
        self.table = None
        self.redis = None
        self.cache: Optional[TrackedCache] = None
        self.reader: Optional[MemberReader] = None
        self.timeout = settings.redis_timeout_ms / 1000
        # how long a call may wait while Redis answers but this worker is too busy to read it
        self.patience = max(PATIENCE_FLOOR_S, PATIENCE_TIMEOUTS * self.timeout)
        self.health: Optional[RedisHealth] = None
        self.paths: frozenset = frozenset()  # the app's route paths, for metric labels
        self.swapped_at = time.time()  # when the served table became this worker's
        self.samples: list = []  # recent eligibility requests, flushed to Redis each second
        self.background: list = []  # coroutine functions the lifespan runs while the app serves
        self.swap_lock = threading.RLock()  # swaps come from the event loop and the rules watcher thread
        self.table_seq: float = 0  # the served table's activation, in Redis's count (see swap)

    async def start(self) -> None:
        self.table_source = read_bytes(self.settings.rules)
        self.table = compile_source(self.table_source)
        gc.freeze()  # the table's objects live as long as the worker: keep them out of every collection
        self.metrics.rules_version = self.table.version
        self.cluster = await asyncio.to_thread(is_cluster, self.settings.redis_url)
        # the client's own timeouts are the patience limit: whether Redis answers in time is
        # the health thread's call (api/redis/health.py), not a timer on a busy loop
        self.redis = async_client(
            self.settings.redis_url, socket_timeout=self.patience, socket_connect_timeout=self.patience,
            retry_on_timeout=False, retry=None, max_connections=MAX_REDIS_CONNECTIONS,
            **({} if self.cluster else {"pool_timeout": self.patience}))
        self.health = RedisHealth(self.settings.redis_url, self.cluster, self.timeout)
        self.health.start()
        urls = [self.settings.redis_url]
        if self.cluster:  # the primaries: /readyz probes each, the member cache tracks each
            await self.redis.initialize()
            urls = [node_url(self.settings.redis_url, node.host, node.port) for node in self.redis.get_primaries()]
        self.cache = TrackedCache(urls, timeout=self.timeout) if self.settings.member_cache else None
        if self.cache is not None:
            self.cache.start()
        self.reader = MemberReader(self.redis, batching=self.settings.batch_lookups, cache=self.cache)
        self.rules = RulesSync(self, self.settings.redis_url)
        await self.rules.start()

    async def find_member(self, req) -> Optional[MemberRecord]:
        """The member a request names (by id or channel identity), or None for a visitor.
        A cached answer costs no I/O; only a miss pays for the bounded wait on Redis."""
        reader = self.reader
        member_id = req.member_id
        if req.identity is not None:
            member_id = reader.cached_identity(*req.identity)
            if member_id is MISS:
                member_id = await self.redis_call(reader.resolve(*req.identity))
        if member_id is None:
            return None
        record = reader.cached_member(member_id)
        if record is MISS:
            record = await self.redis_call(reader.member(member_id))
        return record

    def swap(self, table, seq: float, reset: bool = False) -> bool:
        """Serve `table` from now on: one assignment, so every request sees one version.
        `seq` is its activation's sequence number in Redis (api/rules_store.py): a swap to
        an earlier activation than the one served is refused, so the event loop and the
        rules watcher thread (api/rules_sync.py) can never take a worker backwards;
        `reset` accepts Redis's count when Redis itself was reset."""
        with self.swap_lock:
            if seq < self.table_seq and not reset:
                return False
            self.table = table
            self.table_seq = seq
            self.swapped_at = time.time()
            self.metrics.rules_version = table.version
            return True

    def note_seq(self, version: str, seq: float) -> None:
        """Redis confirms the served version's activation (or a later one of it)."""
        with self.swap_lock:
            if self.table is not None and self.table.version == version and seq > self.table_seq:
                self.table_seq = seq

    async def stop(self) -> None:
        if getattr(self, "rules", None) is not None:
            await self.rules.stop()
        if self.cache is not None:
            await self.cache.stop()
        if self.redis is not None:
            await self.redis.aclose()
        if self.health is not None:
            await asyncio.to_thread(self.health.stop)

    async def redis_call(self, awaitable):
        """Any Redis call, bounded. A fault, or Redis not answering within the timeout (as
        the health thread sees it), is a 503 `redis_unavailable` at once; a call that is
        slow while Redis answers is this worker's queue, so it goes on waiting, up to the
        patience limit (then 503 `overloaded`)."""
        started = time.perf_counter()
        health = self.health
        if health is not None and not health.answering:
            if asyncio.iscoroutine(awaitable):
                awaitable.close()
            self.metrics.redis_errors += 1
            raise RedisUnavailable("member store unavailable: Redis does not answer")
        task = asyncio.ensure_future(awaitable)
        try:
            while True:
                done, _ = await asyncio.wait((task,), timeout=self.timeout)
                if done:
                    return task.result()
                if health is not None and not health.answering:
                    raise RedisUnavailable("member store unavailable: Redis does not answer in time")
                if time.perf_counter() - started > self.patience:
                    raise Overloaded(f"a Redis answer took over {self.patience:.1f} s to reach this busy worker")
        except (RedisError, RedisClusterException, OSError, asyncio.TimeoutError) as exc:
            self.metrics.redis_errors += 1
            raise RedisUnavailable(f"member store unavailable: {type(exc).__name__}") from None
        except RedisUnavailable:
            self.metrics.redis_errors += 1
            raise
        finally:
            if not task.done():
                task.cancel()
            self.metrics.redis.observe(time.perf_counter() - started)

    async def publish_snapshot(self) -> None:
        """This worker's metrics into the shared hash (see api/metrics.py)."""
        await asyncio.wait_for(self.redis.hset(METRICS_KEY, self.metrics.worker, self.metrics.snapshot()),
                               self.timeout)

    async def publish_metrics(self) -> None:
        """Once a second, whatever Redis is doing; once a minute, forget the snapshots of
        workers silent for FORGET_METRICS_AFTER (restarted or scaled away)."""
        pruned_at = time.monotonic()
        while True:
            await asyncio.sleep(1.0)
            with contextlib.suppress(Exception):
                await self.publish_snapshot()
                if time.monotonic() - pruned_at > 60:
                    pruned_at = time.monotonic()
                    await forget_silent_workers(self.redis)


class AccessAndMetrics:
    """Pure ASGI middleware: request metrics, the body-size limit, the access log."""

    def __init__(self, app, service: Service):
        self.app = app
        self.service = service
        self.in_flight = 0  # requests this worker is serving now
        self.keys = ApiKeys(service.settings.api_keys, service.settings.api_keys_file or None)

    async def __call__(self, scope, receive, send):
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
                await error(status, "unauthorized" if given is None else "forbidden",
                            "this route needs an X-Api-Key header" if given is None else "the API key is not valid",
                            "X-Api-Key")(scope, receive, send)
                self._done(scope, status, started)
                return
            state = scope.setdefault("state", {})
            state["channel"], state["grant"] = grant.channel, grant
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
                "POST", "PUT", "PATCH"):
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

    def _done(self, scope, status: int, started: float) -> None:
        seconds = time.perf_counter() - started
        route = scope.get("route")
        if route is not None:
            path = route.path
        else:  # plain Starlette routes leave no route in the scope; label by known paths only
            path = scope["path"] if scope["path"] in self.service.paths else "unmatched"
        self.service.metrics.request(path, scope["method"], status, seconds)
        if self.service.settings.access_log:
            line = {"t": round(time.time(), 3), "method": scope["method"], "path": scope["path"], "status": status,
                    "ms": round(seconds * 1000, 3)}
            channel = scope.get("state", {}).get("channel")
            if channel:
                line["channel"] = channel
            sys.stdout.write(orjson.dumps(line).decode() + "\n")


def create_app(settings: Optional[Settings] = None) -> FastAPI:
    settings = settings or Settings.from_env()
    service = Service(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        await service.start()
        tasks = [asyncio.create_task(service.publish_metrics())]
        tasks += [asyncio.create_task(run()) for run in service.background]
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            await service.stop()

    app = FastAPI(title="rights-engine", version="0.1.0", lifespan=lifespan,
                  description="Member benefits decided in real time: prices, coupons, points and redemptions "
                              "for a cart in a live room. Money is integer fen.")
    app.state.service = service
    app.add_middleware(AccessAndMetrics, service=service)

    @app.exception_handler(RedisUnavailable)
    async def redis_down(request: Request, exc: RedisUnavailable):
        return error(503, "redis_unavailable", f"{exc}; retry shortly")

    @app.exception_handler(Overloaded)
    async def overloaded(request: Request, exc: Overloaded):
        return overloaded_answer(str(exc))

    @app.exception_handler(QuoteInputError)
    async def quote_input(request: Request, exc: QuoteInputError):
        """A quote's input out of range on any route (e.g. a stored member past a limit) is
        the caller's 422, never a 500."""
        return error(422, "invalid_request", exc.reason, exc.field)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError):
        first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
        if first.get("type") == "json_invalid":
            return error(400, "malformed_json", "the body is not valid JSON")
        if tuple(first.get("loc", ())) == ("body",):
            return error(422, "invalid_request", "the body must be a JSON object, sent with "
                                                 "Content-Type: application/json")
        return error(422, "invalid_request", first.get("msg", "invalid"), field_path(first.get("loc", ())[1:]))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        response = error(exc.status_code, code, str(exc.detail))
        for name, value in (getattr(exc, "headers", None) or {}).items():  # e.g. Allow on a 405
            response.headers[name] = value
        return response

    async def eligibility(scope, receive, send) -> None:
        """POST /v1/eligibility as a bare ASGI app: the hottest route reads its body and
        writes its answer itself (see `eligibility_documented` for what it does)."""
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if len(body) > settings.max_body_bytes:
                return await _send(send, error(413, "body_too_large",
                                               f"the body is larger than {settings.max_body_bytes} bytes"))
            if not message.get("more_body"):
                break
        await _send(send, await decide(body, scope))

    async def decide(body: bytes, scope) -> Response:
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            return error(400, "malformed_json", f"the body is not valid JSON: {exc}")
        try:
            req = parse_request(data)
        except RequestInvalid as exc:
            return error(422, exc.code, exc.reason, exc.field)
        now = _now(scope, settings)
        record = await service.find_member(req)
        if record is not None and 0 < record.lapse_at <= now:  # points due to lapse: sweep them first
            record = await service.current_member(record, now)
        table = service.table
        status, member = pricing(record, now)
        started = time.perf_counter()
        try:
            quote = service.evaluator.quote(table, member, req.room, now, req.lines, req.fulfillment)
        except QuoteInputError as exc:
            return error(422, "invalid_request", exc.reason, exc.field)
        service.metrics.engine.observe(time.perf_counter() - started)
        if touches_stock(table, quote):  # what is left, per Redis
            try:
                quote = await quote_with_live_stock(service.evaluator, table, member, req.room, now, req.lines,
                                                    req.fulfillment, redis=service.redis, cache=service.cache,
                                                    call=service.redis_call, first=quote)
            except StockChanging as exc:
                return error(503, "stock_changing", f"{exc}; retry")
        if len(service.samples) < SAMPLES_PER_SECOND:  # for shadow runs of candidate tables
            service.samples.append((encoded(req), now))
        offer = join_offer(service.evaluator, table, req, now, quote.payable) if status != "member" else None
        tier = "visitor" if status != "member" else (record.tier or "visitor")
        service.dashboard.quote(req.room, tier, record.id if record is not None else None)
        head = orjson.dumps({"rules_version": table.version, "at": now, "member": member_info(record, status, tier),
                             "join_offer": offer})
        # the quote's own JSON, written by the engine, spliced in after the head's members
        return Response(head[:-1] + b"," + _quote_json(quote) + b"}", media_type=JSON)

    # The hot route is a plain Starlette route (no FastAPI dependency solving: measured at
    # about a fifth of the route's own cost); the decorated twin below never runs and only
    # documents the route in OpenAPI, from the same models.
    app.router.routes.insert(0, Route("/v1/eligibility", _AsgiEndpoint(eligibility), methods=["POST"]))

    @app.post("/v1/eligibility", tags=["checkout"], response_model=None,
              summary="What this member may buy, at what price, with which coupons, earning what",
              responses={200: {"model": schemas.EligibilityResponse, "description": "The quote",
                               "content": {JSON: {"example": _ELIGIBILITY_EXAMPLE}}}, **ERRORS},
              openapi_extra={"requestBody": {"required": True, "content": {JSON: {
                  "schema": {"$ref": "#/components/schemas/EligibilityRequest"},
                  "examples": {"by OpenID": {"value": schemas.EligibilityRequest.model_config[
                      "json_schema_extra"]["examples"][0]},
                      "visitor": {"value": {"room": "gala", "lines": [{"sku": "MILK-1L", "qty": 1}]}},
                      "by member id, pickup": {"value": {"member_id": "M00002", "room": "gala",
                                                         "lines": [{"sku": "CHEESE-LTD", "qty": 1}],
                                                         "fulfillment": "pickup"}}}}}}})
    async def eligibility_documented() -> Response:  # pragma: no cover - shadowed by the route above
        """The checkout calls this on every cart change. The member is found by `member_id`
        or a channel `identity` (neither: a visitor); an unknown identity is a visitor too.
        The instant is the server's clock. A lapsed paid membership is priced as a visitor
        and says so; visitors and lapsed members get a `join_offer` for this very cart."""
        raise RuntimeError("shadowed by the Starlette route")

    add_rules_routes(app, service, error)
    add_points_routes(app, service, error, lambda scope: _now(scope, settings))
    add_redemption_routes(app, service, error, lambda scope: _now(scope, settings))
    add_order_routes(app, service, error, lambda scope: _now(scope, settings))
    add_dashboard_routes(app, service, error)

    @app.get("/v1/noop", tags=["operations"], summary="Does nothing: the baseline of the API benchmark",
             responses={200: {"content": {JSON: {"example": {"ok": True}}}}})
    async def noop() -> Response:
        return Response(b'{"ok":true}', media_type=JSON)

    @app.get("/healthz", tags=["operations"], summary="The process is alive",
             responses={200: {"content": {JSON: {"example": {"alive": True}}}}})
    async def healthz() -> Response:
        return Response(b'{"alive":true}', media_type=JSON)

    @app.get("/readyz", tags=["operations"], summary="Redis answers and takes writes, and the rules are loaded",
             responses={200: {"content": {JSON: {"example": {"ready": True, "redis": True,
                                                             "rules_version": "dairy-gala@3fef92905af1",
                                                             "reason": None}}}},
                        503: {"content": {JSON: {"example": {
                            "ready": False, "redis": False, "rules_version": "dairy-gala@3fef92905af1",
                            "reason": "Redis refuses writes: OutOfMemoryError: command not allowed when used "
                                      "memory > 'maxmemory'."}}}}})
    async def readyz() -> Response:
        """Ready when Redis answers within RIGHTS_REDIS_TIMEOUT_MS and takes a write on
        every primary (a Redis over its `maxmemory`, failing its saves or a read-only
        replica refuses writes while it still answers PING), and a rule table is loaded.
        `reason` says what is wrong."""
        redis_reason = None
        if service.health is not None and not service.health.answering:
            redis_reason = f"Redis does not answer within {service.settings.redis_timeout_ms} ms"
        else:
            try:  # a busy worker waits for the probe's answer as any call does
                redis_reason = await asyncio.wait_for(write_refusal(service.redis, service.cluster), service.patience)
            except Exception as exc:
                redis_reason = f"Redis does not answer: {type(exc).__name__}"
        reason = redis_reason or (None if service.table is not None else "no rule table loaded")
        body = {"ready": reason is None, "redis": redis_reason is None,
                "rules_version": service.table.version if service.table else None, "reason": reason}
        return Response(orjson.dumps(body), 200 if reason is None else 503, media_type=JSON)

    @app.get("/metrics", tags=["operations"], summary="Prometheus metrics, summed over every worker",
             responses={200: {"content": {"text/plain": {"example": "rights_requests_total{...} 12\n"}}}})
    async def metrics() -> Response:
        snapshots = []
        with contextlib.suppress(Exception):
            await service.publish_snapshot()
            raw = await asyncio.wait_for(service.redis.hgetall(METRICS_KEY), service.timeout)
            snapshots = [orjson.loads(v) for v in raw.values()]
        if not snapshots:
            snapshots = [orjson.loads(service.metrics.snapshot())]
        return Response(render(snapshots, service.metrics), media_type="text/plain; version=0.0.4")

    def openapi():
        if app.openapi_schema:
            return app.openapi_schema
        spec = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        request_schema = schemas.EligibilityRequest.model_json_schema(ref_template="#/components/schemas/{model}")
        components = spec.setdefault("components", {}).setdefault("schemas", {})
        components.update(request_schema.pop("$defs", {}))
        components["EligibilityRequest"] = request_schema
        if "ErrorResponse" not in components:
            error_schema = schemas.ErrorResponse.model_json_schema(ref_template="#/components/schemas/{model}")
            components.update(error_schema.pop("$defs", {}))
            components["ErrorResponse"] = error_schema
        error_body = {"content": {JSON: {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}}}
        for path in spec.get("paths", {}).values():  # what every route may answer, documented once
            for operation in path.values():
                answers = operation.setdefault("responses", {})
                if "requestBody" in operation or operation.get("parameters"):
                    answers.setdefault("422", {"description": "A field is wrong; the error names it", **error_body})
                if "requestBody" in operation:
                    answers.setdefault("400", {"description": "Malformed JSON", **error_body})
                    answers.setdefault("413", {"description": "Body larger than the route's limit", **error_body})
        app.openapi_schema = spec
        return spec

    app.openapi = openapi
    service.paths = frozenset(getattr(route, "path", None) for route in app.routes) - {None}
    return app


def field_path(loc) -> Optional[str]:
    """A field as every route names it, the way the eligibility checks do: `lines[0].qty`."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or None


def _now(scope, settings: Settings) -> int:
    if settings.allow_clock_override:
        for name, value in scope["headers"]:
            if name == b"x-rights-now" and value.isdigit():
                return int(value)
    return int(time.time())


def _quote_json(quote) -> bytes:
    to_json = getattr(quote, "to_json", None)  # the compiled Quote writes its own JSON
    return to_json(inner=True) if to_json else orjson.dumps(quote.to_dict())[1:-1]


class _AsgiEndpoint:
    """Starlette calls a plain function with a Request; an object it calls as an ASGI app."""

    def __init__(self, handler):
        self.handler = handler

    async def __call__(self, scope, receive, send) -> None:
        await self.handler(scope, receive, send)


async def _send(send, response: Response) -> None:
    await send({"type": "http.response.start", "status": response.status_code, "headers": response.raw_headers})
    await send({"type": "http.response.body", "body": response.body})


_ELIGIBILITY_EXAMPLE = {
    "rules_version": "dairy-gala@3fef92905af1", "at": 1794402000,
    "member": {"id": "M00001", "status": "member", "tier": "gold", "member_tier": "gold", "points": 1850,
               "frozen": False, "paid_until": None},
    "tier": "gold", "room": {"id": "gala", "live": True},
    "lines": [{"sku": "MILK-1L", "qty": 2, "eligible": True, "reason": None, "hint": None, "unit_price": 1290,
               "price_layer": "live", "amount": 2580, "discount": 387, "final": 2193,
               "coupons": [{"id": "GOLD-GALA-85", "amount": 387}]}],
    "coupons_applied": [{"id": "GOLD-GALA-85", "name": "金卡盛典全场85折 gold 15% off storewide",
                         "kind": "percent_off", "amount": 387}],
    "coupons_not_applied": [{"id": "SPEND199-SAVE30", "name": "满199减30 spend 199 save 30", "kind": "threshold_off",
                             "reason": "threshold_not_met", "hint": {"code": "add_amount", "value": 17320,
                                                                     "text": "add 173.20 yuan more of these items"}}],
    "coupon_search": {"combinations": 1, "exact": True},
    "totals": {"subtotal": 2580, "discount": 387, "payable": 2193},
    "points": {"total": 706, "base": 219, "per_yuan": 10,
               "multipliers": [{"source": "tier", "id": "gold", "percent": 150},
                               {"source": "room", "id": "gala", "percent": 200}],
               "after_multipliers": 656, "bonuses": [{"source": "room_order", "id": "gala", "points": 50}],
               "note": None},
    "redemptions": [{"id": "OATMEAL-LOWGI", "name": "低GI燕麦 low-GI oatmeal", "points": 1800, "cash": 0,
                     "available": True, "reason": None, "hint": None}],
    "join_offer": None,
}
