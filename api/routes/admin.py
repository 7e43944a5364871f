"""What the admin routes (rule tables, simulation) share: their OpenAPI refusals, a JSON
answer, and an instant given as Unix seconds or ISO 8601."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi.responses import Response

from engine.instants import parse_instant

from ..errors import JSON

ADMIN_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "No admin token"},
    403: {"description": "A wrong admin token"},
}


def json_answer(body: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(body), status, media_type=JSON)


def instant_or_none(text: str | None) -> int | None:
    return None if text is None or text == "" else parse_instant(text)
