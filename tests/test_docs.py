"""The documentation site in a real browser: every page of `_site/html/`, served from 127.0.0.1, opened in Chromium.

The site is (re)built first with the build step of README's docs command (Sphinx rebuilds only
what changed). Debian's Chromium, headless and driven by Playwright as in tests/test_browser.py,
opens each page and a page fails on:

* a JavaScript error (an uncaught exception, or a console message of type `error`);
* a request to any host other than 127.0.0.1 (every request is intercepted; others are recorded
  and aborted, so nothing leaves the machine);
* an image that did not load (`naturalWidth == 0` once the browser has tried to decode it);
* math left as TeX: a math element that MathJax did not typeset, or TeX (`\\(`, `$$`, `$x_i$`,
  `\\frac`, …) in the page's text outside code and rendered math;
* a broken internal link: an `<a href>` to this site whose file does not exist, or whose `#anchor`
  names no element of the target page.

`test_the_checks_catch_a_broken_page` runs the same checks on a small page made broken on
purpose, so each check is known to fail when it should. Screenshots of the front page and of a
tutorial stay in `_runs/docs/` (git-ignored).

Skips where the docs extras (`pip install -e ".[dev,docs]" -c constraints.txt`), Playwright or
`/usr/bin/chromium` (`apt-get install chromium`) are missing, except under CI (`CI=true`), which
installs all three: there the tests run and fail.
"""
import functools
import html.parser
import importlib.util
import os
import re
import subprocess
import sys
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit

import pytest

ROOT = Path(__file__).resolve().parents[1]
SITE = ROOT / "_site" / "html"
SHOTS = ROOT / "_runs" / "docs"
from conftest import CHROMIUM
BUILD_ARGS = ["-W", "--keep-going", "-c", "docs", "-d", "_site/doctrees", ".", "_site/html"]  # README's sphinx-build
DOCS_PACKAGES = ("sphinx", "myst_nb", "furo", "sphinx-mathjax-offline")
FRONT_PAGE, TUTORIAL = "nbs/index.html", "tutorials/01_why_residual_levels.html"


def test_readme_builds_the_site_as_this_test_does():
    "README's docs command installs the docs extras and ends with the sphinx-build this test runs."
    text = (ROOT / "README.md").read_text()
    m = re.search(r"^<!-- docs-command -->\n```bash\n(.+)\n```$", text, flags=re.M)
    assert m, "README has no ```bash block right after <!-- docs-command -->"
    assert '.[dev,docs]' in m[1], m[1]
    assert m[1].split("&&")[-1].split() == ["sphinx-build", *BUILD_ARGS], m[1]


ON_CI = os.environ.get("CI", "").lower() in ("1", "true")  # .ci/run: never skip
missing = [p for p in DOCS_PACKAGES if importlib.util.find_spec(p) is None]
needs_docs = pytest.mark.skipif(bool(missing) and not ON_CI, reason=f"the docs extras are not installed ({', '.join(missing)} "
                                "missing): pip install -e '.[dev,docs]' -c constraints.txt")
needs_browser = pytest.mark.skipif((not CHROMIUM.exists() or importlib.util.find_spec("playwright") is None) and not ON_CI,
                                   reason=f"{CHROMIUM} or the playwright package is missing "
                                          "(apt-get install -y chromium; pip install -e '.[dev]')")


@pytest.fixture(scope="module")
def site():
    "`_site/html/`, built (or brought up to date) by sphinx-build as README's docs command runs it."
    run = subprocess.run([sys.executable, "-m", "sphinx", *BUILD_ARGS], cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 0, f"sphinx-build failed:\n{run.stdout[-3000:]}\n{run.stderr[-6000:]}"
    return SITE


def serve(folder: Path):
    "Serve `folder` over HTTP on 127.0.0.1 from a thread: `(base_url, server)`; `server.shutdown()` stops it."
    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *args): pass
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(folder)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}/", server



class _Ids(html.parser.HTMLParser):
    "The `id`s (and `<a name>`s) of an HTML file: the anchors a link may name."
    def __init__(self):
        super().__init__()
        self.ids = set()

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.ids |= {a[k] for k in ("id", "name") if a.get(k) and (k == "id" or tag == "a")}


@functools.cache
def anchors(path: Path) -> frozenset[str]:
    p = _Ids()
    p.feed(path.read_text(encoding="utf-8", errors="replace"))
    return frozenset(p.ids)


def link_target(folder: Path, base: str, href: str) -> str | None:
    "Why the link `href` (absolute, as the browser resolved it) to a page of `folder` served at `base` is broken, else None."
    if not href.startswith(base): return None  # another site (a link, not a request): not checked
    parts = urlsplit(href)
    path = folder / unquote(parts.path[len(urlsplit(base).path):])
    if path.is_dir(): path = path / "index.html"
    if not path.is_file(): return f"no file {path.relative_to(folder)}"
    frag = unquote(parts.fragment)
    if frag and path.suffix == ".html" and frag not in anchors(path):
        return f"no #{frag} in {path.relative_to(folder)}"
    return None


# TeX that should have been typeset: \( \[ $$, $…$ holding \ ^ or _, or a common command
RAW_TEX = r"""/\\[(\[]|\$\$|\$[^$\n]*[\\^_][^$\n]*\$|\\(frac|sum|prod|math[a-z]+|text|[lc]?dots|cdot|times|top|leq?|geq?|in|sqrt|left|right|begin|end|alpha|beta|gamma|delta|lambda|sigma|mu|ell|log)(?![a-z])/"""

# Run in the page once it has loaded: wait for MathJax, let every image decode, then report what is wrong.
PAGE_REPORT_JS = """async () => {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) await MathJax.startup.promise;
  const imgs = [...document.images];
  await Promise.all(imgs.map(i => { i.loading = 'eager'; return i.decode().catch(() => null); }));
  const skip = 'mjx-container, pre, code, script, style, textarea, .highlight';
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const tex = [];
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    if (n.parentElement && n.parentElement.closest(skip)) continue;
    const m = n.textContent.match(RAW_TEX);
    if (m) tex.push(n.textContent.trim().slice(0, 120));
  }
  return {
    broken_images: imgs.filter(i => !i.complete || i.naturalWidth === 0).map(i => i.getAttribute('src').slice(0, 120)),
    untypeset_math: [...document.querySelectorAll('.math')].filter(e => !e.querySelector('mjx-container'))
                    .map(e => e.textContent.slice(0, 120)),
    raw_tex: tex,
    math: document.querySelectorAll('mjx-container').length,
    images: imgs.length,
    hrefs: [...document.querySelectorAll('a[href]')].map(a => a.href),
  };
}""".replace("RAW_TEX", RAW_TEX)


def check_page(context, folder: Path, base: str, rel: str, screenshot: Path | None = None) -> tuple[list[str], dict]:
    "Open page `rel` of `folder` (served at `base`) in a new tab: (the failures found, the page's report)."
    page, failures = context.new_page(), []
    page.on("pageerror", lambda e: failures.append(f"JavaScript error: {e}"))
    page.on("console", lambda m: m.type == "error" and failures.append(f"console error: {m.text}"))
    redirect = re.search(r'http-equiv="refresh" content="\d+; *url=([^"]+)"', (folder / rel).read_text(errors="replace"))
    try:
        response = page.goto(base + rel, wait_until="load")
        if response is None or not response.ok:
            return [f"HTTP {response.status if response else 'no response'}"], {}
        if redirect:  # a page that sends the browser on (the site's index.html): check where it lands
            if why := link_target(folder, base, urljoin(base + rel, redirect[1])):
                return [f"redirects to a missing page: {why}"], {}
            page.wait_for_url(urljoin(base + rel, redirect[1]), wait_until="load")
        report = page.evaluate(PAGE_REPORT_JS)
        if screenshot: page.screenshot(path=str(screenshot), full_page=True)
    finally:
        page.close()
    failures += [f"image did not load: {s}" for s in report["broken_images"]]
    failures += [f"math not typeset: {s}" for s in report["untypeset_math"]]
    failures += [f"raw TeX in the text: {s}" for s in report["raw_tex"]]
    failures += [f"broken link {h}: {why}" for h in sorted(set(report["hrefs"]))
                 if (why := link_target(folder, base, h.split("?")[0]))]
    return failures, report


def check_site(browser, folder: Path, pages: list[str], shots: dict[str, Path] | None = None) -> tuple[dict, dict]:
    "Every page of `folder` checked in `browser`: ({page: failures}, {page: report}); requests to other hosts fail the page."
    base, server = serve(folder)
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    current, outside = [None], {}

    def only_here(route):  # every request: 127.0.0.1 goes on, anything else is recorded and aborted
        url = route.request.url
        if urlsplit(url).hostname == "127.0.0.1" or url.startswith(("data:", "blob:", "about:")): return route.continue_()
        outside.setdefault(current[0], []).append(f"request to another host: {url[:160]}")
        route.abort()

    context.route("**/*", only_here)
    failures, reports = {}, {}
    try:
        for rel in pages:
            current[0] = rel
            found, reports[rel] = check_page(context, folder, base, rel, (shots or {}).get(rel))
            found += outside.pop(rel, [])
            if found: failures[rel] = found
    finally:
        context.close()
        server.shutdown()
        server.server_close()
    return failures, reports


def site_pages(folder: Path) -> list[str]:
    "Every HTML page of the site, as paths relative to its root."
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*.html") if "_static" not in p.parts)


@needs_docs
def test_every_notebook_and_module_has_its_page(site):
    "A page for each notebook of nbs/ and tutorials/, an API page for each module, listing its exports."
    pages = set(site_pages(site))
    notebooks = [p for folder in ("nbs", "tutorials") for p in sorted((ROOT / folder).glob("*.ipynb"))
                 if not p.name.startswith("_")]
    assert {f"{p.parent.name}/{p.stem}.html" for p in notebooks} <= pages
    assert "index.html" in pages and FRONT_PAGE in pages and "docs/api/index.html" in pages
    for py in sorted((ROOT / "restok_nb").glob("[!_]*.py")):
        module = importlib.import_module(f"restok_nb.{py.stem}")
        ids = anchors(site / "docs" / "api" / f"{py.stem}.html")
        undocumented = [n for n in module.__all__ if f"restok_nb.{py.stem}.{n}" not in ids]
        assert not undocumented, f"docs/api/{py.stem}.html does not document {undocumented}"


@needs_docs
def test_module_notebooks_are_shown_executed(site):
    "nbs/ notebooks are executed at build time: every code cell that is to run ran (myst-nb keeps the executed copy)."
    import nbformat
    for p in sorted((ROOT / "nbs").glob("[0-9]*.ipynb")):
        nb = nbformat.read(site.parent / "jupyter_execute" / "nbs" / p.name, as_version=4)
        not_run = [c.source[:60] for c in nb.cells if c.cell_type == "code" and c.source.strip()
                   and c.execution_count is None and "skip-execution" not in c.metadata.get("tags", [])]
        assert not not_run, f"nbs/{p.name}: cells not executed: {not_run}"
    assert len(re.findall(r'<img [^>]*src="[^"]*\.png"', (site / "nbs" / "00_levels.html").read_text())) >= 2


@needs_docs
@needs_browser
def test_every_page_in_chromium(site, browser):
    SHOTS.mkdir(parents=True, exist_ok=True)
    pages = site_pages(site)
    shots = {FRONT_PAGE: SHOTS / "front_page.png", TUTORIAL: SHOTS / "tutorial.png"}
    failures, reports = check_site(browser, site, pages, shots)
    report = "\n".join(f"{page}:\n  " + "\n  ".join(f[:20]) for page, f in failures.items())
    assert not failures, f"{len(failures)} of {len(pages)} pages fail in Chromium:\n{report}"
    assert reports[FRONT_PAGE]["hrefs"], "the front page links nowhere"
    assert sum(r["math"] for r in reports.values()) > 0, "no page has typeset math"
    assert all(p.stat().st_size > 0 for p in shots.values())


BROKEN_PAGE = """<!DOCTYPE html><html><head><meta charset="utf-8">
<script>window.MathJax = {tex: {inlineMath: [['\\\\(', '\\\\)']]}};</script>
<script defer src="mathjax/tex-chtml.js"></script></head><body>
<p>Rendered: <span class="math">\\(x^2\\)</span></p>
<p>Left as TeX: $P_i = 2^i$</p>
<img src="missing.png" alt="broken"><img src="http://example.invalid/picture.png" alt="outside">
<a href="other.html#nowhere">anchor</a> <a href="gone.html">file</a> <a href="other.html#here">fine</a>
<script>undefined_function()</script></body></html>"""


@needs_browser
def test_the_checks_catch_a_broken_page(tmp_path, browser):
    "A page with each fault is reported for each; a good page beside it is not."
    mathjax = Path(importlib.util.find_spec("sphinx-mathjax-offline").origin).parent / "static" / "mathjax" \
        if importlib.util.find_spec("sphinx-mathjax-offline") else None
    if mathjax is not None: (tmp_path / "mathjax").symlink_to(mathjax)
    (tmp_path / "broken.html").write_text(BROKEN_PAGE)
    (tmp_path / "other.html").write_text('<!DOCTYPE html><html><body><h1 id="here">ok</h1></body></html>')
    failures, reports = check_site(browser, tmp_path, ["broken.html", "other.html"])
    found = "\n".join(failures["broken.html"])
    assert "other.html" not in failures
    for expected in ("JavaScript error: ", "image did not load: missing.png", "raw TeX in the text: Left as TeX",
                     "request to another host: http://example.invalid/picture.png",
                     "broken link", "no #nowhere in other.html", "no file gone.html"):
        assert expected in found, f"{expected!r} not reported:\n{found}"
    if mathjax is not None:
        assert reports["broken.html"]["math"] == 1 and "math not typeset" not in found
    (tmp_path / "mathjax").unlink(missing_ok=True)
    check = (tmp_path / "broken.html").read_text().replace('<script defer src="mathjax/tex-chtml.js"></script>', "")
    (tmp_path / "broken.html").write_text(check)
    assert "math not typeset: \\(x^2\\)" in "\n".join(check_site(browser, tmp_path, ["broken.html"])[0]["broken.html"])
