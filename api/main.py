"""The eligibility API: FastAPI over the compiled engine, members in Redis.

`create_app()` (uvicorn's factory) reads its Settings from the environment and puts
the app together: one Service, its Gate (api/middleware.py) shared by the front that
answers POST /v1/eligibility before FastAPI (api/front.py) and the one middleware around
every other route, the error handlers, and the routers of api/routes/ in order. The
lifespan starts the Service (Redis, scripts, the rule table, the threads watching Redis)
and the loops of api/upkeep.py, and stops them again.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from . import schemas
from .access import required_scope
from .errors import JSON, install_handlers
from .front import App, Front
from .middleware import UNLIMITED_PATHS, AccessAndMetrics, Gate
from .routes import (
    alliances,
    checkout,
    dashboard,
    docs,
    draws,
    leaders,
    members,
    operations,
    orders,
    owned_coupons,
    pickups,
    points,
    redemptions,
    rules,
    simulate,
    stock,
    tiers,
)
from .service import Service
from .settings import Settings
from .upkeep import loops

# in the order their routes are matched and documented
ROUTERS = (
    checkout.router,
    rules.router,
    alliances.router,
    simulate.router,
    points.router,
    members.router,
    owned_coupons.router,
    tiers.router,
    redemptions.router,
    draws.router,
    stock.router,
    pickups.router,
    orders.router,
    leaders.router,
    dashboard.router,
    operations.router,
)


def create_app(settings: Settings | None = None) -> FastAPI:
    service = Service(settings or Settings.from_env())

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if service.settings.access_log:  # each line written as its request ends: a killed worker loses none
            reconfigure = getattr(sys.stdout, "reconfigure", None)
            if reconfigure is not None:
                reconfigure(line_buffering=True)
        await service.start()
        tasks = [asyncio.ensure_future(run()) for run in loops(service)]
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            await service.stop()

    app = App(
        title="rights-engine",
        version="0.1.0",
        lifespan=lifespan,
        description="Member benefits decided in real time: prices, coupons, points and redemptions "
        "for a cart in a live room. Money is integer fen.",
        docs_url=None,  # FastAPI's pages load their scripts from a CDN: api/routes/docs.py serves them itself
        redoc_url=None,
    )
    app.state.service = service
    gate = Gate(service)
    app.front = Front(gate)  # POST /v1/eligibility, before every layer below
    app.add_middleware(AccessAndMetrics, gate=gate)
    install_handlers(app)
    app.router.routes.extend(docs.router.routes)  # /docs, /redoc and their files, where FastAPI's own pages were
    for router in ROUTERS:  # their routes themselves, matched in this order: FastAPI's include_router
        app.router.routes.extend(router.routes)  # would wrap each router, and every match would pay for it
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]  # FastAPI's way to extend its document
    routes = [*app.routes, *(route for router in ROUTERS for route in router.routes)]
    service.paths = frozenset(path for route in routes if isinstance(path := getattr(route, "path", None), str))
    return app


_NO_KEY = "`unauthorized`: no X-Api-Key header, on a server with channel keys (RIGHTS_API_KEYS)"
_KEY_REFUSALS = (
    ("forbidden", "the API key is not valid"),
    ("forbidden_scope", "it lacks this route's scope, brand or leader"),
)
_WRONG_KEY = "; ".join(f"`{code}`: {why}" for code, why in _KEY_REFUSALS)
_OVERLOADED = "`overloaded` (with Retry-After): this worker is too busy; retry"
_NO_REDIS = frozenset(("/v1/noop", "/dashboard"))  # routes that never read Redis


def _openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's document, plus the checkout's request model (the front reads its body
    by hand) and the error answers every route may give, documented once."""
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
    for route, path in spec.get("paths", {}).items():
        for operation in path.values():
            for parameter in operation.get("parameters", ()):
                if parameter.get("in") == "header" and parameter.get("name") == "Idempotency-Key":
                    parameter["required"] = True  # the route checks it itself, to refuse in its own words
            answers = operation.setdefault("responses", {})
            if required_scope(route) is not None:  # the Gate's key check (api/middleware.py), when keys are on
                answers.setdefault("401", {"description": _NO_KEY, **error_body})
                refused = answers.setdefault("403", {"description": _WRONG_KEY, **error_body})
                for code, why in _KEY_REFUSALS:  # the route's own 403s, and the key's
                    if f"`{code}`" not in refused["description"]:
                        refused["description"] += f"; or `{code}`: {why}"
            if route in _NO_REDIS:  # only the Gate's in-flight limit
                answers.setdefault("503", {"description": _OVERLOADED, **error_body})
            elif route not in UNLIMITED_PATHS:  # the in-flight limit, and Redis
                answers.setdefault("503", {"description": schemas.UNAVAILABLE, **error_body})
            if "requestBody" in operation or operation.get("parameters"):
                answers.setdefault("422", {"description": "A field is wrong; the error names it", **error_body})
            if "requestBody" in operation:
                answers.setdefault("400", {"description": "Malformed JSON", **error_body})
                answers.setdefault("413", {"description": "Body larger than the route's limit", **error_body})
    app.openapi_schema = spec
    return spec
