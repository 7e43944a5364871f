"""The API's documentation pages, Swagger UI at /docs and ReDoc at /redoc, served whole by
this server: their scripts, style sheet and images come from the installed
`fastapi-standalone-docs` package (Swagger UI's and ReDoc's published bundles, ReDoc's
made to take its logo from beside the page), so the pages load nothing from any other host
and work on a network without Internet access.

FastAPI's own pages would load them from a CDN (and fonts from Google), so `create_app`
turns those off and adds these instead; none of them is in the OpenAPI document.
"""

from __future__ import annotations

import functools
from importlib import metadata, resources

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse, Response

from ..errors import error
from ..pages import guarded

DOCS_URL = "/docs"
REDOC_URL = "/redoc"
OAUTH2_REDIRECT_URL = "/docs/oauth2-redirect"  # FastAPI's default, kept where it was
ASSETS_URL = "/docs/assets"
REDOC_LOGO_URL = REDOC_URL + "/logo-mini.svg"  # where ReDoc's bundle looks for its logo: beside the page
# the only files served, by name under ASSETS_URL: where the package has each, and its content type
ASSETS = {
    "swagger-ui-bundle.js": ("swagger/swagger-ui-bundle.js", "text/javascript"),
    "swagger-ui.css": ("swagger/swagger-ui.css", "text/css"),
    "redoc.standalone.js": ("redoc/redoc.standalone.js", "text/javascript"),
    "logo-mini.svg": ("redoc/logo-mini.svg", "image/svg+xml"),
    "favicon.png": ("fastapi/favicon.png", "image/png"),
}
PACKAGE = "fastapi-standalone-docs"
STATIC = resources.files("fastapi_standalone_docs") / "static"
# in every asset URL: a new release of the package is a new URL, so a browser may keep a file for good
VERSION = metadata.version(PACKAGE)
CACHE_CONTROL = "public, max-age=31536000, immutable"

_missing = sorted(path for path, _ in ASSETS.values() if not STATIC.joinpath(path).is_file())
if _missing:
    raise RuntimeError(f"the installed {PACKAGE} has no {', '.join(_missing)}: pip install -U {PACKAGE}")

router = APIRouter(include_in_schema=False)


def asset_url(request: Request, name: str) -> str:
    return f"{_root(request)}{ASSETS_URL}/{name}?v={VERSION}"


def _root(request: Request) -> str:
    """The prefix the app is served under (behind a proxy), as FastAPI's own pages use it."""
    return str(request.scope.get("root_path", "")).rstrip("/")


@router.get(DOCS_URL)
async def swagger_ui(request: Request) -> HTMLResponse:
    app = request.app
    return guarded(
        get_swagger_ui_html(
            openapi_url=_root(request) + app.openapi_url,
            title=f"{app.title} - Swagger UI",
            swagger_js_url=asset_url(request, "swagger-ui-bundle.js"),
            swagger_css_url=asset_url(request, "swagger-ui.css"),
            swagger_favicon_url=asset_url(request, "favicon.png"),
            oauth2_redirect_url=_root(request) + OAUTH2_REDIRECT_URL,
            init_oauth=app.swagger_ui_init_oauth,
            # no online validator badge: it would load an image from validator.swagger.io
            swagger_ui_parameters={**(app.swagger_ui_parameters or {}), "validatorUrl": None},
        )
    )


@router.get(OAUTH2_REDIRECT_URL)
async def swagger_ui_oauth2_redirect() -> HTMLResponse:
    return guarded(get_swagger_ui_oauth2_redirect_html())


@router.get(REDOC_URL)
async def redoc(request: Request) -> HTMLResponse:
    app = request.app
    return guarded(
        get_redoc_html(
            openapi_url=_root(request) + app.openapi_url,
            title=f"{app.title} - ReDoc",
            redoc_js_url=asset_url(request, "redoc.standalone.js"),
            redoc_favicon_url=asset_url(request, "favicon.png"),
            with_google_fonts=False,
        )
    )


@router.get(ASSETS_URL + "/{name}")
def asset(name: str) -> Response:  # a plain def: FastAPI runs it in a thread, so the first read blocks no request
    """One of the pages' files, from memory after its first read; any other name is 404."""
    if name not in ASSETS:
        return error(404, "not_found", f"no documentation asset {name!r}")
    path, media_type = ASSETS[name]
    return Response(
        _read(path),
        media_type=media_type,
        headers={"Cache-Control": CACHE_CONTROL, "X-Content-Type-Options": "nosniff"},
    )


@router.get(REDOC_LOGO_URL)
def redoc_logo() -> Response:
    """The logo ReDoc's bundle shows at the foot of its menu."""
    path, media_type = ASSETS["logo-mini.svg"]
    return Response(
        _read(path),
        media_type=media_type,
        headers={"Cache-Control": "public, max-age=86400", "X-Content-Type-Options": "nosniff"},
    )


@functools.cache
def _read(path: str) -> bytes:
    return STATIC.joinpath(path).read_bytes()
