"""The one error shape every route answers with, the exceptions that become it, and
the handlers that turn them into responses.

    {"error": {"code": "...", "field": "lines[0].qty" | null, "reason": "..."}}
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from engine.inputs import QuoteInputError

from . import schemas

JSON = "application/json"


def answer(description: str, example: Any) -> dict[str, Any]:
    """A success answer in the OpenAPI document, with its example."""
    return {"description": description, "content": {JSON: {"example": example}}}


def refusal(description: str) -> dict[str, Any]:
    """An error answer in the OpenAPI document: the one error shape, and when it is given."""
    return {"model": schemas.ErrorResponse, "description": description}


# what most routes may answer besides 200, for the OpenAPI document
ERRORS: dict[int | str, dict[str, Any]] = {
    400: refusal("Malformed JSON"),
    413: refusal("Body larger than RIGHTS_MAX_BODY_BYTES"),
    422: refusal("A field is wrong; the error names it"),
    503: refusal(schemas.UNAVAILABLE),
}
# what a route about one member (its ledger, its events) may answer besides 200
MEMBER_ERRORS: dict[int | str, dict[str, Any]] = {
    404: refusal("No member with this id"),
    422: ERRORS[422],
    503: ERRORS[503],
}


class RedisUnavailable(RuntimeError):
    """Redis refused, failed, or did not answer within RIGHTS_REDIS_TIMEOUT_MS: a 503."""


class Overloaded(RuntimeError):
    """This worker is too busy to serve in time (Redis is fine): a 503 with Retry-After."""


class AdminRefused(Exception):
    """An admin route called without the admin token (401) or with a wrong one (403)."""

    def __init__(self, status: int, reason: str):
        super().__init__(reason)
        self.status = status
        self.reason = reason


class BrandRefused(Exception):
    """A channel key kept to other brands (scope `brand:<id>`) used for this one: 403."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def error(status: int, code: str, reason: str, field: str | None = None) -> Response:
    return Response(orjson.dumps({"error": {"code": code, "field": field, "reason": reason}}), status, media_type=JSON)


def overloaded_answer(why: str) -> Response:
    """503 `overloaded`: this worker is too busy (Redis is fine); retry in a second."""
    response = error(503, "overloaded", f"{why}; the server is overloaded, not Redis: retry after 1 s")
    response.headers["Retry-After"] = "1"
    return response


def field_path(loc: Sequence[Any]) -> str | None:
    """A field as every route names it, the way the eligibility checks do: `lines[0].qty`."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or None


def _redis_down(exc: Exception) -> Response:
    return error(503, "redis_unavailable", f"{exc}; retry shortly")


def _overloaded(exc: Exception) -> Response:
    return overloaded_answer(str(exc))


def _quote_input(exc: Exception) -> Response:
    """A quote's input out of range on any route (e.g. a stored member past a limit) is
    the caller's 422, never a 500."""
    assert isinstance(exc, QuoteInputError)
    return error(422, "invalid_request", exc.reason, exc.field)


NOT_JSON_TYPED = "the body must be a JSON object, sent with Content-Type: application/json"


def not_json_typed(request: Request) -> Response | None:
    """422 unless the body is JSON by its Content-Type, as FastAPI decides for a body model
    (none given, application/json, or an application/...+json type): for the routes that
    read their body themselves."""
    given = request.headers.get("content-type")
    if not given:
        return None
    kind = given.split(";", 1)[0].strip().lower()
    if kind == "application/json" or (kind.startswith("application/") and kind.endswith("+json")):
        return None
    return error(422, "invalid_request", NOT_JSON_TYPED)


async def _invalid(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
    if first.get("type") == "json_invalid":
        return error(400, "malformed_json", "the body is not valid JSON")
    if tuple(first.get("loc", ())) == ("body",):
        return error(422, "invalid_request", NOT_JSON_TYPED)
    return error(422, "invalid_request", str(first.get("msg", "invalid")), field_path(tuple(first.get("loc", ()))[1:]))


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    reason = str(exc.detail)
    if exc.status_code == 400 and reason == "There was an error parsing the body":  # FastAPI's, e.g. nested too deep
        code, reason = "malformed_json", "the body could not be read as JSON (not JSON, or nested too deeply)"
    response = error(exc.status_code, code, reason)
    for name, value in (getattr(exc, "headers", None) or {}).items():  # e.g. Allow on a 405
        response.headers[name] = value
    return response


def _admin_refused(exc: Exception) -> Response:
    assert isinstance(exc, AdminRefused)
    response = error(exc.status, "unauthorized" if exc.status == 401 else "forbidden", exc.reason)
    if exc.status == 401:
        response.headers["WWW-Authenticate"] = "Bearer"
    return response


def _brand_refused(exc: Exception) -> Response:
    assert isinstance(exc, BrandRefused)
    return error(403, "forbidden_scope", exc.reason, "brand")


# the exceptions any route may raise, and their answers
ANSWERS: dict[type[Exception], Callable[[Exception], Response]] = {
    RedisUnavailable: _redis_down,
    Overloaded: _overloaded,
    QuoteInputError: _quote_input,
    AdminRefused: _admin_refused,
    BrandRefused: _brand_refused,
}


def answer_for(exc: Exception) -> Response | None:
    """The answer to an exception a route raised, as the app's handlers give it; None for
    one they do not handle (a 500)."""
    for kind in type(exc).__mro__:
        make = ANSWERS.get(kind)
        if make is not None:
            return make(exc)
    return None


async def _handled(request: Request, exc: Exception) -> Response:
    answer = answer_for(exc)
    assert answer is not None, "registered for the exceptions of ANSWERS only"
    return answer


def install_handlers(app: FastAPI) -> None:
    """Every exception a route may raise, answered in the one error shape."""
    for kind in ANSWERS:
        app.add_exception_handler(kind, _handled)
    app.add_exception_handler(RequestValidationError, _invalid)
    app.add_exception_handler(StarletteHTTPException, _http_error)
