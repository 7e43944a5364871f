"""Headless Chromium through chromedriver for the tests of the server's pages (the big screen,
the API docs): Debian's chromium with its own background traffic off and every host name but
the loopback's left unresolved, so a page gets nothing from outside, and what such a test
checks of what the browser did and showed.

    with chromium() as browser:
        browser.get(f"{base}/docs")
        ...
        assert outside(requested(browser)) == []
        assert_not_blank(screenshot(browser, tmp_path, "docs.png"))
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--window-size=1920,1080",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    # a page asking for any other host fails at once, without a DNS query leaving the machine
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost",
)
LOOPBACK = frozenset(("127.0.0.1", "localhost", "::1"))
LOCAL_SCHEMES = frozenset(("data", "blob", "about"))  # requests that never touch the network


@contextlib.contextmanager
def chromium() -> Iterator[Any]:
    """A headless Chromium (a selenium WebDriver) that logs every request its pages make, quit
    after the block."""
    assert CHROMIUM and DRIVER, "the browser tests need Debian's chromium and chromium-driver (make test installs them)"
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service as DriverService

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    # DevTools' Network events, and the console (where a page's blocked loads are reported)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
    browser = webdriver.Chrome(service=DriverService(DRIVER), options=options)
    try:
        yield browser
    finally:
        browser.quit()


def requested(browser) -> list[str]:
    """Every URL the browser's pages asked for since the last call (DevTools' Network.requestWillBeSent,
    sent before any name is resolved: a request that then failed is listed too)."""
    urls = []
    for entry in browser.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message.get("method") == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    return urls


def refused_by_policy(browser) -> list[str]:
    """The console's reports, since the last call, of anything the page's Content Security
    Policy blocked (a script, style, image, worker or connection the page needed)."""
    return [entry["message"] for entry in browser.get_log("browser") if "Content Security Policy" in entry["message"]]


def wait_for(browser, condition, what: str, timeout: float = 30) -> Any:
    """WebDriverWait's until, failing with `what` and any request the page sent elsewhere (a
    page whose scripts are on a CDN never draws here)."""
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.support.ui import WebDriverWait

    try:
        return WebDriverWait(browser, timeout).until(condition)
    except TimeoutException:
        raise AssertionError(
            f"still waiting for {what} after {timeout:g} s; requests to other hosts: {outside(requested(browser))}"
        ) from None


def outside(urls: list[str]) -> list[str]:
    """Those of `urls` that go to any host but the loopback."""
    return [url for url in urls if urlsplit(url).scheme not in LOCAL_SCHEMES and urlsplit(url).hostname not in LOOPBACK]


# a PNG decoded by the browser itself (no imaging package needed): its size, how many colours it has,
# and the share of its pixels in the commonest one (1.0 for a blank page)
_PIXELS = """
const [png, done] = arguments;
const image = new Image();
image.onerror = () => done(null);
image.onload = () => {
  const canvas = document.createElement("canvas");
  canvas.width = image.width;
  canvas.height = image.height;
  const context = canvas.getContext("2d");
  context.drawImage(image, 0, 0);
  const data = context.getImageData(0, 0, canvas.width, canvas.height).data;
  const counts = new Map();
  for (let i = 0; i < data.length; i += 4) {
    const colour = (data[i] << 16) | (data[i + 1] << 8) | data[i + 2];
    counts.set(colour, (counts.get(colour) || 0) + 1);
  }
  const commonest = Math.max(...counts.values());
  done({width: canvas.width, height: canvas.height, colours: counts.size,
        commonest_share: commonest / (canvas.width * canvas.height)});
};
image.src = "data:image/png;base64," + png;
"""


def screenshot(browser, tmp_path: Path, name: str) -> dict:
    """Saves what the browser shows as `name` (in RIGHTS_SCREENSHOT_DIR, else `tmp_path`), and
    returns its pixel figures: width, height, colours, commonest_share."""
    out = os.environ.get("RIGHTS_SCREENSHOT_DIR", str(tmp_path))
    os.makedirs(out, exist_ok=True)
    png = browser.get_screenshot_as_base64()
    Path(out, name).write_bytes(base64.b64decode(png))
    figures = browser.execute_async_script(_PIXELS, png)
    assert figures, f"the browser could not read back its screenshot {name}"
    figures["path"] = str(Path(out, name))
    return figures


def assert_not_blank(figures: dict) -> None:
    """A page that drew something: text and shapes in many colours, not one colour nearly everywhere."""
    assert figures["width"] > 0 and figures["height"] > 0, figures
    assert figures["colours"] >= 16, f"the screenshot is nearly blank: {figures}"
    assert figures["commonest_share"] < 0.97, f"the screenshot is nearly one colour: {figures}"
