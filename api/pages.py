"""The headers every HTML page of the server carries (/docs, /redoc, /dashboard).

The pages load scripts, styles and images from this server only, talk to it only, may
not be framed by another site (clickjacking), and no browser guesses another type for
what they load. Inline script and style stay allowed: Swagger UI's start-up and the
dashboard are written inline, and nothing user-written is ever put in a page.
"""

from __future__ import annotations

from typing import TypeVar

from starlette.responses import Response

R = TypeVar("R", bound=Response)

POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self' 'unsafe-inline'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "font-src 'self' data:",
        "worker-src 'self' blob:",  # ReDoc's search runs in a worker made from a blob
        "connect-src 'self'",
        "object-src 'none'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "form-action 'none'",
    )
)
PAGE_HEADERS = {
    "Content-Security-Policy": POLICY,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def guarded(response: R) -> R:
    """`response` with the page headers."""
    response.headers.update(PAGE_HEADERS)
    return response
