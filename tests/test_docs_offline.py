"""The API docs, Swagger UI at /docs and ReDoc at /redoc, with nothing from the Internet: the
pages name only this server's files, each file is served with its type, and in a real browser
(headless Chromium through chromedriver, as the big screen's test) each page draws every
operation of the OpenAPI document while asking no other host for anything."""

from __future__ import annotations

import re

import pytest
from browser import assert_not_blank, chromium, outside, refused_by_policy, requested, screenshot, wait_for
from fastapi.testclient import TestClient

from api.main import create_app
from api.routes import docs
from api.settings import Settings

KEYS = "miniapp=mini-0123456789abcdef checkout; erp=erp-0123456789abcdef0 backend"
PAGES = ("/docs", "/redoc")
TYPES = {".js": "text/javascript", ".css": "text/css", ".png": "image/png", ".svg": "image/svg+xml"}
ABSOLUTE_URL = re.compile(r"(?:https?:)?//[^\s\"'<>()]+")
REFERENCE = re.compile(r"""(?:\b(?:src|href|spec-url)="([^"]*)"|\burl: '([^']*)')""")


@pytest.fixture(scope="module")
def api():
    """The app in-process, without its lifespan: the docs need no Redis."""
    return TestClient(create_app(Settings(access_log=False)))


def references(html: str) -> list[str]:
    """Every URL a page loads or points its viewer at: src, href, ReDoc's spec-url, Swagger UI's url."""
    return [a or b for a, b in REFERENCE.findall(html)]


@pytest.mark.parametrize("page", PAGES)
def test_the_pages_name_only_this_servers_files(api, page):
    answer = api.get(page)
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/html")
    html = answer.text
    assert ABSOLUTE_URL.findall(html) == []  # no fonts.googleapis.com, no cdn.jsdelivr.net, no fastapi.tiangolo.com
    found = references(html)
    assert "/openapi.json" in found
    assert all(url.startswith("/") and not url.startswith("//") for url in found), found
    for url in found:
        got = api.get(url)
        assert got.status_code == 200, url
        path = url.split("?")[0]
        expected = "application/json" if path == "/openapi.json" else TYPES[path[path.rindex(".") :]]
        assert got.headers["content-type"].split(";")[0] == expected, url
        assert len(got.content) > 500, url


def test_each_page_loads_its_own_library_and_no_validator_badge(api):
    swagger = api.get("/docs").text
    assert f"/docs/assets/swagger-ui-bundle.js?v={docs.VERSION}" in references(swagger)
    assert f"/docs/assets/swagger-ui.css?v={docs.VERSION}" in references(swagger)
    assert '"validatorUrl": null' in swagger  # Swagger UI's badge would fetch an image from validator.swagger.io
    assert f"/docs/assets/redoc.standalone.js?v={docs.VERSION}" in references(api.get("/redoc").text)
    assert api.get("/docs/oauth2-redirect").status_code == 200


def test_every_file_is_served_with_its_type_and_kept_by_browsers(api):
    for name, (_, media_type) in docs.ASSETS.items():
        got = api.get(f"/docs/assets/{name}?v={docs.VERSION}")
        assert got.status_code == 200, name
        assert got.headers["content-type"].split(";")[0] == media_type, name
        assert "immutable" in got.headers["cache-control"], name
    assert b"SwaggerUIBundle" in api.get("/docs/assets/swagger-ui-bundle.js").content
    redoc = api.get("/docs/assets/redoc.standalone.js").content
    assert b"Redoc" in redoc and b"cdn.redoc.ly" not in redoc  # its menu's logo comes from beside the page
    logo = api.get("/redoc/logo-mini.svg")
    assert logo.status_code == 200 and logo.headers["content-type"] == "image/svg+xml"


@pytest.mark.parametrize(
    "path", ["/docs/assets/index.html", "/docs/assets/LICENSE", "/docs/assets/..%2F..%2Fapi%2Fmain.py", "/docs/assets/"]
)
def test_nothing_but_the_listed_files_is_served(api, path):
    got = api.get(path)
    assert got.status_code == 404 and got.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize("page", ["/docs", "/redoc", "/docs/oauth2-redirect", "/dashboard"])
def test_every_page_loads_from_this_server_only_and_cannot_be_framed(api, page):
    headers = api.get(page).headers
    policy = dict(part.strip().split(" ", 1) for part in headers["content-security-policy"].split(";"))
    assert policy["default-src"] == policy["connect-src"] == "'self'"
    assert (policy["frame-ancestors"], policy["object-src"], policy["base-uri"]) == ("'none'", "'none'", "'none'")
    assert (headers["x-frame-options"], headers["x-content-type-options"]) == ("DENY", "nosniff")


def test_the_docs_routes_stay_out_of_the_openapi_document(api):
    paths = api.get("/openapi.json").json()["paths"]
    assert not [path for path in paths if path.startswith(("/docs", "/redoc"))]
    assert "/v1/eligibility" in paths


def test_with_channel_keys_the_docs_stay_open_and_the_rest_stays_closed():
    """Like the big screen, the docs need no key (they show the document, no member data); the
    member routes still need one, and the admin routes their token, key or no key."""
    api = TestClient(create_app(Settings(access_log=False, api_keys=KEYS)))
    for path in (*PAGES, "/openapi.json", "/dashboard", "/docs/assets/swagger-ui-bundle.js", "/redoc/logo-mini.svg"):
        assert api.get(path).status_code == 200, path
    assert api.post("/v1/eligibility", json={"lines": []}).status_code == 401
    assert api.get("/v1/rules").status_code in (401, 403)
    assert api.get("/v1/rules", headers={"X-Api-Key": "erp-0123456789abcdef0"}).status_code in (401, 403)


# -- in a real browser ------------------------------------------------------------------------


def _spec(base: str) -> dict:
    import httpx

    return httpx.get(f"{base}/openapi.json", timeout=10).json()


def _operations(spec: dict) -> set:
    return {(method.upper(), path) for path, methods in spec["paths"].items() for method in methods}


SWAGGER_OPERATIONS = """
return [...document.querySelectorAll('.opblock')].map(block => [
  block.querySelector('.opblock-summary-method')?.textContent,
  block.querySelector('.opblock-summary-path')?.dataset.path,
]);
"""
REDOC_OPERATIONS = "return document.querySelectorAll('[data-section-id^=\"operation/\"]').length"


@pytest.mark.slow
def test_swagger_ui_draws_every_operation_with_nothing_from_outside(tmp_path, serve):
    base = serve(env={"RIGHTS_API_KEYS": KEYS}).url  # behind channel keys, as deployed
    operations = _operations(_spec(base))

    def shown(b) -> set:  # (method, path) of every operation block on the page
        return {tuple(operation) for operation in b.execute_script(SWAGGER_OPERATIONS)}

    with chromium() as browser:
        browser.get(f"{base}/docs")
        wait_for(browser, lambda b: ("POST", "/v1/eligibility") in shown(b), "Swagger UI's POST /v1/eligibility")
        assert shown(browser) == operations
        title = browser.execute_script("return document.querySelector('.info .title')?.textContent || ''")
        assert title.startswith("rights-engine")
        urls = requested(browser)
        assert outside(urls) == []
        assert any("/docs/assets/swagger-ui-bundle.js" in url for url in urls), urls
        assert_not_blank(screenshot(browser, tmp_path, "docs.png"))
        assert refused_by_policy(browser) == []


@pytest.mark.slow
def test_redoc_draws_every_operation_with_nothing_from_outside(tmp_path, serve):
    base = serve(env={"RIGHTS_API_KEYS": KEYS}).url
    spec = _spec(base)
    eligibility = spec["paths"]["/v1/eligibility"]["post"]["summary"]
    with chromium() as browser:
        browser.get(f"{base}/redoc")
        count = len(_operations(spec))
        wait_for(browser, lambda b: b.execute_script(REDOC_OPERATIONS) == count, f"ReDoc's {count} operations")
        heading = browser.execute_script("return document.querySelector('h1')?.textContent || ''")
        assert heading.startswith("rights-engine")
        headings = browser.execute_script("return [...document.querySelectorAll('h2')].map(h => h.textContent.trim())")
        assert eligibility in headings
        urls = requested(browser)
        assert outside(urls) == []
        assert any("/docs/assets/redoc.standalone.js" in url for url in urls), urls
        assert_not_blank(screenshot(browser, tmp_path, "redoc.png"))
        assert refused_by_policy(browser) == []
