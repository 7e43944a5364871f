"""The one error shape every route answers with."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

UNAVAILABLE = (
    "`redis_unavailable`: Redis failed or did not answer within RIGHTS_REDIS_TIMEOUT_MS; or "
    "`overloaded` (with Retry-After): this worker is too busy, Redis is fine. Retry either."
)


class ErrorBody(BaseModel):
    code: str = Field(description="invalid_request, malformed_json, body_too_large, not_found, redis_unavailable, ...")
    field: str | None = Field(None, description="the request field at fault, e.g. lines[3].qty")
    reason: str


class ErrorResponse(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "error": {
                        "code": "invalid_request",
                        "field": "lines[0].qty",
                        "reason": "must be a whole number from 1 to 9999",
                    }
                }
            ]
        }
    )

    error: ErrorBody
