"""The documentation site in a real browser, with no network.

Headless Chromium, driven by selenium through the chromedriver of the system
(never one downloaded at test time), opens every page of the site built by
tests/test_docs.py, served from 127.0.0.1. Every other host is unreachable:
its name resolves to nothing (``--host-resolver-rules``) and any other
address goes to a proxy that does not exist. Each page must show:

* no TeX source: every formula is MathML, drawn by the browser;
* no request to another host, as recorded by the DevTools network log;
* no error in the console (a missing file, a failed script);
* nothing that runs off the right edge: the page does not scroll sideways,
  on a desktop screen or a phone, and on a desktop screen no code block,
  table or formula of the main column needs a scroll bar.

Screenshots of a few pages go to ``tests/artifacts/screenshots/`` (not in
git), for a person to look at: whole pages at desktop width and the top of
each at phone width.

Chromium and chromedriver come from the system: on Debian or Ubuntu,
``apt-get install chromium chromium-driver`` (.ci/run does it). Elsewhere,
point ``LOSSBOUNDS_CHROMIUM`` and ``LOSSBOUNDS_CHROMEDRIVER`` at a Chromium
or Chrome and its matching chromedriver. Without them this test fails, it is
not skipped.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import http.server
import json
import os
import re
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from test_docs import build_site

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
SCREENSHOTS = ROOT / "tests" / "artifacts" / "screenshots"
DESKTOP = (1280, 900)
PHONE = (390, 844)
FULL_PAGE_LIMIT = 8000  # px: a longer page is shot down to here
INSTALL = (
    "The browser test needs Chromium and chromedriver: on Debian or Ubuntu "
    "`apt-get install chromium chromium-driver` (.ci/run installs them); elsewhere set "
    "LOSSBOUNDS_CHROMIUM and LOSSBOUNDS_CHROMEDRIVER to a Chromium or Chrome and its chromedriver."
)
# Pages shot for a person to look at (URL path -> file name).
SHOTS = {
    "": "home",
    "how-high/": "how-high",
    "losses/bce/": "loss-bce",
    "reading-logs/": "reading-logs",
    "notebooks/": "notebooks",
    "notebooks/02-how-high-can-loss-go/": "notebook-02",
    "reference/bounds/": "api-bounds",
    "reference/cli/": "cli",
    "performance/": "performance",
}


def _url_path(source: Path) -> str:
    """Where mkdocs puts a page (``use_directory_urls``): docs/a/b.md -> a/b/."""
    if source.suffix == ".ipynb":
        return f"notebooks/{source.stem}/"
    relative = source.relative_to(DOCS).with_suffix("")
    if relative.name == "index":
        parent = relative.parent.as_posix()
        return "" if parent == "." else f"{parent}/"
    return f"{relative.as_posix()}/"


def _sources() -> list[Path]:
    pages = [p for p in DOCS.rglob("*.md") if "_ext" not in p.parts]
    return sorted(pages) + sorted((ROOT / "notebooks").glob("*.ipynb"))


PAGES = [_url_path(source) for source in _sources()]


def _program(variable: str, *names: str) -> str | None:
    if os.environ.get(variable):
        return os.environ[variable]
    return next((found for name in names if (found := shutil.which(name))), None)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - the signature of the base class
        pass


@contextlib.contextmanager
def _serve(directory: Path) -> Iterator[str]:
    """Serve `directory` on 127.0.0.1 while in the block; its URL."""
    handler = functools.partial(_QuietHandler, directory=str(directory))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    site = build_site(tmp_path_factory)
    with _serve(site) as origin:
        yield site, origin


@pytest.fixture(scope="module")
def browser():
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.fail('The browser test needs selenium: python -m pip install -e ".[test]"')
    chromium = _program("LOSSBOUNDS_CHROMIUM", "chromium", "chromium-browser", "google-chrome")
    chromedriver = _program("LOSSBOUNDS_CHROMEDRIVER", "chromedriver")
    if chromium is None or chromedriver is None:
        missing = " and ".join(name for name, path in [("Chromium", chromium), ("chromedriver", chromedriver)]
                               if path is None)
        pytest.fail(f"{missing} not found. {INSTALL}")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in [
        "--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
        f"--window-size={DESKTOP[0]},{DESKTOP[1]}", "--hide-scrollbars", "--force-device-scale-factor=1",
        # No network but this machine: names resolve to nothing, addresses go to a dead proxy.
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
        "--proxy-server=http://127.0.0.1:9", "--proxy-bypass-list=127.0.0.1",
        # Nothing of Chromium's own in the background either.
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--disable-default-apps", "--no-first-run", "--no-default-browser-check",
        "--disable-features=Translate,OptimizationHints,MediaRouter",
        "--lang=en-US",
    ]:
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    try:
        driver = webdriver.Chrome(service=Service(executable_path=chromedriver), options=options)
    except Exception as error:  # selenium wraps every start-up failure
        pytest.fail(f"Chromium did not start ({chromium}, {chromedriver}): {error}\n{INSTALL}")
    driver.set_page_load_timeout(60)
    driver.execute_cdp_cmd("Network.enable", {})
    yield driver
    driver.quit()


# Visible text of the page outside code, with the element it is in.
_VISIBLE_TEXT = """
const skip = "pre, code, script, style, noscript, textarea, annotation, template";
const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
const out = [];
for (let node = walker.nextNode(); node; node = walker.nextNode()) {
  const element = node.parentElement;
  if (!element || element.closest(skip) || !node.textContent.trim()) continue;
  if (!element.getClientRects().length) continue;  // not displayed
  const style = getComputedStyle(element);
  if (style.visibility === "hidden") continue;
  out.push([element.tagName.toLowerCase(), node.textContent]);
}
return out;
"""

# What runs off the right edge, at the current width.
_OVERFLOW = """
const [checkBoxes] = arguments;
const root = document.documentElement;
const main = document.querySelector(".md-content");
const problems = [];
const name = (e) => e.tagName.toLowerCase() + (e.className && typeof e.className === "string"
  ? "." + e.className.trim().split(/\\s+/).join(".") : "");
if (root.scrollWidth > root.clientWidth + 1)
  problems.push(`the page scrolls sideways: ${root.scrollWidth}px wide in a ${root.clientWidth}px window`);
if (main && main.scrollWidth > main.clientWidth + 1)
  problems.push(`the main column overflows: ${main.scrollWidth}px of content in ${main.clientWidth}px`);
if (main) {
  const right = main.getBoundingClientRect().right;
  for (const e of main.querySelectorAll("*")) {
    const box = e.getBoundingClientRect();
    if (box.width && box.right > right + 1 && !e.closest("pre, .md-typeset__scrollwrap, .arithmatex, .jp-OutputArea-output")) {
      problems.push(`${name(e)} ends ${Math.round(box.right - right)}px right of the main column`);
      break;
    }
  }
  if (checkBoxes) {
    for (const e of main.querySelectorAll("*")) {
      const style = getComputedStyle(e);
      const scrolls = ["auto", "scroll", "hidden", "clip"].includes(style.overflowX);
      if (scrolls && e.clientWidth > 0 && e.scrollWidth > e.clientWidth + 1) {
        const text = (e.innerText || "").trim().split("\\n")[0].slice(0, 60);
        problems.push(`${name(e)} needs a sideways scroll bar (${e.scrollWidth}px in ${e.clientWidth}px): "${text}"`);
      }
    }
  }
}
return problems;
"""

_MATH = """
const missing = [...document.querySelectorAll(".arithmatex")].filter((e) => !e.querySelector("math"));
const empty = [...document.querySelectorAll(".arithmatex math")].filter((m) => {
  const box = m.getBoundingClientRect();
  return m.getClientRects().length && (box.width < 1 || box.height < 1);
});
return [missing.length, empty.length, document.querySelectorAll(".arithmatex math").length];
"""

# TeX left in visible text: \command, \( \) \[ \], ^{...} or _{...}, $$.
_TEX = re.compile(r"\\[A-Za-z]{2,}|\\[()\[\]{}]|[_^]\{|\$\$")


def _drain(driver, kind: str) -> list:
    return driver.get_log(kind)


def _requests(entries: list) -> list[str]:
    urls = []
    for entry in entries:
        message = json.loads(entry["message"])["message"]
        if message.get("method") == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
        elif message.get("method") == "Network.webSocketCreated":
            urls.append(message["params"]["url"])
    return urls


def _foreign(url: str, origin: str) -> bool:
    parts = urlsplit(url)
    if parts.scheme in {"data", "blob", "about"}:
        return False
    return not url.startswith(origin)


def _resize(driver, size: tuple[int, int], mobile: bool) -> None:
    width, height = size
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
        "width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile,
    })


def _screenshot(driver, path: Path, full: bool) -> None:
    clip = None
    if full:
        metrics = driver.execute_cdp_cmd("Page.getLayoutMetrics", {})
        size = metrics["cssContentSize"]
        clip = {"x": 0, "y": 0, "width": size["width"], "height": min(size["height"], FULL_PAGE_LIMIT),
                "scale": 1}
    options = {"format": "png", "captureBeyondViewport": full}
    if clip:
        options["clip"] = clip
    data = driver.execute_cdp_cmd("Page.captureScreenshot", options)["data"]
    path.write_bytes(base64.b64decode(data))


def test_every_built_page_is_checked(server):
    site, _ = server
    built = sorted(
        "" if p.parent == site else p.parent.relative_to(site).as_posix() + "/"
        for p in site.rglob("index.html")
        if p.relative_to(site).parts[0] not in {"assets", "search"}
    )
    assert set(built) == set(PAGES), f"pages built but not checked, or checked but not built: {set(built) ^ set(PAGES)}"


def _check(browser, origin: str, path: str, shot: str | None = None) -> list[str]:
    """What is wrong with one page, in sentences; screenshots named `shot`, if given."""
    _drain(browser, "performance")
    _drain(browser, "browser")
    _resize(browser, DESKTOP, mobile=False)
    browser.get(origin + path)
    browser.execute_async_script("document.fonts.ready.then(() => arguments[arguments.length - 1]())")
    problems: list[str] = []

    title = browser.title
    if not title or "404" in title:
        problems.append(f"not a page: title {title!r}")

    for tag, text in browser.execute_script(_VISIBLE_TEXT):
        for match in _TEX.finditer(text):
            start = max(0, match.start() - 30)
            problems.append(f"TeX source shown in <{tag}>: {text[start:match.end() + 30].strip()!r}")
    missing, empty, count = browser.execute_script(_MATH)
    if missing:
        problems.append(f"{missing} formulas were not turned into MathML")
    if empty:
        problems.append(f"{empty} of {count} formulas are drawn with no size")

    problems += [f"desktop: {p}" for p in browser.execute_script(_OVERFLOW, True)]
    if shot:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        _screenshot(browser, SCREENSHOTS / f"{shot}.png", full=True)

    _resize(browser, PHONE, mobile=True)
    browser.execute_script("return document.body.offsetWidth")  # lay the page out again
    problems += [f"phone: {p}" for p in browser.execute_script(_OVERFLOW, False)]
    if shot:
        _screenshot(browser, SCREENSHOTS / f"{shot}-phone.png", full=False)
    _resize(browser, DESKTOP, mobile=False)

    for url in _requests(_drain(browser, "performance")):
        if _foreign(url, origin):
            problems.append(f"asked another host: {url}")
    for entry in _drain(browser, "browser"):
        if entry["level"] == "SEVERE":
            problems.append(f"console error: {entry['message']}")
    return problems


@pytest.mark.parametrize("path", PAGES, ids=lambda p: p.rstrip("/") or "home")
def test_page_in_a_browser_without_network(server, browser, path, capsys):
    _, origin = server
    shot = SHOTS.get(path)
    problems = _check(browser, origin, path, shot)
    if shot:
        with capsys.disabled():
            print(f"\n  screenshots: {SCREENSHOTS / shot}.png, {shot}-phone.png", end="")
    assert not problems, f"{origin}{path}:\n  " + "\n  ".join(problems)


# Everything the checks look for, on one page.
_BROKEN_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>broken</title>
<link rel="icon" href="data:,">
<script src="https://cdn.example.org/mathjax.js"></script>
<link rel="stylesheet" href="http://192.0.2.1/fonts.css">
</head><body><div class="md-content">
<p>The loss \\(-\\ln \\epsilon\\) <span class="arithmatex">\\(x\\)</span></p>
<pre style="overflow: auto; width: 100px">a line of code far too long for its box</pre>
<div style="width: 3000px">wide</div>
</div></body></html>
"""


def test_the_checks_catch_what_they_look_for(browser, tmp_path):
    (tmp_path / "index.html").write_text(_BROKEN_PAGE, encoding="utf-8")
    with _serve(tmp_path) as origin:
        problems = "\n".join(_check(browser, origin, ""))
    for expected in [
        "asked another host: https://cdn.example.org/mathjax.js",
        "asked another host: http://192.0.2.1/fonts.css",
        "console error: https://cdn.example.org/mathjax.js - Failed to load resource",
        "TeX source shown in <p>: 'The loss \\\\(-\\\\ln",
        "1 formulas were not turned into MathML",
        "desktop: pre needs a sideways scroll bar",
        "desktop: the page scrolls sideways",
        "phone: the main column overflows",
    ]:
        assert expected in problems, f"{expected!r} not in:\n{problems}"
